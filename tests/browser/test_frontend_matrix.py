"""Browser tier: every example workflow in the real ComfyUI frontend, as users run it today.

Two frontends (the one ComfyUI 0.3.75 pins, and the newest comfyui-frontend-package, which
scripts/install_browser.sh puts in the cache) × two renderers (classic LiteGraph canvas and Nodes 2.0).
One server per frontend, one Chromium page per renderer (frontend_matrix.mjs). Per workflow: it loads
with no missing nodes but AnimateDiff-Evolved's and Advanced-ControlNet's (the test server has neither pack), no errored
node, the Note readable and clear of other nodes, every node holding its API twin's values and links;
then the workflow's weight-free twin is queued from the page and Video Combine's result must play on
the node, muted and looping. Also: the main job (`make run`) shows its video and Roundtrip Report figure,
switching Video Combine to gif swaps its widgets, the template browser lists the workflows titled, in
order, with thumbnails. Screenshots of each workflow on load and after the run, and of the template
browser, go to tests/browser/screenshots/<frontend>/ (git-ignored) for a reviewer, with report.json.
Prerequisites: scripts/install_browser.sh (Debian chromium, playwright-core, the newest frontend).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.main_job import reference_workflow
from rewind.rewind_queue.server import PACK_LINK_NAME, ComfyServer, prepare_base_directory
from rewind.rewind_queue.workflow import ui_to_api, with_required_defaults
from rewind.testbed.weight_free_workflows import MODEL_TYPES, shrunk, with_reference_model
from rewind.example_workflows.source import RECIPES, WORKFLOWS_DIR
from rewind.example_workflows.source.graph import NOTE_TYPES
from rewind.example_workflows.source.schemas import peer_object_info

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = HERE / "screenshots"
NAMES = sorted(RECIPES)
MAIN_JOB = "api:main_job"  # `make run`'s reference job, loaded from its API prompt: Roundtrip Report included
SAMPLE_CLIP = "rewind_sample.mp4"  # what the pack puts in the input folder (comfy_glue/folders.py)
RENDERERS = ("classic", "vue")
# The newest frontend, installed by scripts/install_browser.sh next to the venv.
LATEST_FRONTEND = Path(os.environ.get("REWIND_CACHE") or ROOT / ".cache") / "frontend-latest"
# The reference model standing in for each workflow's weights (the run needs no downloads).
REFERENCE_MODEL_TYPE = {**MODEL_TYPES, "animatediff": "SD1.5", "hotshot_xl": "SDXL"}
# The frontend's media preview widget rides along in the queued prompt; the server ignores it.
FRONTEND_ONLY_INPUTS = {"video-preview"}
# WCAG AA for body text.
READABLE_CONTRAST = 4.5


def latest_frontend_root() -> Path:
    static = LATEST_FRONTEND / "comfyui_frontend_package" / "static"
    if not (static / "index.html").is_file():
        pytest.fail(f"no newest frontend in {LATEST_FRONTEND}: run scripts/install_browser.sh")
    return static


def load(name: str) -> tuple[dict, dict]:
    return (json.loads((WORKFLOWS_DIR / f"{name}.json").read_text()),
            json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text()))


def weight_free_run(name: str) -> dict:
    model_type = REFERENCE_MODEL_TYPE[name]
    prompt = shrunk(with_reference_model(load(name)[1], model_type), model_type)
    prompt[next(k for k, n in prompt.items() if n["class_type"] == "RewindVideoCombine")]["inputs"]["filename_prefix"] = f"browser/{name}"
    return prompt


PEER_PACKS = ("AnimateDiff-Evolved", "Advanced-ControlNet")  # not installed on the test server


def peer_pack_info() -> dict:
    return {name: schema for pack in PEER_PACKS for name, schema in peer_object_info()[pack].items()}


def peer_pack_types(ui: dict) -> list[str]:
    peers = peer_pack_info()
    return [node["type"] for node in ui["nodes"] if node["type"] in peers]


def from_the_pack(errors: list[str]) -> list[str]:
    """Console errors the pack causes: its extension, its nodes' previews, its templates. Other
    errors (a newer frontend asking an older server for routes it lacks) are the frontend's."""
    return [text for text in errors if any(mark in text.lower() for mark in ("rewind", "/view?", "workflow_templates"))]


