"""The ``/object_info`` the workflows are built and validated against.

Rewind's schemas come from the live node classes (ComfyUI's own V3 → object_info conversion), so
a renamed input shows up at once; ComfyUI core, AnimateDiff-Evolved and VideoHelperSuite come
from the peer ``/object_info`` dumps in ``../shared/peer_schemas`` (or ``$REWIND_PEER_SCHEMAS``);
Advanced-ControlNet's one node from the trimmed dump beside this file (taken from its commit
b03791e, the one that matches AnimateDiff-Evolved d8d163c, on ComfyUI 0.3.75).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEER_DUMPS = {
    "ComfyUI 0.3.75": "comfyui_0.3.75.object_info.json",
    "AnimateDiff-Evolved": "animatediff_evolved.object_info.json",
    "VideoHelperSuite": "videohelpersuite.object_info.json",
}

IN_REPO_DUMPS = {"Advanced-ControlNet": Path(__file__).with_name("advanced_controlnet.object_info.json")}


def peer_schema_dir() -> Path:
    return Path(os.environ.get("REWIND_PEER_SCHEMAS") or ROOT.parent / "shared" / "peer_schemas")


def peer_object_info() -> dict[str, dict]:
    """source name → that pack's /object_info."""
    folder = peer_schema_dir()
    missing = [name for name in PEER_DUMPS.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"peer /object_info dumps {missing} are not in {folder}: set REWIND_PEER_SCHEMAS to the folder that "
            "holds them (ComfyUI 0.3.75, AnimateDiff-Evolved, VideoHelperSuite)"
        )
    dumps = {source: folder / name for source, name in PEER_DUMPS.items()} | IN_REPO_DUMPS
    return {source: json.loads(path.read_text()) for source, path in dumps.items()}


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
