"""The queue client on the shipped example workflows: each UI-format file converts to exactly
its API-format twin, and queuing one without its models names every missing file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.cli import RunFailed, run_prompt
from rewind.rewind_queue.workflow import ui_to_api
from rewind.workflows.source.schemas import IN_REPO_DUMPS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(path.stem for path in (ROOT / "workflows").glob("*.json") if (ROOT / "workflows" / "api" / path.name).is_file())
PEER_SCHEMAS = Path(os.environ.get("REWIND_PEER_SCHEMAS") or ROOT.parent / "shared" / "peer_schemas")


@pytest.fixture(scope="module")
def object_info(comfy_server) -> dict:
    """The test server's node types, plus the peer packs' dumps (AnimateDiff, VHS, core nodes
    whose optional dependencies the test venv lacks) when they are available, and Advanced-ControlNet's."""
    info = dict(ComfyAPI(comfy_server.url).object_info())
    dumps = sorted(PEER_SCHEMAS.glob("*.object_info.json")) if PEER_SCHEMAS.is_dir() else []
    for dump in [*dumps, *IN_REPO_DUMPS.values()]:
        for name, schema in json.loads(dump.read_text()).items():
            info.setdefault(name, schema)
    return info


def class_types_and_inputs(prompt: dict) -> dict:
    return {node_id: (node["class_type"], node["inputs"]) for node_id, node in prompt.items()}


@pytest.mark.server
@pytest.mark.parametrize("name", EXAMPLES)
def test_ui_workflow_converts_to_its_api_twin(object_info, name):
    ui = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    api = json.loads((ROOT / "workflows" / "api" / f"{name}.json").read_text())
    missing = {node["type"] for node in ui["nodes"]} - set(object_info) - {"MarkdownNote", "Note"}
    if missing:
        pytest.skip(f"no schema for {sorted(missing)} (set REWIND_PEER_SCHEMAS to the peer /object_info dumps)")
    assert class_types_and_inputs(ui_to_api(ui, object_info)) == class_types_and_inputs(api.get("prompt", api))


@pytest.mark.server
@pytest.mark.skipif("wan21" not in EXAMPLES, reason="the Wan2.1 example workflow is not written yet")
def test_wan21_example_without_models_names_each_missing_file(comfy_server, tmp_path):
    prompt = json.loads((ROOT / "workflows" / "api" / "wan21.json").read_text())
    loaders = {
        node["inputs"][key]
        for node in prompt.values()
        for key in ("unet_name", "vae_name", "clip_name")
        if key in node["inputs"]
    }
    with pytest.raises(RunFailed) as failure:
        run_prompt(ComfyAPI(comfy_server.url), prompt, tmp_path)
    message = str(failure.value)
    for filename in loaders:
        assert f"missing model file {filename!r}" in message
    assert "models/diffusion_models/" in message and "models/vae/" in message and "models/text_encoders/" in message
