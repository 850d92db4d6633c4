"""The AnimateDiff and Hotshot-XL workflows end to end with the real peer packs, at their shipped
frame counts (64 and 32: longer than one context window, so AnimateDiff-Evolved's sliding context
and Advanced-ControlNet's per-window hints are used), on random stand-ins of the real model files.

Needs ComfyUI-AnimateDiff-Evolved and ComfyUI-Advanced-ControlNet checkouts (never committed here):
``REWIND_PEER_PACKS`` names the folder that holds both. The stand-in models (about 7.5 GiB in fp16)
are built once into ``REWIND_STAND_IN_MODELS`` (default: the test's temporary folder). Spatial size
and steps are shrunk for the CPU; frame counts, context windows and ControlNet are as shipped.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.cli import prepare_prompt, run_prompt
from rewind.rewind_queue.server import ComfyServer, prepare_base_directory
from rewind.video_io import probe
from rewind.example_workflows.source import WORKFLOWS_DIR

from rewind.testbed.stand_in_models import STAND_INS, write_stand_in
from rewind.testbed import REPO_ROOT

PEER_PACKS = ("ComfyUI-AnimateDiff-Evolved", "ComfyUI-Advanced-ControlNet")
PROBE = Path(__file__).with_name("probes") / "motion_module_probe.py"
# workflow → (shipped frame count, ADE context length): checked against the shipped file below.
SHIPPED = {"animatediff": (64, 16), "hotshot_xl": (32, 8)}
SIZE, STEPS = 64, 2
# The noise level AnimateDiff-Evolved's beta_schedule 'autoselect' gives each: sqrt_linear for
# AnimateDiff v3, SD's own scaled linear for Hotshot-XL.
SIGMA_MAX = {"animatediff": 25.1461, "hotshot_xl": 14.6146}


def peer_packs() -> Path:
    folder = Path(os.environ.get("REWIND_PEER_PACKS", ""))
    missing = [name for name in PEER_PACKS if not (folder / name / "__init__.py").is_file()]
    if not os.environ.get("REWIND_PEER_PACKS") or missing:
        pytest.skip(f"set REWIND_PEER_PACKS to a folder holding {', '.join(PEER_PACKS)} checkouts "
                    f"(missing there: {', '.join(missing) or 'the variable'})")
    return folder


@pytest.fixture(scope="module")
def ade_server(tmp_path_factory, comfy):
    """A headless ComfyUI with Rewind, AnimateDiff-Evolved, Advanced-ControlNet, the motion-module
    probe and every stand-in model file (built with ComfyUI's classes, imported by `comfy`)."""
    packs = peer_packs()
    base = prepare_base_directory(tmp_path_factory.mktemp("ade_base"))
    for name in PEER_PACKS:
        (base / "custom_nodes" / name).symlink_to((packs / name).resolve(), target_is_directory=True)
    (base / "custom_nodes" / "rewind_probe").mkdir()
    (base / "custom_nodes" / "rewind_probe" / "__init__.py").write_text(PROBE.read_text())
    cache = Path(os.environ.get("REWIND_STAND_IN_MODELS") or tmp_path_factory.mktemp("stand_in_models"))
    for name, (folder, _) in STAND_INS.items():
        (base / "models" / folder).mkdir(parents=True, exist_ok=True)
        (base / "models" / folder / name).symlink_to(write_stand_in(name, cache).resolve())
    with ComfyServer(comfy, base) as server:
        yield server


def long_clip(path: Path, frames: int, fps: int = 8) -> Path:
    """The bundled sample's moving shapes, repeated to `frames` frames at `fps`."""
    import imageio_ffmpeg
    import numpy as np

    spec = importlib.util.spec_from_file_location("make_sample_clip", REPO_ROOT / "scripts" / "make_sample_clip.py")
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    writer = imageio_ffmpeg.write_frames(str(path), (sample.SIZE, sample.SIZE), fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", macro_block_size=16)
    writer.send(None)
    for index in range(frames):
        writer.send(np.ascontiguousarray(sample.frame(index % sample.FRAMES)))
    writer.close()
    return path


def shrunk(workflow: dict, name: str) -> dict:
    """The shipped API workflow at SIZE x SIZE pixels, STEPS steps and one exact iteration; frame
    counts, context options, ControlNet and models untouched."""
    sizes = {
        "RewindLoadVideo": {"custom_width": SIZE, "custom_height": SIZE},
        "RewindAYSScheduler": {"steps": STEPS},
        "RewindUnsampler": {"exact_iterations": 1},
        "RewindVideoCombine": {"filename_prefix": f"ade_test/{name}"},
    }
    for node in workflow.values():
        node["inputs"].update(sizes.get(node["class_type"], {}))
    return workflow


def free_models(url: str) -> None:
    """Asks the server to drop loaded models, so one family's weights are in memory at a time."""
    payload = json.dumps({"unload_models": True, "free_memory": True}).encode()
    request = urllib.request.Request(url + "/free", data=payload, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=60).close()


def node_of(workflow: dict, class_type: str) -> dict:
    return next(node for node in workflow.values() if node["class_type"] == class_type)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_workflow_runs_at_its_shipped_frame_count_with_sliding_context(name, ade_server, tmp_path):
    frames, context_length = SHIPPED[name]
    workflow = json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())
    assert node_of(workflow, "RewindLoadVideo")["inputs"]["frame_load_cap"] == frames
    assert node_of(workflow, "ADE_StandardStaticContextOptions")["inputs"]["context_length"] == context_length
    api = ComfyAPI(ade_server.url)
    free_models(ade_server.url)
    log_start = len(ade_server.log_path.read_text(errors="replace"))
    clip = long_clip(tmp_path / "clip.mp4", frames + 8)
    prompt = prepare_prompt(api, shrunk(workflow, name), video=clip, log=open(tmp_path / "client.log", "w"))
    # On two shared CPU cores one run took 32 minutes (see README); the limit only stops a hung server.
    result = run_prompt(api, prompt, tmp_path / "out", timeout=5400,
                        progress_stream=open(tmp_path / "progress.log", "w"))

    videos = [path for path in result.files if path.suffix == ".mp4"]
    assert len(videos) == 1, result.files
    video = probe(videos[0])
    assert (video.width, video.height, video.frame_count) == (SIZE, SIZE, frames)
    log = ade_server.log_path.read_text(errors="replace")[log_start:]
    assert f"Sliding context window sampling activated - latents passed in ({frames}) greater than context_length " \
           f"{context_length}" in log
    passes = {direction: (int(calls), float(top), float(model_max)) for direction, calls, top, model_max in re.findall(
        r"rewind-probe: (\w+) pass: (\d+) motion-module calls, top sigma ([\d.]+), model sigma_max ([\d.]+)", log)}
    assert set(passes) == {"unsample", "resample"}, log[-3000:]
    assert passes["unsample"][0] > 0 and passes["resample"][0] > 0, passes
    # The schedule reads the model: unsampling reaches the noise level of the model as patched by
    # AnimateDiff-Evolved's autoselected beta schedule (sqrt_linear, 25.2, for AnimateDiff v3).
    top, model_max = passes["unsample"][1:]
    assert top == pytest.approx(model_max, rel=1e-4) and model_max == pytest.approx(SIGMA_MAX[name], rel=1e-3)
    assert "stops at sigma" not in log
