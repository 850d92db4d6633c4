"""The queue client on the shipped example workflows: each UI-format file converts to exactly
its API-format twin, and queuing one without its models names every missing file."""
from __future__ import annotations

import json

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.cli import RunFailed, run_prompt
from rewind.rewind_queue.workflow import ui_to_api
from rewind.example_workflows.source.schemas import peer_object_info
from rewind.testbed import REPO_ROOT

EXAMPLES = sorted(path.stem for path in (REPO_ROOT / "example_workflows").glob("*.json") if (REPO_ROOT / "example_workflows" / "api" / path.name).is_file())


@pytest.fixture(scope="module")
def object_info(comfy_server) -> dict:
    """The test server's node types, plus the peer packs' schemas the workflows use (AnimateDiff,
    core nodes whose optional dependencies the test venv lacks) from the repo's trimmed dumps."""
    info = dict(ComfyAPI(comfy_server.url).object_info())
    for pack in peer_object_info().values():
        for name, schema in pack.items():
            info.setdefault(name, schema)
    return info


def class_types_and_inputs(prompt: dict) -> dict:
    return {node_id: (node["class_type"], node["inputs"]) for node_id, node in prompt.items()}


@pytest.mark.parametrize("name", EXAMPLES)
def test_ui_workflow_converts_to_its_api_twin(object_info, name):
    ui = json.loads((REPO_ROOT / "example_workflows" / f"{name}.json").read_text())
    api = json.loads((REPO_ROOT / "example_workflows" / "api" / f"{name}.json").read_text())
    missing = {node["type"] for node in ui["nodes"]} - set(object_info) - {"MarkdownNote", "Note"}
    assert not missing, f"no schema for {sorted(missing)}: run scripts/build_workflows.py --refresh-peer-schemas"
    assert class_types_and_inputs(ui_to_api(ui, object_info)) == class_types_and_inputs(api.get("prompt", api))


def test_wan21_example_without_models_names_each_missing_file(comfy_server, tmp_path):
    prompt = json.loads((REPO_ROOT / "example_workflows" / "api" / "wan21.json").read_text())
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
