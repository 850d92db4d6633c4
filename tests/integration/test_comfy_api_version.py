"""The nodes use a pinned comfy_api version where ComfyUI ships one and fall back to `latest`."""
from __future__ import annotations

import sys

import pytest



@pytest.fixture
def comfy_api(comfy):
    from rewind.comfy_glue import api as comfy_api

    return comfy_api


def test_the_pinned_version_is_picked_on_the_comfyui_under_test(comfy_api):
    import comfy_api.latest as latest

    assert comfy_api.API_VERSION == comfy_api.VERSIONS[0] != "latest"
    assert comfy_api.io is latest.io and comfy_api.ComfyExtension is latest.ComfyExtension


def test_a_comfyui_without_the_pinned_version_gets_latest(comfy_api, monkeypatch):
    monkeypatch.setitem(sys.modules, "comfy_api.v0_0_2", None)  # as if this ComfyUI did not ship it
    assert comfy_api.load_api().__name__ == "comfy_api.latest"


def test_a_broken_pinned_version_is_not_masked_by_the_fallback(comfy_api, monkeypatch):
    monkeypatch.setitem(sys.modules, "comfy_api.internal.async_to_sync", None)  # v0_0_2 imports it
    monkeypatch.delitem(sys.modules, "comfy_api.v0_0_2")
    with pytest.raises(ModuleNotFoundError) as error:
        comfy_api.load_api()
    assert error.value.name == "comfy_api.internal.async_to_sync"


def test_a_comfyui_with_none_of_the_versions_is_told_to_update(comfy_api, monkeypatch):
    for version in comfy_api.VERSIONS:
        monkeypatch.setitem(sys.modules, f"comfy_api.{version}", None)
    with pytest.raises(ImportError, match=r"none of comfy_api \['v0_0_2', 'latest'\]; update ComfyUI to 0.3.52"):
        comfy_api.load_api()
