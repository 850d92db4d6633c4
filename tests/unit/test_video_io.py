"""Unit tests of video_io: round trips through real ffmpeg encodes, colours, timing, metadata, errors."""
from __future__ import annotations

import io
import json
import os
import struct
import wave

import numpy as np
import pytest
from PIL import Image

from rewind import video_io as vio
from rewind.video_io import metadata as meta
from rewind.video_io.ffmpeg import VideoIOError, parse_ffmpeg_major, run_ffmpeg

WORKFLOW = {"last_node_id": 3, "nodes": [{"id": 1, "type": "RewindLoadVideo", "widgets_values": ["a=b;#\\c"]}]}
PROMPT = {"1": {"class_type": "RewindLoadVideo", "inputs": {"video": "clip.mp4"}}}
METADATA = {"workflow": WORKFLOW, "prompt": PROMPT}


def colour_chart(frames: int = 6, patch: int = 32) -> list[np.ndarray]:
    """A 6x4 chart of saturated, skin, and grey patches: what a colour shift shows up on first."""
    colours = np.array([
        [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177], [103, 189, 170],
        [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108], [157, 188, 64], [224, 163, 46],
        [56, 61, 150], [70, 148, 73], [175, 54, 60], [231, 199, 31], [187, 86, 149], [8, 133, 161],
        [243, 243, 242], [200, 200, 200], [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52],
    ], dtype=np.uint8).reshape(4, 6, 3)
    chart = np.repeat(np.repeat(colours, patch, axis=0), patch, axis=1)
    return [chart.copy() for _ in range(frames)]


def gradient_clip(frames: int = 12, width: int = 160, height: int = 96) -> list[np.ndarray]:
    """Smooth drifting gradients, like sky and skin: banding and matrix errors show on these."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    clip = []
    for t in range(frames):
        phase = t / frames
        rgb = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.5 + 0.3 * np.sin(2 * np.pi * (x + y + phase))], axis=-1)
        clip.append(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8))
    return clip


def numbered_clip(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """Frame i is a flat grey of level 8*(i % 32) + 4: decoded levels identify which frames were kept."""
    return [np.full((height, width, 3), 8 * (i % 32) + 4, dtype=np.uint8) for i in range(count)]


def frame_numbers(frames: np.ndarray) -> list[int]:
    return [int(round((float(f.mean()) * (255 if frames.dtype != np.uint8 else 1) - 4) / 8)) for f in frames]


def write(tmp_path, frames, name="clip.mp4", **options):
    path = str(tmp_path / name)
    vio.encode_video(frames, path, vio.EncodeOptions(**options))
    return path


def load(path, **request) -> np.ndarray:
    return vio.load_frames(vio.plan_load(vio.probe(path), vio.LoadRequest(**request)))


def container_tags(path: str) -> dict[str, str]:
    return meta.parse_ffmetadata(run_ffmpeg(["-i", path, "-f", "ffmetadata", "-"]).stdout.decode("utf-8"))


def decoded_uint8(frames: np.ndarray) -> np.ndarray:
    return np.round(frames * 255).astype(np.float64)


@pytest.mark.parametrize("clip", [colour_chart, gradient_clip], ids=["chart", "gradient"])
def test_h264_yuv420p_round_trip_keeps_colours(tmp_path, clip):
    source = np.stack(clip())
    path = write(tmp_path, source, format="video/h264-mp4", crf=19, pix_fmt="yuv420p", frame_rate=8)
    decoded = decoded_uint8(load(path))
    error = decoded - source.astype(np.float64)
    signed = error.reshape(-1, 3).mean(axis=0)
    assert decoded.shape == source.shape
    assert np.all(np.abs(signed) < 1.0), f"per-channel mean signed error {signed}"
    assert np.abs(error).mean() < 3.0


def test_bt601_decode_of_a_bt709_file_would_shift_colours(tmp_path):
    """Guards the test above: reading the same file with the wrong matrix fails its thresholds."""
    source = np.stack(colour_chart())
    path = write(tmp_path, source, format="video/h264-mp4", crf=19)
    wrong = run_ffmpeg(["-i", path, "-vf", "scale=in_color_matrix=bt601:in_range=tv,format=rgb24",
                        "-f", "rawvideo", "-"]).stdout
    decoded = np.frombuffer(wrong, np.uint8).reshape(source.shape).astype(np.float64)
    assert np.abs(decoded - source).mean() > 3.0


@pytest.mark.parametrize("matrix, tag, color_range", [("bt601", "smpte170m", "tv"), ("bt709", "bt709", "pc"),
                                                      ("bt709", None, "tv")], ids=["bt601-tv", "bt709-full", "untagged"])
def test_files_from_elsewhere_decode_with_their_own_matrix_and_range(tmp_path, matrix, tag, color_range):
    """Other tools' files: SD bt601, full-range, and untagged (read as bt709, as browsers show it)."""
    source = np.stack(colour_chart(frames=3))
    raw = tmp_path / "chart.rgb"
    source.tofile(raw)
    tags = f"colorspace={tag}:range={color_range}" if tag else "colorspace=unknown:range=unknown"
    path = str(tmp_path / "other.mp4")
    done = run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "192x128", "-i", str(raw), "-vf",
                       f"scale=out_color_matrix={matrix}:out_range={color_range},format=yuv444p,setparams={tags}",
                       "-c:v", "libx264", "-crf", "10", path])
    assert done.returncode == 0, done.stderr[-500:]
    assert vio.probe(path).color_matrix == tag
    decoded = decoded_uint8(load(path))
    assert np.abs(decoded - source).mean() < 3.0


