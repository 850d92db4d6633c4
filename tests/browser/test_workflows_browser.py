"""Browser tier: the real ComfyUI frontend, served by the test server, loads every example workflow
from the template route in headless Chromium (load_workflows.mjs, playwright-core).

Checks per workflow: no console errors or validation toasts; the only missing nodes are
AnimateDiff-Evolved's and Advanced-ControlNet's (the test server does not have those packs); every loaded node's widgets hold
the values and its inputs the links of the API twin, by name; for the fully loadable workflows the
prompt the frontend would queue is exactly the API twin. Screenshots go to the test's tmp dir.
Prerequisites: scripts/install_browser.sh (Debian chromium, npm ci here).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.server import PACK_LINK_NAME
from rewind.rewind_queue.workflow import ui_to_api
from rewind.workflows.source import FAMILIES, WORKFLOWS_DIR
from rewind.workflows.source.graph import NOTE_TYPES
from rewind.workflows.source.schemas import peer_object_info

pytestmark = pytest.mark.browser
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
NAMES = sorted(FAMILIES)
# The frontend's media preview widget rides along in the queued prompt; the server ignores it.
FRONTEND_ONLY_INPUTS = {"video-preview"}
INPUT_VIDEO = "input.mp4"  # what the workflows' Load Video names; the test puts the sample clip there


@pytest.fixture(scope="module")
def browser_reports(comfy_server, tmp_path_factory) -> dict[str, dict]:
    if not CHROMIUM.is_file() or not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("the browser tier needs /usr/bin/chromium and playwright-core: run scripts/install_browser.sh")
    shutil.copy(ROOT / "assets" / "sample.mp4", comfy_server.base / "input" / INPUT_VIDEO)
    screenshots = tmp_path_factory.mktemp("browser_screenshots")
    result = subprocess.run(
        ["node", "load_workflows.mjs", comfy_server.url, str(screenshots), PACK_LINK_NAME, *NAMES],
        cwd=HERE, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return {report["name"]: report for report in json.loads(result.stdout)["reports"]}


def load(name: str) -> tuple[dict, dict]:
    return (json.loads((WORKFLOWS_DIR / f"{name}.json").read_text()),
            json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text()))


PEER_PACKS = ("AnimateDiff-Evolved", "Advanced-ControlNet")


def peer_pack_schemas() -> dict:
    return {name: schema for pack in PEER_PACKS for name, schema in peer_object_info()[pack].items()}


def peer_pack_types(ui: dict) -> list[str]:
    peer = peer_pack_schemas()
    return [node["type"] for node in ui["nodes"] if node["type"] in peer]


@pytest.mark.parametrize("name", NAMES)
def test_the_frontend_loads_the_workflow_without_errors(name, browser_reports):
    report = browser_reports[name]
    ui, _ = load(name)
    assert report.get("fetchError") is None
    assert report["consoleErrors"] == [] and report["toasts"] == []
    expected_missing = peer_pack_types(ui)
    assert report["missing"] == expected_missing
    if expected_missing:
        (dialog,) = report["dialogs"]
        assert "missing nodes" in dialog and all(kind in dialog for kind in expected_missing)
    else:
        assert report["dialogs"] == []
    assert len(report["nodes"]) == report["nodeCount"] == len(ui["nodes"])
    assert Path(report["screenshot"]).stat().st_size > 20_000


@pytest.mark.parametrize("name", NAMES)
def test_every_loaded_node_holds_the_api_twins_values_and_links(name, browser_reports):
    report = browser_reports[name]
    ui, api = load(name)
    types = {node["id"]: node["type"] for node in ui["nodes"]}
    problems = []
    for node in report["nodes"]:
        if types[node["id"]] != node["type"]:
            problems.append(f"node {node['id']} loaded as {node['type']}, not {types[node['id']]}")
        if not node["registered"] or node["type"] in NOTE_TYPES:
            continue
        for key, value in api[str(node["id"])]["inputs"].items():
            is_link = isinstance(value, list)
            loaded = node["links"].get(key) if is_link else node["widgets"].get(key, "<no widget>")
            if loaded != value:
                problems.append(f"node {node['id']} ({node['type']}).{key}: frontend has {loaded!r}, API twin {value!r}")
    assert problems == []


@pytest.mark.parametrize("name", [name for name in NAMES if not peer_pack_types(load(name)[0])])
def test_the_frontend_queues_exactly_the_api_twin(name, browser_reports):
    report = browser_reports[name]
    assert report["promptError"] is None
    api = load(name)[1]
    assert sorted(report["prompt"]) == sorted(api)
    queued = {node_id: {**node, "inputs": {k: v for k, v in node["inputs"].items() if k not in FRONTEND_ONLY_INPUTS}}
              for node_id, node in report["prompt"].items()}
    differing = {node_id: (node, api[node_id]) for node_id, node in queued.items() if node != api[node_id]}
    assert differing == {}, json.dumps(differing, indent=1)


@pytest.mark.parametrize("name", NAMES)
def test_the_workflow_as_the_editor_saves_it_still_converts_to_the_api_twin(name, browser_reports, comfy_server):
    """Users re-save the examples; the queue client must read the frontend's own serialisation
    (upload and preview widgets included) back to the same prompt."""
    object_info = {**peer_pack_schemas(), **ComfyAPI(comfy_server.url).object_info()}
    assert ui_to_api(browser_reports[name]["saved"], object_info) == load(name)[1]
