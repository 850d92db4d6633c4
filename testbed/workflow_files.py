"""UI-format workflows as tests read and write them: the shipped example workflows with the models their
nodes declare (as the frontend's Missing Models dialog reads them), and a UI node builder for the queue
client's conversion tests."""
from __future__ import annotations

from . import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / "example_workflows").glob("*.json"))
# Model folders that peer packs the workflows need register with ComfyUI at startup.
PEER_FOLDERS = {"animatediff_models": "ComfyUI-AnimateDiff-Evolved"}


def models_of(workflow: dict) -> list[tuple[dict, dict]]:
    """(node, models entry) for every model the frontend's dialog would list."""
    return [(node, model) for node in workflow["nodes"] for model in (node.get("properties") or {}).get("models") or []]


def ui_node(node_id, kind, widgets=(), inputs=(), mode=0, title=None, outputs=()) -> dict:
    """A node as the frontend saves it: widget values in order, inputs with their link ids."""
    node = {"id": node_id, "type": kind, "mode": mode, "widgets_values": list(widgets),
            "inputs": [{"name": name, "type": type_, "link": link} for name, type_, link in inputs],
            "outputs": [{"name": name, "type": type_} for name, type_ in outputs]}
    if title:
        node["title"] = title
    return node
