"""Every model an example workflow names can be fetched with the frontend's Missing Models dialog.

The rules are the ComfyUI frontend's own (Comfy-Org/ComfyUI_frontend,
src/components/dialog/content/MissingModelsWarning.vue): a `properties.models` entry gets a
Download button only if its url starts with an allowed source and its name ends with an allowed
suffix, and its directory is a model folder the server knows; otherwise the dialog shows "Only
allowed suffixes are: ...", "Download not allowed from source ..." or "Invalid directory specified".
"""
import json

import pytest

from rewind.testbed import REPO_ROOT
from rewind.testbed.workflow_files import WORKFLOWS, models_of

ALLOWED_SOURCES = ("https://civitai.com/", "https://huggingface.co/")  # the frontend's 'http://localhost:' is for its tests
ALLOWED_SUFFIXES = (".safetensors", ".sft")
MODEL_FILE_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
# ComfyUI serves a pack's templates from the first of these it finds (0.3.31+; newest core: all of them,
# de-duplicated), `example_workflows` being the name it asks for and the others legacy aliases.
TEMPLATE_FOLDER_NAMES = ("example_workflows", "example", "examples", "workflow", "workflows")


def test_the_example_workflows_are_there():
    assert {path.stem for path in WORKFLOWS} >= {"sd15", "sdxl", "animatediff", "hotshot_xl", "wan21", "wan22_a14b",
                                                 "wan22_5b"}


def test_templates_live_in_example_workflows_alone_so_nothing_is_served_twice():
    present = [name for name in TEMPLATE_FOLDER_NAMES if (REPO_ROOT / name).is_dir()]
    assert present == ["example_workflows"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_every_model_passes_the_frontends_download_rules(path):
    workflow = json.loads(path.read_text())
    assert models_of(workflow), f"{path.name} declares no models"
    for node, model in models_of(workflow):
        where = f"{path.name} node {node['id']} ({node['type']}) model {model.get('name')!r}"
        assert set(model) >= {"name", "url", "directory"}, where
        assert model["url"].startswith(ALLOWED_SOURCES), f"{where}: url {model['url']} is not from {ALLOWED_SOURCES}"
        assert model["name"].endswith(ALLOWED_SUFFIXES), f"{where}: the frontend downloads only {ALLOWED_SUFFIXES}"
        assert model["name"] in node.get("widgets_values", []), f"{where}: the loader does not select this file"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_every_model_file_a_loader_selects_is_declared(path):
    """A file a widget selects without a `models` entry gets no Download button at all."""
    workflow = json.loads(path.read_text())
    for node in workflow["nodes"]:
        declared = {model["name"] for model in (node.get("properties") or {}).get("models") or []}
        values = node.get("widgets_values") or []
        for value in values.values() if isinstance(values, dict) else values:
            if isinstance(value, str) and value.lower().endswith(MODEL_FILE_SUFFIXES):
                assert value in declared, f"{path.name} node {node['id']} ({node['type']}) selects {value!r} undeclared"
