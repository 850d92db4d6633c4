"""ComfyUI's own video nodes chained before and after Rewind's on a headless server (issue 19, item 2):
core Load Video or Create Video feed Rewind's loaders through the VIDEO type, and Video Combine's VIDEO
output feeds core Get Video Components and Save Video, with frames, rate and audio intact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewind import video_io as vio
from rewind.rewind_queue.ws import WebSocket
from rewind.testbed.server_client import COMBINE_DEFAULTS, LOAD_DEFAULTS, HostileClient

FRAMES, FPS, RATE = 12, 8.0, 16000


def numbered_clip_with_audio(path: Path) -> Path:
    """Frame i is a flat grey of level 8*i + 4 (decoded levels say which frames survived), over 1.5 s of tone."""
    frames = [np.full((48, 64, 3), 8 * i + 4, np.uint8) for i in range(FRAMES)]
    tone = np.sin(np.linspace(0, 600 * np.pi, int(FRAMES / FPS * RATE), dtype=np.float32))[None].repeat(2, 0) * 0.3
    vio.encode_video(frames, str(path), vio.EncodeOptions(frame_rate=FPS, crf=0, pix_fmt="yuv444p"), audio=(tone, RATE))
    return path


def frame_numbers(path: Path) -> list[int]:
    frames = vio.load_frames(vio.plan_load(vio.probe(str(path)), vio.LoadRequest()))
    return [int(round((float(frame.mean()) * 255 - 4) / 8)) for frame in frames]


@pytest.fixture(scope="module")
def client(comfy_server, tmp_path_factory) -> HostileClient:
    client = HostileClient(comfy_server.url, comfy_server.base)
    client.clip = client.upload(numbered_clip_with_audio(tmp_path_factory.mktemp("core-video") / "numbered.mp4"))
    return client


def node(class_type: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def rewind_loader(node_type: str = "RewindLoadVideo", video: str = "", **inputs) -> dict:
    return node(node_type, video=video, **{**LOAD_DEFAULTS, **inputs})


def combine(prefix: str, images: list, frame_rate: list, audio: list) -> dict:
    return node("RewindVideoCombine", **{**COMBINE_DEFAULTS, "format": "video/h264-mp4", "filename_prefix": prefix,
                                          "images": images, "frame_rate": frame_rate, "audio": audio})


def saved(client, outputs: dict, node_id: str) -> Path:
    entry, = outputs[node_id]["images"]
    return client.base / entry["type"] / entry["subfolder"] / entry["filename"]


def assert_holds(path: Path, frames: list[int], fps: float, seconds_of_audio: float) -> None:
    probed = vio.probe(str(path))
    assert frame_numbers(path) == frames and probed.fps == pytest.approx(fps, rel=1e-3)
    assert probed.audio_channels == 2
    # AAC adds up to a 1024-sample frame of padding per encode, and Get Video Components' copy went through two
    assert probed.audio_duration == pytest.approx(seconds_of_audio, abs=2 * 1024 / RATE)


def test_core_load_video_to_rewind_to_core_get_components_and_save_video(client):
    prompt = {
        "load": node("LoadVideo", file=client.clip),
        "rewind": rewind_loader(core_video=["load", 0], skip_first_frames=1, select_every_nth=2, custom_width=32),
        "combine": combine("core-video/rewind", ["rewind", 0], ["rewind", 2], ["rewind", 3]),
        "parts": node("GetVideoComponents", video=["combine", 1]),
        "again": combine("core-video/components", ["parts", 0], ["parts", 2], ["parts", 1]),
        "save": node("SaveVideo", video=["combine", 1], filename_prefix="core-video/core", format="auto", codec="auto"),
    }
    outcome = client.run(prompt, within=300)
    assert outcome.status == "success", outcome.error
    kept, fps = [1, 3, 5, 7, 9, 11], FPS / 2
    for node_id in ("combine", "again", "save"):
        assert_holds(saved(client, outcome.outputs, node_id), kept, fps, seconds_of_audio=(FRAMES - 1) / FPS)
    assert vio.probe(str(saved(client, outcome.outputs, "save"))).width == 32


def test_core_create_video_to_the_path_loader(client):
    """Frames held in memory (Create Video) load with the loader's options; its path input is not read."""
    prompt = {
        "frames": rewind_loader(video=client.clip),
        "create": node("CreateVideo", images=["frames", 0], fps=FPS, audio=["frames", 3]),
        "rewind": rewind_loader("RewindLoadVideoPath", core_video=["create", 0], select_every_nth=3),
        "combine": combine("core-video/created", ["rewind", 0], ["rewind", 2], ["rewind", 3]),
    }
    outcome = client.run(prompt, within=300)
    assert outcome.status == "success", outcome.error
    assert_holds(saved(client, outcome.outputs, "combine"), [0, 3, 6, 9], FPS / 3, seconds_of_audio=FRAMES / FPS)


def errors_shown_while_running(client, prompt: dict) -> list[str]:
    """The execution_error messages the frontend is sent while `prompt` runs (a blocked node's error is
    shown there, not recorded in /history)."""
    socket = WebSocket(f"{client.api.websocket_url}?clientId={client.client_id}", timeout=300)
    try:
        prompt_id, shown = client.queue(prompt), []
        while True:
            message = socket.receive_json() or {}
            data = message.get("data") or {}
            if message.get("type") == "execution_error":
                shown.append(data["exception_message"])
            if message.get("type") == "executing" and data.get("prompt_id") == prompt_id and data.get("node") is None:
                return shown
    finally:
        socket.close()


def test_a_format_core_cannot_read_blocks_the_video_output_with_the_reason(client):
    prompt = {
        "rewind": rewind_loader(video=client.clip, frame_load_cap=2),
        "combine": node("RewindVideoCombine", **{**COMBINE_DEFAULTS, "format": "image/png-sequence",
                                                 "filename_prefix": "core-video/frames", "images": ["rewind", 0]}),
        "parts": node("GetVideoComponents", video=["combine", 1]),
        "again": combine("core-video/never", ["parts", 0], ["parts", 2], ["parts", 1]),
    }
    shown = errors_shown_while_running(client, prompt)
    assert [text.split(";")[0] for text in shown] == [
        "Execution Blocked: the video output of Video Combine is empty: image/png-sequence writes a folder of PNG files, "
        "not one video file. Choose a video format (video/h264-mp4, video/webm, video/ProRes...) or image/gif to use it."]
    assert list((client.base / "output" / "core-video").glob("never_*")) == []
