"""Unit tests of what video_io reads from ffmpeg (no ComfyUI, mostly no ffmpeg): framecrc packet
lines, rates from timestamps (even, rounded by the container, variable), the report section under
the probe's own token, literal names for stills, the WebP layouts libwebp writes, and the rules
for output names."""
from __future__ import annotations

import importlib
import io
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from rewind import video_io as vio
from rewind.video_io import metadata as meta
from rewind.video_io.ffmpeg import VideoIOError, image_demuxer
from rewind.video_io.probe import (NO_TIMESTAMP, PacketTimes, output_section, parse_audio_stream, parse_framecrc,
                                   parse_video_stream, stream_line, video_timing)


def packets(times, time_base: str, durations=None) -> PacketTimes:
    stream = PacketTimes(media_type="video", time_base=Fraction(time_base))
    for index, time in enumerate(times):
        stream.add(time, time, durations[index] if durations else 0)
    return stream


def test_framecrc_lines_give_each_stream_its_packets():
    lines = [b"#software: Lavf63.1.102", b"#tb 0: 1/12800", b"#media_type 0: video", b"#tb 1: 1/44100",
             b"#media_type 1: audio",
             b"0,       -512,          0,      512,     1862, 0xc01b397e",
             b"1,          0,          0,     1024,       23, 0x0e8703d8",
             b"0,          0, -9223372036854775808,      512,       13, 0x164d04b2, F=0x0, S=1, MPEGTS Stream ID,        1, 0x00e000e0",
             b"0,        512,       1024,      512,       13, 0x164d04b2, F=0x0"]
    streams = parse_framecrc(lines)
    video, audio = streams[0], streams[1]
    assert (video.media_type, video.time_base, video.count, video.end) == ("video", Fraction(1, 12800), 3, 1536)
    assert video.timestamps().tolist() == [-512, 0, 512]  # a pts left out: decode times for all
    assert (audio.media_type, audio.count, audio.seconds()) == ("audio", 1, pytest.approx(1024 / 44100))
    assert list(video.pts)[1] == NO_TIMESTAMP


@pytest.mark.parametrize("times, time_base, durations, nominal, fps", [
    ([512 * k for k in (0, 2, 1, 3, 5, 4)], "1/15360", None, 30.0, 30.0),  # mp4 with B-frames: decode order
    ([0, 13, 25, 38], "1/100", [13, 12, 13, 12], 8.0, 8.0),  # gif: delays in 1/100 s alternate 12 and 13
    ([round(k * 1001 / 30) for k in range(20000)], "1/1000", None, 29.97, 30000 / 1001),  # mkv: ms, printed 29.97
    ([0], "1/25", [1], 25.0, 25.0),  # a still
])
def test_evenly_spaced_frames_keep_their_rate(times, time_base, durations, nominal, fps):
    timing = video_timing(packets(times, time_base, durations), nominal)
    assert timing.constant
    assert timing.fps == pytest.approx(fps, rel=1e-5)
    assert timing.duration == pytest.approx(len(times) / fps, rel=1e-5)


@pytest.mark.parametrize("times, why", [
    ([round(13060 * (1 - (1 - n / 50) ** 2)) for n in range(50)], "bunched at the end"),
    ([0, 40, 80, 160, 200, 240], "a dropped frame"),
    ([0, 40, 40, 80], "a repeated timestamp"),
    ([0, 0, 0], "all at one instant"),
])
def test_unevenly_spaced_frames_get_their_average_rate_over_their_duration(times, why):
    durations = [40] * len(times)
    timing = video_timing(packets(times, "1/1000", durations), nominal_fps=25.0)
    assert not timing.constant, why
    assert timing.duration == pytest.approx((max(times) + 40 - min(times)) / 1000)
    assert timing.fps == pytest.approx(len(times) / timing.duration)


TOKEN = "rewind-probe-0123456789abcdef"
REPORT = f"""Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/in/clip
  Duration: 00:00:01.00, start: 0.000000, bitrate: 1 kb/s
  Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps.mp4':
  Metadata:
    title           : x
                    : Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps
    comment         : Output #1, null, to 'rewind-probe-fake':
                    :   Stream #1:0: Video: wrapped_avframe, yuv420p, 8192x8192, 1 fps
  Duration: 00:01:40.00, start: 0.000000, bitrate: 59 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 64x64, 30 fps, 30 tbr, 15360 tbn
  Stream #0:1[0x2](Video: h264, yuv420p, 4096x4096): Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s
Output #0, framecrc, to 'pipe:1':
  Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps
Output #1, null, to '{TOKEN}':
  Metadata:
    encoder         : Lavf63.1.102
  Stream #1:0: Video: wrapped_avframe, yuv420p(tv, bt709, progressive), 64x48 [SAR 1:1 DAR 4:3], q=2-31, 200 kb/s, 30 fps, 30 tbn
    Metadata:
      encoder         : Lavc63.1.102 wrapped_avframe
  Stream #1:1: Audio: pcm_s16le, 48000 Hz, 5.1(side), s16, 4608 kb/s
[out#0/framecrc @ 0x5571dbbed5c0] video:3KiB audio:18KiB
"""