@pytest.mark.parametrize("fmt", ["video/h264-mp4", "video/h265-mp4", "video/webm", "video/ProRes", "image/webp", "image/gif"])
def test_every_format_keeps_frame_count_and_duration(tmp_path, fmt):
    count, fps = 13, 10.0
    path = write(tmp_path, numbered_clip(count), name=f"clip.{vio.FORMATS[fmt].extension}", format=fmt, frame_rate=fps)
    probed = vio.probe(path)
    assert probed.frame_count == count
    assert len(load(path)) == count
    if fmt != "image/gif":  # GIF stores delays in 1/100 s, so 10 fps is exact but 8 fps is not
        assert probed.duration == pytest.approx(count / fps, abs=0.011)


@pytest.mark.parametrize("fmt", ["image/gif", "image/webp", "video/ProRes", "video/webm"])
def test_dark_and_light_levels_survive_every_format(tmp_path, fmt):
    """RGB sources (gif, webp) must not be range-expanded like TV-range YUV: 30 and 220 stay put."""
    clip = [np.full((32, 32, 3), level, np.uint8) for level in (30, 220)]
    path = write(tmp_path, clip, name=f"levels.{vio.FORMATS[fmt].extension}", format=fmt)
    assert np.abs(decoded_uint8(load(path)).mean(axis=(1, 2, 3)) - [30, 220]).max() < 3


def test_pingpong_writes_2n_minus_2_frames_in_order(tmp_path):
    clip = numbered_clip(6)
    order = vio.pingpong_order(len(clip))
    path = write(tmp_path, (clip[i] for i in order), format="video/h264-mp4", crf=0, pix_fmt="yuv444p")
    assert order == [0, 1, 2, 3, 4, 5, 4, 3, 2, 1]
    assert frame_numbers(load(path)) == order
    assert vio.probe(path).frame_count == 2 * 6 - 2


def test_pingpong_of_one_frame_is_that_frame():
    assert vio.pingpong_order(1) == [0]


@pytest.mark.parametrize("fmt", ["video/h264-mp4", "video/h265-mp4", "video/webm", "video/ProRes"])
def test_workflow_embedded_in_containers_with_and_without_audio(tmp_path, fmt):
    for with_audio in (False, True):
        path = str(tmp_path / f"clip{with_audio}.{vio.FORMATS[fmt].extension}")
        audio = (vio.trimmed_audio(np.zeros((2, 48000), np.float32), 48000, 1.0), 48000) if with_audio else None
        vio.encode_video(numbered_clip(8), path, vio.EncodeOptions(format=fmt, frame_rate=8), audio=audio, metadata=METADATA)
        tags = {key.lower(): value for key, value in container_tags(path).items()}
        assert json.loads(tags["workflow"]) == WORKFLOW
        assert json.loads(tags["prompt"]) == PROMPT
        assert vio.probe(path).audio_channels == (2 if with_audio else 0)


def boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """ISO-BMFF child boxes in [start, end) as {type: (content start, end)}."""
    found, at = {}, start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        found.setdefault(kind, (at + 8, at + size))
        at += size
    return found


