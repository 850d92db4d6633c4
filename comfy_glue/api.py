"""The one place the pack imports ComfyUI's V3 node API from.

A pinned ``comfy_api`` version keeps the nodes' contract stable while ``latest`` moves under them.
``v0_0_2`` is the newest version in every ComfyUI the pack is tested on (0.3.52, 0.3.64 and 0.3.75
ship ``v0_0_1`` and ``v0_0_2``; upstream adds ``v0_0_3``); ``latest`` is the fallback for a ComfyUI
that drops it.
"""
from __future__ import annotations

import importlib
from types import ModuleType

VERSIONS = ("v0_0_2", "latest")  # preferred first


def load_api(versions: tuple[str, ...] = VERSIONS) -> ModuleType:
    """The first of ``versions`` this ComfyUI ships; any other import error is a real failure."""
    for version in versions:
        try:
            return importlib.import_module(f"comfy_api.{version}")
        except ModuleNotFoundError as error:
            if error.name != f"comfy_api.{version}":
                raise
    raise ImportError(f"Rewind: this ComfyUI has none of comfy_api {list(versions)}; update ComfyUI to 0.3.52 or later")


api = load_api()
API_VERSION = api.__name__.rpartition(".")[2]
io = api.io
ComfyExtension = api.ComfyExtension