@pytest.fixture(scope="module", params=["pinned", "latest"])
def frontend(request, tmp_path_factory, comfyui_tree):
    """What one frontend showed: reports per (renderer, workflow), startup errors, the template browser,
    the gif switch, and the server's url."""
    if not CHROMIUM.is_file() or not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("the browser tier needs /usr/bin/chromium and playwright-core: run scripts/install_browser.sh")
    extra = ["--front-end-root", str(latest_frontend_root())] if request.param == "latest" else []
    base = prepare_base_directory(tmp_path_factory.mktemp(f"comfy_{request.param}"))
    screenshots = SCREENSHOTS / request.param
    with ComfyServer(comfyui_tree, base, extra_args=extra) as server:
        runs = tmp_path_factory.mktemp("runs") / "runs.json"
        main_job = with_required_defaults(reference_workflow(SAMPLE_CLIP), ComfyAPI(server.url).object_info())
        runs.write_text(json.dumps({MAIN_JOB: main_job, **{name: weight_free_run(name) for name in NAMES}}))
        result = subprocess.run(
            ["node", "frontend_matrix.mjs", server.url, str(screenshots), PACK_LINK_NAME, str(runs), *RENDERERS,
             "--", *NAMES, MAIN_JOB],
            cwd=HERE, capture_output=True, text=True, timeout=1800,
        )
        assert result.returncode == 0, result.stderr[-4000:] + server.tail(40)
        report = json.loads(result.stdout)
        (screenshots / "report.json").write_text(json.dumps(report, indent=1))
        yield {"name": request.param, "url": server.url, "startup": report["startupErrors"], "templates": report["templates"], "gif": report["gif"],
               "reports": {(r["renderer"], r["name"]): r for r in report["reports"]}}


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_extension_loads_without_errors(frontend, renderer):
    assert from_the_pack(frontend["startup"][renderer]) == []


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("name", NAMES)
def test_the_workflow_loads_with_no_missing_or_errored_node(frontend, renderer, name):
    report = frontend["reports"][(renderer, name)]
    ui, _ = load(name)
    assert report.get("fetchError") is None
    assert report["vue"] is (renderer == "vue")
    assert sorted(node["type"] for node in report["nodes"] if not node["registered"]) == sorted(peer_pack_types(ui))
    assert len(report["nodes"]) == report["nodeCount"] == len(ui["nodes"])
    assert [node["title"] for node in report["nodes"] if "error" in node["text"].lower() or "failed" in node["text"].lower()] == []
    assert from_the_pack(report["loadErrors"]) == [] and report["toasts"] == []


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("name", NAMES)
def test_the_note_is_readable_and_no_node_overlaps_another(frontend, renderer, name):
    """As drawn: Nodes 2.0 grows nodes (a Note to fit its text, a loader around its preview)."""
    report = frontend["reports"][(renderer, name)]
    assert report["noteId"] is not None
    assert report["overlapping"] == []
    assert report["noteContrast"] is not None and report["noteContrast"] >= READABLE_CONTRAST, report["noteWorst"]


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("name", NAMES)
def test_video_combine_plays_its_result_on_the_node(frontend, renderer, name):
    run = frontend["reports"][(renderer, name)]["run"]
    assert run.get("error") is None, run
    written = run["output"]["images"][0]["filename"]
    assert written.endswith(".mp4")
    preview = run["preview"]
    assert preview["video"] and written in preview["video"], preview
    assert preview["playing"] and preview["muted"] and preview["loop"] and not preview["broken"], preview
    assert from_the_pack(run["runErrors"]) == []


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_main_job_shows_its_video_and_roundtrip_figure_on_the_nodes(frontend, renderer):
    run = frontend["reports"][(renderer, MAIN_JOB)]["run"]
    assert run.get("error") is None, run
    assert run["preview"]["playing"] and not run["preview"]["broken"], run["preview"]
    (report,) = run["reportText"]
    assert report["widget"].startswith("roundtrip PSNR:") and report["widget"] in (report["shown"] or ""), report


