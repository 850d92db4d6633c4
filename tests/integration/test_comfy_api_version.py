"""The nodes' V3 API: the first comfy_api version (v0_0_2, then latest) offering every piece the nodes
use. v0_0_2 is not frozen (it re-exports latest), so the check, not the version, is what guards them."""
from __future__ import annotations

import sys
import types

import pytest


@pytest.fixture
def comfy_api(comfy):
    from rewind.comfy_glue import api as comfy_api

    return comfy_api


def test_the_preferred_version_is_picked_and_is_latest_s_api(comfy_api):
    """As upstream ships it (0.3.52 to current): v0_0_2 is latest's io, so it pins nothing."""
    import comfy_api.latest as latest

    assert comfy_api.API_VERSION == comfy_api.VERSIONS[0] != "latest"
    assert comfy_api.io is latest.io and comfy_api.ComfyExtension is latest.ComfyExtension
    assert comfy_api.missing_pieces(latest) == []


def without(api: types.ModuleType, piece: str) -> types.SimpleNamespace:
    """`api` with `io.<piece>` gone (a piece is one or two levels deep), as a ComfyUI that dropped it would ship it."""
    io = types.SimpleNamespace(**vars(api.io))
    owner_name, _, name = piece.rpartition(".")
    if owner_name:
        owner = getattr(io, owner_name)
        setattr(io, owner_name, types.SimpleNamespace(**{k: getattr(owner, k) for k in dir(owner) if k != name}))
    else:
        delattr(io, name)
    return types.SimpleNamespace(__name__=api.__name__, io=io, ComfyExtension=api.ComfyExtension)


def test_a_version_lacking_a_piece_gives_way_to_the_next_and_none_complete_is_named(comfy_api, monkeypatch):
    import comfy_api.latest as latest

    monkeypatch.setitem(sys.modules, "comfy_api.v0_0_2", without(latest, "Custom"))
    assert comfy_api.load_api() is latest
    monkeypatch.setitem(sys.modules, "comfy_api.latest", without(latest, "Hidden.prompt"))
    with pytest.raises(ImportError, match=r"comfy_api.v0_0_2 lacks io.Custom; comfy_api.latest lacks io.Hidden.prompt\)"):
        comfy_api.load_api()


def test_a_comfyui_without_the_preferred_version_gets_latest(comfy_api, monkeypatch):
    monkeypatch.setitem(sys.modules, "comfy_api.v0_0_2", None)  # as if this ComfyUI did not ship it
    assert comfy_api.load_api().__name__ == "comfy_api.latest"


def test_a_broken_preferred_version_is_not_masked_by_the_fallback(comfy_api, monkeypatch):
    monkeypatch.setitem(sys.modules, "comfy_api.internal.async_to_sync", None)  # v0_0_2 imports it
    monkeypatch.delitem(sys.modules, "comfy_api.v0_0_2")
    with pytest.raises(ModuleNotFoundError) as error:
        comfy_api.load_api()
    assert error.value.name == "comfy_api.internal.async_to_sync"


def test_a_comfyui_with_none_of_the_versions_is_told_to_update(comfy_api, monkeypatch):
    for version in comfy_api.VERSIONS:
        monkeypatch.setitem(sys.modules, f"comfy_api.{version}", None)
    with pytest.raises(ImportError, match=r"\(no comfy_api.v0_0_2; no comfy_api.latest\)\. Update ComfyUI to 0.3.52"):
        comfy_api.load_api()
