"""The shipped API workflows run end to end on a headless ComfyUI, with their model loaders
swapped for RewindReferenceModel by the test (never in the shipped files) and sizes shrunk to a
few 64x64 frames and 4 steps, and the queue client drives one from the command line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.cli import prepare_prompt, run_prompt
from rewind.video_io import probe
from rewind.example_workflows.source import WORKFLOWS_DIR
from rewind.testbed import REPO_ROOT
from rewind.testbed.weight_free_workflows import MODEL_TYPES, TINY, load_api, shrunk, with_reference_model

SAMPLE = REPO_ROOT / "assets" / "sample.mp4"
def test_the_server_serves_the_ui_workflows_as_templates(comfy_server):
    api = ComfyAPI(comfy_server.url)
    listed = api.get_json("/api/workflow_templates")
    assert sorted(listed.get("rewind", [])) == ["animatediff", "hotshot_xl", "sd15", "sdxl", "wan21", "wan22_5b",
                                                 "wan22_a14b"]
    served = api.get_json("/api/workflow_templates/rewind/sd15.json")
    assert served == json.loads((WORKFLOWS_DIR / "sd15.json").read_text())


@pytest.mark.parametrize("name", sorted(MODEL_TYPES))
def test_the_workflow_runs_end_to_end_and_returns_a_video(name, comfy_server, tmp_path):
    model_type = MODEL_TYPES[name]
    api = ComfyAPI(comfy_server.url)
    prompt = prepare_prompt(api, shrunk(with_reference_model(load_api(name), model_type), model_type), video=SAMPLE,
                            log=open(tmp_path / "client.log", "w"))
    result = run_prompt(api, prompt, tmp_path / "out", timeout=900, progress_stream=open(tmp_path / "progress.log", "w"))
    videos = [path for path in result.files if path.suffix == ".mp4"]
    assert len(videos) == 1, result.files
    video = probe(videos[0])
    assert (video.width, video.height, video.frame_count) == (64, 64, TINY[model_type][0])


def test_the_queue_client_runs_an_api_workflow_with_video_and_prompt(comfy_server, tmp_path):
    workflow = tmp_path / "sd15_reference.json"
    workflow.write_text(json.dumps(shrunk(with_reference_model(load_api("sd15"), "SD1.5"), "SD1.5")))
    clip = tmp_path / "my clip.mp4"
    shutil.copy(SAMPLE, clip)
    text = "a pencil sketch, cross-hatching"
    result = subprocess.run(
        [sys.executable, "-m", "rewind_queue", str(workflow), "--server", comfy_server.url, "--video", str(clip),
         "--prompt", text, "--out", str(tmp_path / "out"), "--timeout", "900"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1000,
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
