"""The shipped API workflows run end to end on a headless ComfyUI, with their model loaders
swapped for RewindReferenceModel by the test (never in the shipped files) and sizes shrunk to a
few 64x64 frames and 4 steps, and the queue client drives one from the command line."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.cli import prepare_prompt, run_prompt
from rewind.video_io import probe
from rewind.workflows.source import WORKFLOWS_DIR

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"
REFERENCE_ID = "reference"
# What each loader's outputs become: RewindReferenceModel gives (MODEL, VAE, CONDITIONING).
LOADER_OUTPUTS = {
    "CheckpointLoaderSimple": {0: 0, 2: 1},
    "UNETLoader": {0: 0},
    "VAELoader": {0: 1},
    "CLIPTextEncode": {0: 2},
    "ADE_UseEvolvedSampling": {0: 0},  # the motion-model MODEL (the browser tier runs the AnimateDiff workflows)
}
DROPPED = {"CLIPLoader"}
# Core-only families and the reference family standing in for them; (frames, context length, overlap) in pixel frames.
FAMILIES = {"sd15": "SD1.5", "sdxl": "SDXL", "wan21": "Wan2.1"}
TINY = {"SD1.5": (5, 2, 0), "SDXL": (5, 2, 0), "Wan2.1": (9, 5, 4)}


def load_api(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())


def is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def ancestors(prompt: dict, node_ids) -> set[str]:
    seen, stack = set(), list(node_ids)
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.add(node_id)
            stack += [value[0] for value in prompt[node_id]["inputs"].values() if is_link(value)]
    return seen


def with_reference_model(workflow: dict, family: str) -> dict:
    """The workflow with every loader and text encoder replaced by RewindReferenceModel outputs and
    ControlNet passed through. Text encoders stay in the prompt, unconnected, so --prompt still finds them."""
    prompt = copy.deepcopy(workflow)
    replaced = {}
    for node_id, node in prompt.items():
        kind = node["class_type"]
        for slot, reference_slot in LOADER_OUTPUTS.get(kind, {}).items():
            replaced[(node_id, slot)] = [REFERENCE_ID, reference_slot]
        if kind in ("ControlNetApplyAdvanced", "ACN_AdvancedControlNetApply_v2"):
            replaced[(node_id, 0)], replaced[(node_id, 1)] = node["inputs"]["positive"], node["inputs"]["negative"]

    def resolve(value):
        while is_link(value) and tuple(value) in replaced:
            value = replaced[tuple(value)]
        return value

    for node in prompt.values():
        node["inputs"] = {key: resolve(value) for key, value in node["inputs"].items()}
    prompt[REFERENCE_ID] = {"class_type": "RewindReferenceModel", "inputs": {"family": family, "data": "mixture"},
                            "_meta": {"title": "Reference model (test)"}}
    outputs = [node_id for node_id, node in prompt.items() if node["class_type"] == "RewindVideoCombine"]
    keep = ancestors(prompt, outputs)
    for node_id in list(prompt):
        node = prompt[node_id]
        if node["class_type"] == "CLIPTextEncode":
            node["inputs"].pop("clip")
        elif node_id not in keep or node["class_type"] in DROPPED:
            del prompt[node_id]
    return prompt


def shrunk(prompt: dict, family: str) -> dict:
    """A few 64x64 frames, 4 steps, 2 exact iterations, windows smaller than the clip so they are used."""
    frames, length, overlap = TINY[family]
    sizes = {
        "RewindLoadVideo": {"custom_width": 64, "custom_height": 64, "frame_load_cap": frames},
        "RewindAYSScheduler": {"steps": 4},
        "RewindUnsampler": {"exact_iterations": 2},
        "RewindContextOptions": {"context_length": length, "context_overlap": overlap},
        "RewindVideoCombine": {"filename_prefix": f"workflow_test/{family}"},
    }
    for node in prompt.values():
        node["inputs"].update(sizes.get(node["class_type"], {}))
    return prompt


def test_the_server_serves_the_ui_workflows_as_templates(comfy_server):
    api = ComfyAPI(comfy_server.url)
    listed = api.get_json("/api/workflow_templates")
    assert sorted(listed.get("rewind", [])) == ["animatediff", "hotshot_xl", "sd15", "sdxl", "wan21"]
    served = api.get_json("/api/workflow_templates/rewind/sd15.json")
    assert served == json.loads((WORKFLOWS_DIR / "sd15.json").read_text())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_workflow_runs_end_to_end_and_returns_a_video(name, comfy_server, tmp_path):
    family = FAMILIES[name]
    api = ComfyAPI(comfy_server.url)
    prompt = prepare_prompt(api, shrunk(with_reference_model(load_api(name), family), family), video=SAMPLE,
                            log=open(tmp_path / "client.log", "w"))
    result = run_prompt(api, prompt, tmp_path / "out", timeout=900, progress_stream=open(tmp_path / "progress.log", "w"))
    videos = [path for path in result.files if path.suffix == ".mp4"]
    assert len(videos) == 1, result.files
    video = probe(videos[0])
    assert (video.width, video.height, video.frame_count) == (64, 64, TINY[family][0])


def test_the_queue_client_runs_an_api_workflow_with_video_and_prompt(comfy_server, tmp_path):
    workflow = tmp_path / "sd15_reference.json"
    workflow.write_text(json.dumps(shrunk(with_reference_model(load_api("sd15"), "SD1.5"), "SD1.5")))
    clip = tmp_path / "my clip.mp4"
    shutil.copy(SAMPLE, clip)
    text = "a pencil sketch, cross-hatching"
    result = subprocess.run(
        [sys.executable, "-m", "rewind_queue", str(workflow), "--server", comfy_server.url, "--video", str(clip),
         "--prompt", text, "--out", str(tmp_path / "out"), "--timeout", "900"],
        cwd=ROOT, capture_output=True, text=True, timeout=1000,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [Path(line) for line in result.stdout.splitlines() if line.endswith(".mp4")]
    assert len(printed) == 1 and printed[0].is_file() and probe(printed[0]).frame_count == TINY["SD1.5"][0]
    assert "→ node" in result.stderr  # the client reported where the video and the prompt went
    history = ComfyAPI(comfy_server.url).get_json("/history")
    queued = max(history.values(), key=lambda entry: entry["prompt"][0])["prompt"][2]
    positive = [node for node in queued.values() if node["_meta"]["title"] == "Positive"]
    assert [node["inputs"]["text"] for node in positive] == [text]
    loader = [node for node in queued.values() if node["class_type"] == "RewindLoadVideo"]
    assert [node["inputs"]["video"] for node in loader] == ["my clip.mp4"]