def test_only_the_section_under_the_probes_token_is_read():
    """Everything else in the report can be written by the file: its name, tags, even a fake
    `Output #1` section in a comment."""
    section = output_section(REPORT, TOKEN)
    video = parse_video_stream(stream_line(section, "Video"))
    assert (video["width"], video["height"], video["fps"], video["pix_fmt"]) == (64, 48, 30.0, "yuv420p")
    assert (video["color_matrix"], video["color_range"]) == ("bt709", "tv")
    assert parse_audio_stream(stream_line(section, "Audio")) == (6, 48000)
    assert output_section(REPORT, "rewind-probe-other") == []


def test_the_probe_never_reads_a_files_tags_or_name(tmp_path):
    """A real file titled and named with report lines probes as what it is."""
    name = "clip\n  Duration: 00:00:01.00\n  Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps.mp4"
    path = tmp_path / name
    vio.encode_video([np.zeros((48, 64, 3), np.uint8)] * 24, str(path), vio.EncodeOptions(frame_rate=12.0),
                     metadata={"title\n  Duration: 00:00:01.00": "Stream #0:0: Video: h264, yuv420p, 4096x4096, 240 fps"})
    probed = vio.probe(str(path))
    assert (probed.width, probed.height, probed.fps, probed.frame_count, probed.duration) == (64, 48, 12.0, 24, 2.0)


def test_more_frames_than_the_probe_keeps_is_refused_with_the_count(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("rewind.video_io.probe"), "MAX_FRAMES", 5)  # the package's `probe` is the function
    path = tmp_path / "clip.mp4"
    vio.encode_video([np.zeros((16, 16, 3), np.uint8)] * 12, str(path), vio.EncodeOptions())
    with pytest.raises(VideoIOError, match=r"clip\.mp4' has 12 frames, more than the 5 Rewind plans for"):
        vio.probe(str(path))


def png_bytes(mode: str = "RGB", **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (5, 3)).save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


@pytest.mark.parametrize("head, demuxer", [
    (png_bytes(), "png_pipe"), (png_bytes(format="JPEG"), "jpeg_pipe"), (png_bytes(format="GIF"), "gif"),
    (png_bytes(format="WEBP"), "webp_pipe"), (b"\0\0\0\x20ftypisom", None), (b"", None),
])
def test_stills_are_opened_by_their_content_not_their_name(head, demuxer):
    assert image_demuxer(head) == demuxer


def test_an_animated_png_or_webp_keeps_its_animation_demuxer(tmp_path):
    frames = [Image.new("RGB", (5, 3), colour) for colour in ("red", "blue")]
    for name, demuxer in (("a.png", "apng"), ("a.webp", "webp_anim")):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100)
        assert image_demuxer((tmp_path / name).read_bytes()) == demuxer


@pytest.mark.parametrize("mode, lossless, alpha", [("RGB", False, False), ("RGBA", True, True), ("RGB", True, False)])
def test_a_simple_webp_gets_the_extended_header_that_carries_exif(mode, lossless, alpha):
    """libwebp writes one frame as plain VP8/VP8L; the workflow's EXIF needs the VP8X layout."""
    simple = png_bytes(mode, format="WEBP", lossless=lossless)
    assert simple[12:16] in (b"VP8 ", b"VP8L")
    tagged = meta.add_webp_exif(simple, {"prompt": {"1": "x"}})
    assert tagged[12:16] == b"VP8X" and bool(tagged[20] & 0x10) == alpha
    assert meta.read_webp_exif_strings(tagged) == {"prompt": '{"1": "x"}'}
    image = Image.open(io.BytesIO(tagged))
    assert (image.size, image.mode) == ((5, 3), mode)


@pytest.mark.parametrize("prefix", ["Rewind/clip", "Rewind/clé %date:yyyy-MM-dd%", "a b"])
def test_ordinary_output_names_pass(prefix):
    vio.check_filename_prefix(prefix)


@pytest.mark.parametrize("prefix, says", [
    ("a\nb", "control characters"), ("a\tb", "control characters"), ("a\x00b", "control characters"),
    ("a\x7fb", "control characters"), ("a\x85b", "control characters"), ("../x", "inside the output folder"),
    ("/tmp/x", "inside the output folder"), ("", "inside the output folder"), (3, "inside the output folder"),
])
def test_output_names_that_escape_or_hold_control_characters_are_refused(prefix, says):
    with pytest.raises(VideoIOError, match=says):
        vio.check_filename_prefix(prefix)