@pytest.mark.parametrize("name", NAMES)
def test_every_loaded_node_holds_the_api_twins_values_and_links(frontend, name):
    report = frontend["reports"][("classic", name)]
    ui, api = load(name)
    types = {str(node["id"]): node["type"] for node in ui["nodes"]}  # newer frontends give string ids
    problems = []
    for node in report["nodes"]:
        if types[str(node["id"])] != node["type"]:
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
def test_the_frontend_queues_exactly_the_api_twin(frontend, name):
    report = frontend["reports"][("classic", name)]
    assert report.get("promptError") is None
    api = {node_id: {key: node[key] for key in ("class_type", "inputs")} for node_id, node in load(name)[1].items()}
    # Titles aside (newer frontends title untitled nodes with their own translated display names).
    queued = {node_id: {"class_type": node["class_type"],
                        "inputs": {k: v for k, v in node["inputs"].items() if k not in FRONTEND_ONLY_INPUTS}}
              for node_id, node in report["prompt"].items()}
    differing = {node_id: (node, api.get(node_id)) for node_id, node in queued.items() if node != api.get(node_id)}
    assert sorted(queued) == sorted(api) and differing == {}, json.dumps(differing, indent=1)


@pytest.mark.parametrize("name", NAMES)
def test_the_workflow_as_the_editor_saves_it_still_converts_to_the_api_twin(frontend, name):
    """Users re-save the examples; the queue client must read the frontend's own serialisation
    (upload and preview widgets included) back to the same prompt."""
    object_info = {**peer_pack_info(), **ComfyAPI(frontend["url"]).object_info()}
    assert ui_to_api(frontend["reports"][("classic", name)]["saved"], object_info) == load(name)[1]


def test_video_combine_shows_only_the_widgets_its_format_uses(frontend):
    combine = next(node for node in frontend["reports"][("classic", "sd15")]["nodes"] if node["type"] == "RewindVideoCombine")
    format_dependent = {"loop_count", "crf", "pix_fmt"}
    assert combine["widgets"]["format"] == "video/h264-mp4"
    assert format_dependent & set(combine["hiddenWidgets"]) == {"loop_count"}
    loader = next(node for node in frontend["reports"][("classic", "sd15")]["nodes"] if node["type"] == "RewindLoadVideo")
    assert loader["outputNames"] == ["images", "frame_count", "fps", "audio", "video_info", "latent"]


def test_the_template_browser_shows_every_workflow_titled_in_order_with_its_thumbnail(frontend):
    seen = frontend["templates"]
    entries = json.loads((ROOT / "web" / "templates.json").read_text())
    assert [entry["name"] for entry in entries] == list(RECIPES)
    positions = [seen["text"].find(entry["title"]) for entry in entries]
    assert -1 not in positions and positions == sorted(positions), (seen["category"], seen["text"][:3000])
    shown = {thumbnail["src"].split("?")[0].rsplit("/", 1)[-1]: thumbnail["loaded"] for thumbnail in seen["thumbnails"]}
    assert shown == {f"{name}.jpg": True for name in RECIPES}
    assert from_the_pack(seen["errors"]) == []


@pytest.mark.parametrize("renderer", RENDERERS)
def test_switching_video_combine_to_gif_hides_crf_and_pix_fmt_and_shows_loop_count(frontend, renderer, request):
    if (frontend["name"], renderer) == ("pinned", "vue"):
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "frontend 1.32's Nodes 2.0 stores a copy of a node's widgets once a widget callback ran, so the DOM keeps "
            "the widgets shown at load (the widgets' hidden state is right; newer frontends follow it)")))
    switched = frontend["gif"][renderer]
    assert {"loop_count", "crf", "pix_fmt"} & set(switched["hidden"]) == {"crf", "pix_fmt"}
    if renderer == "vue":  # the DOM follows
        assert "loop_count" in switched["shown"] and "crf" not in switched["shown"] and "pix_fmt" not in switched["shown"]
