"""The ``/object_info`` the workflows are built and validated against.

Rewind's schemas come from the live node classes (ComfyUI's own V3 → object_info conversion), so
a renamed input shows up at once. ComfyUI core, AnimateDiff-Evolved, VideoHelperSuite and
Advanced-ControlNet (commit b03791e, the one that matches AnimateDiff-Evolved d8d163c, on ComfyUI
0.3.75) come from ``peer_object_info.json`` beside this file: their ``/object_info`` dumps trimmed
to the node types the workflows use, so a bare clone builds and validates the workflows with
nothing beside it.
``python scripts/build_workflows.py --refresh-peer-schemas DIR`` regenerates it from full dumps.
"""
from __future__ import annotations

import json
from pathlib import Path

from .recipes import RECIPES
from .graph import NOTE_TYPES

PEER_OBJECT_INFO = Path(__file__).resolve().with_name("peer_object_info.json")
# source name → the file name of its full /object_info dump (what --refresh-peer-schemas reads)
PEER_DUMPS = {
    "ComfyUI 0.3.75": "comfyui_0.3.75.object_info.json",
    "AnimateDiff-Evolved": "animatediff_evolved.object_info.json",
    "VideoHelperSuite": "videohelpersuite.object_info.json",
    "Advanced-ControlNet": "advanced_controlnet.object_info.json",
}


def used_node_types() -> set[str]:
    """Every node type some example workflow places (notes are frontend-only, not in /object_info)."""
    return {node.type for graph in RECIPES.values() for node in graph.nodes} - NOTE_TYPES


def peer_object_info() -> dict[str, dict]:
    """source name → that pack's /object_info, trimmed to the node types the workflows use."""
    return json.loads(PEER_OBJECT_INFO.read_text())


def trim_peer_dumps(folder: Path) -> dict[str, dict]:
    """The full dumps in ``folder``, each cut down to the node types the workflows use."""
    missing = [name for name in PEER_DUMPS.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"--refresh-peer-schemas: {folder} lacks {missing}; "
                                "pass the folder holding the full /object_info dumps")
    used = used_node_types()
    return {source: {node_type: schema for node_type, schema in sorted(json.loads((folder / name).read_text()).items())
                     if node_type in used}
            for source, name in PEER_DUMPS.items()}


def write_peer_object_info(peers: dict[str, dict], path: Path = PEER_OBJECT_INFO) -> Path:
    path.write_text(json.dumps(peers, indent=1, ensure_ascii=False) + "\n")
    return path


def rewind_object_info() -> dict[str, dict]:
    """Rewind's nodes as /object_info serves them; needs ComfyUI importable (see scripts/build_workflows.py)."""
    from rewind.nodes import context, diagnostics, sampling, video

    return {node.GET_NODE_INFO_V1()["name"]: node.GET_NODE_INFO_V1()
            for module in (sampling, context, video, diagnostics) for node in module.NODES}


def combined_object_info() -> dict[str, dict]:
    """Everything a Rewind example may use; Rewind's live schemas win over any dump."""
    combined: dict[str, dict] = {}
    for info in peer_object_info().values():
        combined.update(info)
    combined.update(rewind_object_info())
    return combined