def frontend_mp4_metadata(data: bytes) -> dict[str, str]:
    """The walk ComfyUI's frontend does on a dropped mp4/mov: moov/udta/meta, then `keys` names
    matched with `ilst` items by index, each value in its `data` box."""
    udta = boxes(data, *boxes(data, 0, len(data))[b"moov"])[b"udta"]
    meta_box = boxes(data, *udta)[b"meta"]
    children = boxes(data, meta_box[0] + 4, meta_box[1])  # meta is a full box: skip version/flags
    keys_start, _ = children[b"keys"]
    count, at, names = struct.unpack(">I", data[keys_start + 4:keys_start + 8])[0], keys_start + 8, []
    for _ in range(count):
        size = struct.unpack(">I", data[at:at + 4])[0]
        names.append(data[at + 8:at + size].decode())  # after the 'mdta' namespace
        at += size
    values, at = {}, children[b"ilst"][0]
    while at < children[b"ilst"][1]:
        size, index = struct.unpack(">II", data[at:at + 8])
        data_start, data_end = boxes(data, at + 8, at + size)[b"data"]
        values[names[index - 1]] = data[data_start + 8:data_end].decode()  # skip type and locale
        at += size
    return values


@pytest.mark.parametrize("fmt", ["video/h264-mp4", "video/ProRes"])
def test_mp4_and_mov_metadata_read_back_the_way_the_frontend_reads_it(tmp_path, fmt):
    path = str(tmp_path / f"clip.{vio.FORMATS[fmt].extension}")
    audio = (np.zeros((1, 8000), np.float32), 8000)
    vio.encode_video(numbered_clip(4), path, vio.EncodeOptions(format=fmt), audio=audio, metadata=METADATA)
    data = open(path, "rb").read()
    found = frontend_mp4_metadata(data)
    assert json.loads(found["workflow"]) == WORKFLOW and json.loads(found["prompt"]) == PROMPT
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: players and the frontend find it at the head


def test_webm_tags_are_upper_case_near_the_start(tmp_path):
    """The frontend JSON-parses only tags named exactly WORKFLOW/PROMPT, within the first 2 MB."""
    path = str(tmp_path / "clip.webm")
    vio.encode_video(numbered_clip(4), path, vio.EncodeOptions(format="video/webm"), metadata=METADATA)
    data = open(path, "rb").read()
    assert data.index(b"WORKFLOW") < 2 * 1024 * 1024 and b"PROMPT" in data


def test_webp_exif_holds_workflow_and_stays_a_valid_animation(tmp_path):
    path = str(tmp_path / "clip.webp")
    vio.encode_video(numbered_clip(5), path, vio.EncodeOptions(format="image/webp", loop_count=0), metadata=METADATA)
    strings = meta.read_webp_exif_strings(open(path, "rb").read())
    assert json.loads(strings["workflow"]) == WORKFLOW and json.loads(strings["prompt"]) == PROMPT
    with Image.open(path) as image:
        assert image.n_frames == 5


def test_gif_comment_holds_workflow_and_loop_count(tmp_path):
    path = str(tmp_path / "clip.gif")
    vio.encode_video(numbered_clip(5), path, vio.EncodeOptions(format="image/gif", loop_count=3), metadata=METADATA)
    with Image.open(path) as image:
        assert json.loads(image.info["comment"]) == METADATA
        assert image.n_frames == 5
        assert image.info["loop"] == 3


def test_png_sequence_frames_carry_workflow_text(tmp_path):
    paths = vio.write_png_sequence(numbered_clip(3), str(tmp_path / "seq"), METADATA)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["frame_00001.png", "frame_00002.png", "frame_00003.png"]
    with Image.open(paths[2]) as image:
        assert json.loads(image.text["workflow"]) == WORKFLOW
        assert np.asarray(image)[0, 0].tolist() == [20, 20, 20]


def test_large_workflow_is_not_limited_by_the_command_line(tmp_path):
    big = {"workflow": {"nodes": ["x" * 300_000]}}
    path = str(tmp_path / "big.mp4")
    vio.encode_video(numbered_clip(2), path, vio.EncodeOptions(), metadata=big)
    assert json.loads(container_tags(path)["workflow"]) == big["workflow"]


def test_selection_skips_then_takes_every_nth_up_to_the_cap(tmp_path):
    path = write(tmp_path, numbered_clip(20), crf=0, pix_fmt="yuv444p")
    frames = load(path, skip_first_frames=3, select_every_nth=4, frame_load_cap=3)
    assert frame_numbers(frames) == [3, 7, 11]
    assert frame_numbers(load(path, skip_first_frames=17)) == [17, 18, 19]


