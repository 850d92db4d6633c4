"""Files whose own words lie, over HTTP. Tags and file names print fake `Duration:` and stream
lines into ffmpeg's report; variable-rate video has no one frame rate; twenty minutes of audio
hide behind a few kilobytes of frames; a name with %d is a pattern to ffmpeg's image reader; and
the encoder writes a one-frame WebP in a simpler layout. What loads must be what the file holds,
no more than was planned, and what is written must be named and tagged safely. The `client`
fixture checks that the server serves the next prompt and that nothing was left behind."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rewind import video_io as vio
from rewind.testbed.server_client import load_and_combine, load_node
from rewind.testbed.media_corpus import (VFR_SECONDS, long_audio_clip, lying_clip, numbered_stills, variable_rate_clip)
from rewind.video_io.metadata import read_webp_exif_strings

HUGE = {"force_rate": 240.0, "custom_width": 8192, "custom_height": 8192}  # refused everywhere, naming the plan


def video_info(client, video: str, node: str = "RewindLoadVideo", **load) -> dict:
    """The loader's video_info output, shown by core's PreviewAny (nothing is written)."""
    outcome = client.run({"1": load_node(video, node, **load), "info": {"class_type": "PreviewAny", "inputs": {"source": ["1", 4]}}})
    assert outcome.status == "success", outcome.error
    return json.loads(outcome.outputs["info"]["text"][0])


def refusal(client, video: str, node: str = "RewindLoadVideo", **load) -> str:
    outcome = client.run(load_and_combine(video, node, load=load))
    assert outcome.status == "error"
    return outcome.error


def test_a_tag_reading_duration_does_not_shrink_the_plan(client, tmp_path):
    """The issue's liar: 100 s at 30 fps titled `Duration: 00:00:01.00` planned 29 frames at
    force_rate 29 and loaded 2900."""
    liar = client.upload(lying_clip(tmp_path, "liar.mp4", "Duration: 00:00:01.00", size="64x64", seconds=100))
    info = video_info(client, liar, force_rate=1.0)
    assert (info["source_duration"], info["source_frame_count"], info["loaded_frame_count"]) == (100.0, 3000, 100)
    assert refusal(client, liar, **HUGE).startswith("RewindLoadVideo: 'input/liar.mp4': 24000 frames at 8192x8192 need")


def test_a_tag_reading_a_stream_line_does_not_change_size_or_rate(client, tmp_path):
    """A 64x48 clip titled as a 4096x4096 240 fps stream was planned (and refused) as that."""
    liar = client.upload(lying_clip(tmp_path, "stream-liar.mp4", "Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps"))
    info = video_info(client, liar)
    assert (info["source_width"], info["source_height"], info["source_fps"], info["source_frame_count"]) == (64, 48, 30, 60)
    assert (info["loaded_width"], info["loaded_height"], info["loaded_frame_count"]) == (64, 48, 60)


def test_a_file_name_holding_report_lines_is_only_a_name(client, tmp_path, hostile_server):
    name = "named\n  Duration: 00:00:01.00, start: 0.000000\n  Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps.mp4"
    placed = Path(hostile_server.base) / "input" / name
    lying_clip(tmp_path, "named.mp4").replace(placed)
    try:
        info = video_info(client, name, node="RewindLoadVideoPath")
    finally:
        placed.unlink()
    assert (info["source_width"], info["source_height"], info["source_fps"], info["source_duration"]) == (64, 48, 30, 2.0)


def test_audio_counts_in_the_memory_plan(client, tmp_path):
    """1200 tiny frames over 20 minutes of stereo opus: the audio alone is 0.46 GB of float32."""
    clip = client.upload(long_audio_clip(tmp_path))
    message = refusal(client, clip, custom_width=8192, custom_height=8192)
    video_gb, audio_gb = 1200 * 8192 * 8192 * 3 * 4 / 1e9, 1200 * 48000 * 2 * 4 / 1e9
    assert message.startswith(f"RewindLoadVideo: 'input/{clip}': 1200 frames at 8192x8192 and 1200.0 s of audio "
                              f"need {video_gb + audio_gb:.1f} GB as a float32 IMAGE and AUDIO"), message


def test_variable_rate_video_keeps_its_duration_and_its_audio(client, tmp_path):
    """50 frames over 13.06 s came out 2.0 s long (read at the nominal 25 fps), dropping 11 s of audio."""
    clip = client.upload(variable_rate_clip(tmp_path))
    prompt = {"1": load_node(clip), "info": {"class_type": "PreviewAny", "inputs": {"source": ["1", 4]}},
              "2": {"class_type": "RewindVideoCombine",
                    "inputs": {"images": ["1", 0], "frame_rate": ["1", 2], "audio": ["1", 3], "loop_count": 0,
                               "filename_prefix": "hostile/vfr", "format": "video/h264-mp4", "pingpong": False,
                               "save_output": True, "crf": 19, "pix_fmt": "auto"}}}
    outcome = client.run(prompt)
    assert outcome.status == "success", outcome.error
    info = json.loads(outcome.outputs["info"]["text"][0])
    frame = 1 / info["loaded_fps"]
    assert info["loaded_frame_count"] == 50
    assert math.isclose(info["loaded_duration"], VFR_SECONDS, abs_tol=frame), info
    written = vio.probe(str(client.files_under("output", "vfr_*.mp4")[-1]))
    assert math.isclose(written.duration, VFR_SECONDS, abs_tol=frame), written
    assert math.isclose(written.audio_duration, written.duration, abs_tol=frame), written


def test_a_name_with_percent_d_is_opened_literally(client, tmp_path):
    """`seq%d.png` beside seq0.png ... seq9.png loaded those ten instead of itself."""
    pattern = numbered_stills(tmp_path)
    for index in range(10):
        client.upload(tmp_path / f"seq{index}.png")
    info = video_info(client, client.upload(pattern))
    assert (info["source_frame_count"], info["source_width"], info["source_height"]) == (1, 32, 16)


def test_a_one_frame_webp_is_written_with_its_workflow(client):
    outcome = client.run(load_and_combine(client.good, load={"frame_load_cap": 1},
                                          combine={"format": "image/webp", "filename_prefix": "hostile/single"}))
    assert outcome.status == "success", outcome.error
    written = client.files_under("output", "single_*.webp")[-1]
    assert "prompt" in read_webp_exif_strings(written.read_bytes())
    assert vio.probe(str(written)).frame_count == 1


@pytest.mark.parametrize("prefix", ["hostile/line\nbreak", "hostile/tab\there", "hostile/\x1b[31mred"])
def test_control_characters_in_the_output_name_are_refused(client, prefix):
    outcome = client.run(load_and_combine(client.good, load={"frame_load_cap": 2}, combine={"filename_prefix": prefix}))
    assert outcome.status == "error"
    assert outcome.error.startswith(f"RewindVideoCombine: filename_prefix {prefix!r} contains control characters"), outcome.error
    assert client.files_under("output", "*break*") + client.files_under("output", "*here*") + client.files_under("output", "*red*") == []
