"""Unit tests of video_io's shared-server safety (no ComfyUI): inputs that never end or point
elsewhere are refused before ffmpeg opens them, every ffmpeg run stops on should_stop() or after
the stall limit (killing one that ignores SIGTERM), and cancelled or failed encodes leave nothing."""
from __future__ import annotations

import dataclasses
import errno
import os
import threading
import time

import numpy as np
import pytest

from rewind import video_io as vio
from rewind.testbed.media_corpus import (HANG_DECODE, HANG_PROBE, disguised_playlists, ffmpeg_children, good_clip,
                                         gradient_frames, live_playlist, write_ffmpeg_double)
from rewind.video_io.ffmpeg import VideoIOCancelled, VideoIOError, input_args, run_ffmpeg

HANG_DEADLINE = 10.0  # a hang detector (DEVELOPERS.md): stopping takes ~0.5 s; past 10 s the run was not stopped


def stop_after(seconds: float):
    """A should_stop() that turns true `seconds` from now."""
    at = time.monotonic() + seconds
    return lambda: time.monotonic() >= at


@pytest.fixture
def hanging_ffmpeg(tmp_path, monkeypatch):
    """The corpus' ffmpeg double in place of ffmpeg: files named hang-probe/hang-decode block forever, ignoring SIGTERM."""
    monkeypatch.setenv("REWIND_FFMPEG_PATH", str(write_ffmpeg_double(tmp_path / "ffmpeg-double")))
    return tmp_path


def hanging_clip(folder, name: str):
    """A clip the double hangs on (written under another name: the double would hang writing it)."""
    path = good_clip(folder, "clip.mp4")
    return path.rename(folder / f"{name}.mp4")


# --- refusing unbounded input -------------------------------------------------------------------

def test_live_playlist_is_refused_by_name_and_disguised_ones_by_content(tmp_path):
    playlist, _ = live_playlist(tmp_path)
    with pytest.raises(VideoIOError, match=r"live\.m3u8' is an HLS playlist, not a video file"):
        vio.probe(str(playlist))
    kinds = {"live-renamed": "an HLS playlist", "concat": "an ffmpeg concat list", "dash": "an XML file",
             "manifest": "a DASH manifest"}
    for path in disguised_playlists(tmp_path):
        with pytest.raises(VideoIOError, match=f"{path.name}' is {kinds[path.stem]}"):
            vio.probe(str(path))