def test_force_rate_resamples_time(tmp_path):
    path = write(tmp_path, numbered_clip(16), frame_rate=8, crf=0, pix_fmt="yuv444p")
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest(force_rate=4))
    frames = vio.load_frames(plan)
    assert len(frames) == 8 and plan.fps == 4
    assert frame_numbers(frames) == list(range(0, 16, 2))


def test_wan_preset_gives_4n_plus_1_frames_16_fps_and_16_px_sizes(tmp_path):
    path = write(tmp_path, numbered_clip(40, width=100, height=60), frame_rate=24)
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest(model_preset="Wan2.1 (16 fps, 4n+1 frames, 16 px)"))
    frames = vio.load_frames(plan)
    assert (len(frames) - 1) % 4 == 0 and len(frames) > 1
    assert plan.fps == 16 and (plan.width, plan.height) == (96, 64)
    assert frames.shape[1:] == (64, 96, 3)


@pytest.mark.parametrize("mode", ["crop", "pad", "stretch"])
def test_resize_modes_hit_the_requested_size(tmp_path, mode):
    clip = [np.full((48, 96, 3), 200, np.uint8)] * 2
    path = write(tmp_path, clip, crf=0, pix_fmt="yuv444p")
    frames = load(path, custom_width=64, custom_height=64, resize_mode=mode)
    assert frames.shape == (2, 64, 64, 3)
    corner = decoded_uint8(frames)[0, 0, 0]
    assert (corner < 20).all() if mode == "pad" else (np.abs(corner - 200) < 3).all()


def test_one_custom_side_keeps_aspect():
    assert vio.decode.target_size(1920, 1080, 512, 0, 8) == (512, 288)
    assert vio.decode.target_size(1920, 1080, 0, 0, 16) == (1920, 1088)


def test_odd_sizes_are_padded_to_even_for_yuv420p(tmp_path):
    path = write(tmp_path, [np.full((47, 63, 3), 128, np.uint8)] * 3, pix_fmt="yuv420p")
    probed = vio.probe(path)
    assert (probed.width, probed.height) == (64, 48) and probed.frame_count == 3


def test_audio_track_decodes_to_the_loaded_span(tmp_path):
    rate = 16000
    tone = np.sin(np.linspace(0, 2000 * np.pi, rate * 2, dtype=np.float32))[None].repeat(2, 0) * 0.5
    path = str(tmp_path / "clip.mp4")
    vio.encode_video(numbered_clip(16), path, vio.EncodeOptions(frame_rate=8), audio=(tone, rate))
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest(skip_first_frames=4, frame_load_cap=8))
    waveform, sample_rate = vio.load_audio(plan, 8)
    assert sample_rate == rate and waveform.shape[0] == 2
    assert waveform.shape[1] == rate  # 8 frames at 8 fps, sample-exact
    assert np.sqrt((waveform[:, 2000:-2000] ** 2).mean()) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_no_audio_track_gives_none(tmp_path):
    path = write(tmp_path, numbered_clip(4))
    assert vio.load_audio(vio.plan_load(vio.probe(path), vio.LoadRequest()), 4) is None


def test_video_info_reports_source_and_loaded(tmp_path):
    path = write(tmp_path, numbered_clip(12), frame_rate=12)
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest(select_every_nth=2))
    info = vio.video_info(plan, 6)
    assert (info["source_frame_count"], info["source_fps"], info["source_duration"]) == (12, 12, 1.0)
    assert (info["loaded_frame_count"], info["loaded_fps"], info["loaded_duration"]) == (6, 6, 1.0)


def test_stream_frames_yields_uint8_one_at_a_time(tmp_path):
    path = write(tmp_path, numbered_clip(5))
    stream = vio.stream_frames(vio.plan_load(vio.probe(path), vio.LoadRequest()))
    first = next(stream)
    assert first.dtype == np.uint8 and first.shape == (48, 64, 3)
    stream.close()  # stopping early must not hang on the ffmpeg process


# --- errors -------------------------------------------------------------------------------------

def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(VideoIOError, match="not found.*nothere.mp4"):
        vio.probe(str(tmp_path / "nothere.mp4"))


def test_unreadable_file_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoIOError, match="junk.mp4.*not a readable video"):
        vio.probe(str(junk))


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(struct.pack("<800h", *([1000] * 800)))
    with pytest.raises(VideoIOError, match="tone.wav.*no video stream"):
        vio.probe(str(path))


