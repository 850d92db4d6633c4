"""The main job (``make run``): the reference workflow restyles the sample clip and reports the
video, a contact sheet, the temporal consistency against a per-frame restyle and the roundtrip
PSNR; a user workflow missing a model says which file and where."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.cli import RunFailed
from rewind.rewind_queue.main_job import SAMPLE_CLIP, main, reference_workflow, run_job
from rewind.rewind_queue.workflow import with_required_defaults
from rewind.testbed import REPO_ROOT

PSNR_LINE = re.compile(r"roundtrip PSNR: ([\d.]+|inf) dB")
CONSISTENCY_LINE = re.compile(r"source ([\d.]+), result ([\d.]+), baseline ([\d.]+)")


def frames_of(video: Path) -> np.ndarray:
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    width, height = meta["size"]
    return np.stack([np.frombuffer(frame, np.uint8).reshape(height, width, 3) for frame in reader]).astype(np.float64)


def frame_count(video: Path) -> int:
    return len(frames_of(video))


def printed_paths(printed: str, label: str) -> list[Path]:
    return [Path(line.split(": ", 1)[1]) for line in printed.splitlines() if line.startswith(f"{label}: ")]


def test_main_job_restyles_steadier_than_per_frame_and_still_roundtrips(comfy_server, tmp_path, capsys):
    assert main(["--server", comfy_server.url, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    psnr = PSNR_LINE.search(printed)
    assert psnr, printed
    assert psnr.group(1) == "inf" or float(psnr.group(1)) > 100, "source prompt both ways must return the input"
    [video] = printed_paths(printed, "output video")
    assert video.is_relative_to(tmp_path)
    restyled, source = frames_of(video), frames_of(SAMPLE_CLIP)
    assert len(restyled) == len(source) == 24
    assert np.abs(restyled - source).mean() > 20, "the default prompt should visibly change the look"
    [sheet] = printed_paths(printed, "output image")
    assert sheet.suffix == ".png" and sheet.read_bytes().startswith(b"\x89PNG")
    source_warp, result_warp, baseline_warp = map(float, CONSISTENCY_LINE.search(printed).groups())
    assert result_warp < 0.25 * baseline_warp, printed
    assert result_warp < 3 * source_warp, "the restyle should keep the source's motion"


def hd_clip(path: Path, seconds: float = 2.0) -> Path:
    """A 1280x720, 30 fps clip with audio, as a user's phone video would be."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=30:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=d={seconds}", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(path)], check=True)
    return path


def png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_main_job_bounds_an_hd_clip_says_so_up_front_and_keeps_the_sheet_screen_sized(comfy_server, tmp_path, capsys):
    video = hd_clip(tmp_path / "phone.mp4")
    assert main(["--server", comfy_server.url, "--out", str(tmp_path / "out"), "--video", str(video)]) == 0
    out, err = capsys.readouterr()
    assert "restyling 48 of 60 frames at 512x288 of the 1280x720 clip (WIDTH=0 FRAMES=0 restyles all of it" in err
    assert "expect about" in err
    [restyled] = printed_paths(out, "output video")
    frames = frames_of(restyled)
    assert frames.shape[:3] == (48, 288, 512)
    [sheet] = printed_paths(out, "output image")
    assert png_size(sheet)[0] <= 1920


@pytest.mark.parametrize("value", ["-1", "wide", "1.5"])
def test_main_job_refuses_a_cap_that_is_not_a_whole_number(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--server", "http://127.0.0.1:9", "--width", value])
    assert exit_.value.code == 2
    assert "0 lifts the cap" in capsys.readouterr().err


def test_main_job_prompt_changes_the_look(comfy_server, tmp_path, capsys):
    assert main(["--server", comfy_server.url, "--out", str(tmp_path), "--prompt", "night"]) == 0
    [video] = printed_paths(capsys.readouterr().out, "output video")
    night, source = frames_of(video), frames_of(SAMPLE_CLIP)
    assert night.mean() < source.mean() - 20  # darker
    assert night[..., 2].mean() > night[..., 0].mean() + 20  # and blue


def test_user_workflow_missing_a_model_names_file_folder_and_source(comfy_server, tmp_path):
    workflow = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan2.1_t2v_1.3B_fp16.safetensors", "weight_dtype": "default"}},
        "2": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 8.0}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    with pytest.raises(RunFailed) as failure:
        run_job(ComfyAPI(comfy_server.url), tmp_path, workflow)
    message = str(failure.value)
    assert "node 1 (UNETLoader), input 'unet_name'" in message
    assert "'wan2.1_t2v_1.3B_fp16.safetensors'" in message and "models/diffusion_models/" in message
    assert "Comfy-Org/Wan_2.1_ComfyUI_repackaged" in message


def test_queue_client_sets_the_video_and_inputs_by_title_and_prints_the_report(comfy_server, tmp_path):
    """The command-line path a user takes with the same job: --video uploads the clip onto
    RewindLoadVideo, --set addresses a node by its title, text outputs are printed."""
    api = ComfyAPI(comfy_server.url)
    workflow = tmp_path / "job.json"
    workflow.write_text(json.dumps(with_required_defaults(reference_workflow("placeholder.mp4"), api.object_info())))
    result = subprocess.run(
        [sys.executable, "-m", "rewind_queue", str(workflow), "--server", comfy_server.url, "--video", str(SAMPLE_CLIP),
         "--set", "Load video.frame_load_cap=6", "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert PSNR_LINE.search(result.stdout), result.stdout
    [video] = [Path(line) for line in result.stdout.splitlines() if line.endswith(".mp4")]
    assert frame_count(video) == 6
    assert "video " in result.stderr and "→ node 1" in result.stderr