def test_folders_pipes_and_devices_are_refused_without_opening_them(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # opening it would block forever
    for path in (fifo, tmp_path, "/dev/zero"):
        with pytest.raises(VideoIOError, match="is not a regular file"):
            vio.probe(str(path))


def test_ffmpeg_itself_refuses_playlists_when_asked_directly(tmp_path):
    """Defence in depth: past the sniffing, the demuxer whitelist stops a live playlist at once."""
    playlist, _ = live_playlist(tmp_path)
    started = time.monotonic()
    done = run_ffmpeg([*input_args(str(playlist)), "-f", "null", "-"], stop_after(HANG_DEADLINE))
    assert done.returncode != 0 and time.monotonic() - started < HANG_DEADLINE
    assert b"Invalid argument" in done.stderr or b"Invalid data" in done.stderr


# --- stopping ffmpeg ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [HANG_PROBE, HANG_DECODE])
def test_should_stop_kills_a_hung_ffmpeg_that_ignores_sigterm(hanging_ffmpeg, name):
    path = hanging_clip(hanging_ffmpeg, name)
    started = time.monotonic()
    with pytest.raises(VideoIOCancelled):
        vio.load_frames(vio.plan_load(vio.probe(str(path), stop_after(0.3)), vio.LoadRequest()), stop_after(0.3))
    assert time.monotonic() - started < HANG_DEADLINE
    assert ffmpeg_children(os.getpid()) == []


def test_a_hung_ffmpeg_nobody_cancels_fails_after_the_stall_limit(hanging_ffmpeg, monkeypatch):
    monkeypatch.setenv("REWIND_FFMPEG_TIMEOUT", "1")
    path = hanging_clip(hanging_ffmpeg, HANG_PROBE)
    with pytest.raises(VideoIOError, match=rf"ffmpeg made no progress for 1 s while reading '.*{HANG_PROBE}\.mp4'.*REWIND_FFMPEG_TIMEOUT"):
        vio.probe(str(path))
    assert ffmpeg_children(os.getpid()) == []


def test_a_bad_stall_limit_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("REWIND_FFMPEG_TIMEOUT", "soon")
    with pytest.raises(VideoIOError, match="REWIND_FFMPEG_TIMEOUT='soon' is not a number of seconds"):
        vio.probe(str(good_clip(tmp_path)))


def test_time_the_caller_spends_between_frames_does_not_count_as_a_stall(tmp_path, monkeypatch):
    path = good_clip(tmp_path, count=3)
    monkeypatch.setenv("REWIND_FFMPEG_TIMEOUT", "0.5")
    plan = vio.plan_load(vio.probe(str(path)), vio.LoadRequest())
    frames = []
    for frame in vio.stream_frames(plan):
        time.sleep(0.8)  # e.g. a slow VAE encode of the previous chunk
        frames.append(frame)
    assert len(frames) == 3


# --- nothing left behind ------------------------------------------------------------------------

def frames_until_stopped(stop: threading.Event, count: int = 400):
    """Frames that ask to stop after the fifth, as a Cancel pressed mid-encode would."""
    for index in range(count):
        if index == 5:
            stop.set()
            time.sleep(0.2)  # the watchdog's next look
        yield np.full((48, 64, 3), index % 256, np.uint8)


@pytest.mark.parametrize("fmt", list(vio.FORMATS))
def test_cancel_mid_encode_leaves_no_file(tmp_path, fmt):
    stop = threading.Event()
    path = str(tmp_path / ("clip" if fmt == "image/png-sequence" else "clip.out"))
    preview = str(tmp_path / "preview.mp4") if fmt == "video/ProRes" else None
    with pytest.raises(VideoIOCancelled):
        if fmt == "image/png-sequence":
            vio.write_png_sequence(frames_until_stopped(stop), path, should_stop=stop.is_set)
        else:
            vio.encode_video(frames_until_stopped(stop), path, vio.EncodeOptions(format=fmt), preview_path=preview,
                             should_stop=stop.is_set)
    assert os.listdir(tmp_path) == [] and ffmpeg_children(os.getpid()) == []


def test_a_size_the_encoder_refuses_is_refused_up_front(tmp_path):
    tiny = [np.zeros((8, 8, 3), np.uint8)] * 3
    with pytest.raises(VideoIOError, match=r"video/h265-mp4 needs frames of at least 16x16 pixels; these are 8x8"):
        vio.encode_video(tiny, str(tmp_path / "tiny.mp4"), vio.EncodeOptions(format="video/h265-mp4"))
    assert os.listdir(tmp_path) == []


def test_png_sequence_keeps_any_metadata_key(tmp_path):
    """PNG keywords are Latin-1: other characters are escaped, not a UnicodeEncodeError and an empty folder."""
    paths = vio.write_png_sequence([np.zeros((4, 4, 3), np.uint8)] * 2, str(tmp_path / "frames"),
                                   metadata={"wörkflow ☃": {"a": 1}, "k" * 100: 2})
    assert [os.path.basename(p) for p in paths] == ["frame_00001.png", "frame_00002.png"]
    data = open(paths[0], "rb").read()
    assert b"w\xf6rkflow \\u2603\0" in data and b"k" * 79 + b"\0" in data


# --- never replacing a file ---------------------------------------------------------------------

def numbered(folder, tail=".mp4") -> vio.NumberedName:
    return vio.NumberedName(str(folder), "clip", 1, tail)


def test_a_finished_file_takes_the_next_free_number(tmp_path):
    """Before: the partial was renamed over whatever had the name (os.replace)."""
    (tmp_path / "clip_00001_.mp4").write_bytes(b"someone else's file")
    written = vio.encode_video(gradient_frames(3), numbered(tmp_path), vio.EncodeOptions())
    assert written == [str(tmp_path / "clip_00002_.mp4")] and vio.probe(written[0]).frame_count == 3
    assert (tmp_path / "clip_00001_.mp4").read_bytes() == b"someone else's file"


def test_two_jobs_under_one_name_at_once_keep_both_files(tmp_path):
    """Before: both wrote the same `.clip_00001_.mp4.partial`, and the second rename replaced the first file."""
    results = {}
    jobs = [threading.Thread(target=lambda n=n: results.update({n: vio.encode_video(gradient_frames(n), numbered(tmp_path),
                                                                                    vio.EncodeOptions())[0]}))
            for n in (3, 5)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert sorted(os.listdir(tmp_path)) == ["clip_00001_.mp4", "clip_00002_.mp4"]
    assert {n: vio.probe(path).frame_count for n, path in results.items()} == {3: 3, 5: 5}


def test_a_preview_and_a_frame_folder_take_free_names_too(tmp_path):
    (tmp_path / "clip_00001_preview.mp4").write_bytes(b"an older preview")
    (tmp_path / "clip_00001_").mkdir()  # an empty folder is someone's too
    master, preview = vio.encode_video(gradient_frames(2), numbered(tmp_path, ".mov"), vio.EncodeOptions(format="video/ProRes"),
                                       preview_path=numbered(tmp_path, "preview.mp4"))
    frames = vio.write_png_sequence(gradient_frames(2), numbered(tmp_path, ""))
    assert (os.path.basename(master), os.path.basename(preview)) == ("clip_00001_.mov", "clip_00002_preview.mp4")
    assert os.path.dirname(frames[0]) == str(tmp_path / "clip_00002_") and os.listdir(tmp_path / "clip_00001_") == []
    assert (tmp_path / "clip_00001_preview.mp4").read_bytes() == b"an older preview"


def test_a_plain_path_that_exists_is_refused_not_replaced(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        vio.encode_video(gradient_frames(2), str(tmp_path / "x.mp4"), vio.EncodeOptions())
    assert os.listdir(tmp_path) == ["x.mp4"] and (tmp_path / "x.mp4").read_bytes() == b"mine"


def test_a_name_too_long_for_the_file_system_fails_before_ffmpeg_starts(tmp_path):
    """The partial's name is shortened, so the result's own name is what must fit: checked up front, not found
    out when the finished file is moved into place."""
    with pytest.raises(OSError) as error:
        vio.encode_video(gradient_frames(2), str(tmp_path / ("A" * 300 + ".mp4")), vio.EncodeOptions())
    assert error.value.errno == errno.ENAMETOOLONG and os.listdir(tmp_path) == []


def test_a_cleanup_that_fails_never_hides_the_error(tmp_path, monkeypatch):
    """Before: the partial's removal raised its own OSError (with the server path) in place of the real error."""
    unlink = os.unlink

    def refusing_partials(path, *args, **kwargs):
        if str(path).endswith(".partial"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refusing_partials)
    mixed = [np.zeros((48, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)]
    with pytest.raises(VideoIOError, match="frame 1 .*same size"):
        vio.encode_video(mixed, str(tmp_path / "x.mp4"), vio.EncodeOptions())
    assert [name for name in os.listdir(tmp_path) if not name.startswith(".")] == []


# --- every input checked ------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, says", [
    ("force_rate", float("nan"), "force_rate must be a number from 0 to 240 .*got nan"),
    ("force_rate", float("inf"), "force_rate must be a number"), ("frame_load_cap", -1, "frame_load_cap must be a whole number"),
    ("custom_width", -8, "custom_width must be a whole number from 0 to 8192"), ("custom_height", 2.5, "custom_height"),
    ("select_every_nth", True, "select_every_nth"), ("model_preset", "SD9", "model_preset 'SD9' is not one of the choices"),
    ("resize_mode", ["crop"], "resize_mode .* is not one of the choices"),
])
def test_every_load_input_is_checked(name, value, says):
    with pytest.raises(VideoIOError, match=says):
        vio.check_request(vio.LoadRequest(**{name: value}))


@pytest.mark.parametrize("name, value, says", [
    ("frame_rate", float("nan"), "frame_rate must be a number"), ("frame_rate", 0, "frame_rate"),
    ("crf", -1, "crf must be a whole number"), ("loop_count", 1.5, "loop_count"), ("pix_fmt", "rgb48", "pix_fmt 'rgb48'"),
    ("format", "video/avi", "format 'video/avi' is not one of the choices"),
])
def test_every_encode_option_is_checked_before_ffmpeg_starts(tmp_path, name, value, says):
    with pytest.raises(VideoIOError, match=says):
        vio.encode_video([np.zeros((8, 8, 3), np.uint8)], str(tmp_path / "x.mp4"), vio.EncodeOptions(**{name: value}))
    assert os.listdir(tmp_path) == []


def test_a_size_where_not_one_frame_fits_says_so(tmp_path):
    plan = vio.plan_load(vio.probe(str(good_clip(tmp_path))), vio.LoadRequest(custom_width=8192, custom_height=8192))
    with pytest.raises(VideoIOError, match=r"one 8192x8192 frame needs 0\.8 GB .* Lower custom_width/custom_height\.$"):
        vio.check_memory(plan, available_bytes=100_000_000)


# --- decoding no more than was planned ----------------------------------------------------------

def clip_with_audio(folder, frames: int = 24, fps: float = 8.0, rate: int = 8000):
    """Frames with a tone under them, as long as the frames."""
    path = str(folder / "with-audio.mp4")
    tone = np.full((2, int(frames / fps * rate)), 0.25, dtype=np.float32)
    vio.encode_video([np.zeros((48, 64, 3), np.uint8)] * frames, path, vio.EncodeOptions(frame_rate=fps), audio=(tone, rate))
    return path


@pytest.mark.parametrize("lie, request_, planned", [
    ({"duration": 0.5}, {"force_rate": 24.0}, 12),  # a shorter duration: resampled frames
    ({"frame_count": 5}, {}, 5),  # fewer frames: passed through as they are
])
def test_decoding_stops_at_the_plan_whatever_the_file_turns_out_to_hold(tmp_path, lie, request_, planned):
    """However the facts were got wrong, no more frames or audio come out than the memory check saw."""
    path = clip_with_audio(tmp_path)
    source = dataclasses.replace(vio.probe(path), audio_duration=0.25, **lie)
    plan = vio.plan_load(source, vio.LoadRequest(**request_))
    assert plan.expected_frames == planned
    assert len(vio.load_frames(plan)) == planned
    assert len(list(vio.stream_frames(plan))) == planned
    waveform, rate = vio.load_audio(plan, planned)
    assert waveform.shape == (2, rate // 4)


def test_the_memory_check_counts_the_audio(tmp_path):
    """24 frames of 64x48 (0.88 MB) fit in 32 frames' worth of memory; with 3 s of 48 kHz stereo
    audio (1.15 MB) they do not, and neither does the audio alone when a VAE takes the frames."""
    path = clip_with_audio(tmp_path, rate=48000)
    plan = vio.plan_load(vio.probe(path), vio.LoadRequest())
    frame_bytes = 64 * 48 * 3 * 4
    vio.check_memory(plan, available_bytes=100 * frame_bytes)
    with pytest.raises(VideoIOError, match=r"24 frames at 64x48 and 3\.0 s of audio need 0\.0 GB as a float32 IMAGE and "
                                           r"AUDIO but .* about 11 frames fit\. Set frame_load_cap to 11 or less, raise"):
        vio.check_memory(plan, available_bytes=32 * frame_bytes)
    with pytest.raises(VideoIOError, match=r": 3\.0 s of audio need 0\.0 GB as AUDIO .* frame_load_cap to 19 or less\.$"):
        vio.check_memory(plan, available_bytes=32 * frame_bytes, images=False)