def test_zero_frames_selected_says_which_inputs(tmp_path):
    path = write(tmp_path, numbered_clip(5))
    with pytest.raises(VideoIOError, match="no frames selected.*skip_first_frames=9"):
        vio.plan_load(vio.probe(path), vio.LoadRequest(skip_first_frames=9))


def test_unknown_format_and_wrong_pix_fmt(tmp_path):
    with pytest.raises(VideoIOError, match="format .video/avi. is not one of the choices"):
        vio.encode_video(numbered_clip(2), str(tmp_path / "x.avi"), vio.EncodeOptions(format="video/avi"))
    with pytest.raises(VideoIOError, match="yuv420p.*image/gif.*'auto'"):
        vio.encode_video(numbered_clip(2), str(tmp_path / "x.gif"), vio.EncodeOptions(format="image/gif", pix_fmt="yuv420p"))


def test_crf_past_the_codec_maximum_is_refused_with_the_other_options():
    """Before: only quality_args checked it, once frames were already flowing into ffmpeg."""
    with pytest.raises(VideoIOError, match=r"crf 52 is out of range for video/h264-mp4: use 0 to 51"):
        vio.check_options(vio.EncodeOptions(format="video/h264-mp4", crf=52))
    vio.check_options(vio.EncodeOptions(format="video/webm", crf=63))
    vio.check_options(vio.EncodeOptions(format="image/gif", crf=100))  # gif has no crf: ignored


def test_mixed_frame_sizes_are_refused(tmp_path):
    frames = [np.zeros((48, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)]
    with pytest.raises(VideoIOError, match="frame 1 .*same size"):
        vio.encode_video(frames, str(tmp_path / "x.mp4"), vio.EncodeOptions())
    assert not (tmp_path / "x.mp4").exists()


def test_ffmpeg_failure_is_reported_with_its_reason(tmp_path):
    with pytest.raises(VideoIOError, match=r"ffmpeg failed writing .*wide\.webp.*Max is 16383x16383"):
        vio.encode_video([np.zeros((2, 16400, 3), np.uint8)] * 2, str(tmp_path / "wide.webp"), vio.EncodeOptions(format="image/webp"))
    assert os.listdir(tmp_path) == []


def test_memory_check_says_how_many_frames_fit(tmp_path):
    path = write(tmp_path, numbered_clip(10))
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest())
    frame_bytes = 64 * 48 * 3 * 4
    vio.check_memory(plan, available_bytes=100 * frame_bytes)
    with pytest.raises(VideoIOError, match=r"about 4 frames fit.*frame_load_cap to 4"):
        vio.check_memory(plan, available_bytes=5 * frame_bytes)


def test_bad_ffmpeg_override_is_reported(monkeypatch):
    monkeypatch.setenv("REWIND_FFMPEG_PATH", "/nonexistent/ffmpeg")
    with pytest.raises(VideoIOError, match="REWIND_FFMPEG_PATH"):
        vio.ffmpeg_path()


def test_ffmpeg_version_parsing():
    assert parse_ffmpeg_major("ffmpeg version n9.0.2-17-g2a571b6068 Copyright") == 9
    assert parse_ffmpeg_major("ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright") == 4
    assert parse_ffmpeg_major("ffmpeg version N-112233-gdeadbeef Copyright") is None


def test_png_frames_decode_to_exactly_the_pixels_written():
    from rewind.video_io.metadata import encode_png

    rgb = np.random.default_rng(4).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(rgb, METADATA)))
    assert np.array_equal(np.asarray(image.convert("RGB")), rgb)
    assert set(image.text) == set(METADATA)


def test_a_lossless_copy_decodes_to_exactly_the_pixels_and_samples_written(tmp_path):
    """What a VIDEO held in memory becomes for the loaders: odd sizes, any rate, float audio, nothing changed."""
    rgb = np.random.default_rng(5).integers(0, 256, (7, 17, 23, 3), dtype=np.uint8)
    tone = np.random.default_rng(6).uniform(-1, 1, (2, 7 * 1600)).astype(np.float32)
    path = vio.write_lossless(rgb, str(tmp_path / "copy.mkv"), 29.97, audio=(tone, 8000))
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest())
    assert plan.fps == pytest.approx(29.97) and plan.exact
    assert np.array_equal(decoded_uint8(vio.load_frames(plan)), rgb)
    waveform, rate = vio.load_audio(plan, 7)
    assert rate == 8000 and waveform.shape[1] == round(7 / 29.97 * 8000)
    assert np.array_equal(waveform, tone[:, :waveform.shape[1]])
