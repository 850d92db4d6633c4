"""Finding and running the ffmpeg binary.

Rewind ships no ffmpeg of its own: it uses $REWIND_FFMPEG_PATH, else the binary bundled with the
imageio-ffmpeg wheel (a recent static build with x264/x265/vpx/webp), else ffmpeg on PATH. Too-old
builds are refused up front, because they silently ignore the colour options we rely on.

Every run is bounded: ffmpeg gets its own process group and a watchdog thread that kills it when
the caller's `should_stop()` says so (ComfyUI's Cancel) or when it makes no progress for
$REWIND_FFMPEG_TIMEOUT seconds. Inputs are opened as local files only, by a short list of
demuxers that read one finished file (no playlists, concat lists, devices or network).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable

StopCheck = Callable[[], bool]

MIN_FFMPEG_MAJOR = 5  # scale's in_/out_color_matrix + setparams colour fields, -fps_mode


class VideoIOError(ValueError):
    """A problem with a video file or request, worded for the person who can fix it."""


class VideoIOCancelled(Exception):
    """The caller's should_stop() asked to stop: ffmpeg was killed and partial output removed."""


def never_stop() -> bool:
    return False


TIMEOUT_ENV = "REWIND_FFMPEG_TIMEOUT"
DEFAULT_STALL_SECONDS = 300.0
KILL_GRACE_SECONDS = 0.5  # after SIGTERM; ffmpeg blocked on input ignores it, so SIGKILL follows
WATCH_INTERVAL_SECONDS = 0.05
# Demuxers that read one finished local file. Left out on purpose: hls, dash, concat, sdp, rtsp,
# tee, lavfi and devices, which open other files or URLs, or never end.
INPUT_DEMUXERS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm", "avi", "gif", "webp_anim", "webp_pipe", "apng",
                  "png_pipe", "jpeg_pipe", "image2", "mpegts", "mpeg", "mpegvideo", "m4v", "mjpeg", "dv", "flv", "asf",
                  "ogg", "mxf", "ivf", "nut", "h264", "hevc", "yuv4mpegpipe", "wav", "mp3", "aac", "flac")


def ffmpeg_candidates() -> list[tuple[str, str]]:
    """(where it came from, path) in order of preference."""
    found = []
    override = os.environ.get("REWIND_FFMPEG_PATH")
    if override:
        found.append(("REWIND_FFMPEG_PATH", override))
    try:
        import imageio_ffmpeg

        found.append(("imageio-ffmpeg", imageio_ffmpeg.get_ffmpeg_exe()))
    except (ImportError, RuntimeError):
        pass
    on_path = shutil.which("ffmpeg")
    if on_path:
        found.append(("PATH", on_path))
    return found


def parse_ffmpeg_major(version_banner: str) -> int | None:
    """Major version from `ffmpeg -version`; None for git builds without a release number."""
    match = re.search(r"ffmpeg version n?(\d+)\.", version_banner)
    return int(match.group(1)) if match else None


@functools.lru_cache(maxsize=4)
def _checked_ffmpeg(candidates: tuple[tuple[str, str], ...]) -> str:
    if not candidates:
        raise VideoIOError(
            "ffmpeg not found: `pip install imageio-ffmpeg` (bundles a static ffmpeg), install ffmpeg on PATH, "
            "or set REWIND_FFMPEG_PATH to an ffmpeg binary."
        )
    source, path = candidates[0]
    try:
        banner = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30).stdout
    except OSError as err:
        raise VideoIOError(f"ffmpeg from {source} ({path}) cannot run: {err}. Point REWIND_FFMPEG_PATH at a working ffmpeg.") from err
    major = parse_ffmpeg_major(banner)
    if major is not None and major < MIN_FFMPEG_MAJOR:
        raise VideoIOError(
            f"ffmpeg from {source} ({path}) is version {major}; Rewind needs {MIN_FFMPEG_MAJOR} or newer for correct colours. "
            "Upgrade it or set REWIND_FFMPEG_PATH to a newer binary (imageio-ffmpeg bundles one)."
        )
    return path


def ffmpeg_path() -> str:
    """The ffmpeg binary to use; raises VideoIOError saying how to get one."""
    return _checked_ffmpeg(tuple(ffmpeg_candidates()[:1]))


def stall_seconds() -> float:
    """How long ffmpeg may go without progress before it counts as hung ($REWIND_FFMPEG_TIMEOUT)."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_STALL_SECONDS
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise VideoIOError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds above 0; unset it or set e.g. 300.")
    return value


def input_args(path: str) -> list[str]:
    """`-i` for a local file, opened only as a file and only by demuxers that read one finished file."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(INPUT_DEMUXERS),
            "-i", "file:" + os.path.abspath(path)]


class FFmpegRun:
    """One ffmpeg process in its own process group, watched by a thread that kills it when
    should_stop() is true, or when a `waiting()` block lasts longer than the stall limit (time the
    caller spends on its own work between frames is not counted)."""

    def __init__(self, args: list[str], should_stop: StopCheck = never_stop, **popen_kwargs):
        self.should_stop = should_stop
        self.stall_limit = stall_seconds()
        self.stop_reason: str | None = None  # "cancelled" or "stalled"
        self._waiting_since: float | None = None
        self.process = subprocess.Popen([ffmpeg_path(), "-hide_banner", "-nostdin", *args], start_new_session=True,
                                        **popen_kwargs)
        self._watcher = threading.Thread(target=self._watch, name="rewind-ffmpeg-watchdog", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while self.process.poll() is None:
            since = self._waiting_since
            if self._asked_to_stop():
                self.stop_reason = "cancelled"
            elif since is not None and time.monotonic() - since > self.stall_limit:
                self.stop_reason = "stalled"
            else:
                time.sleep(WATCH_INTERVAL_SECONDS)
                continue
            self.kill()
            return

    def _asked_to_stop(self) -> bool:
        try:
            return bool(self.should_stop())
        except Exception:  # a broken check must not leave ffmpeg running unwatched
            return True

    @contextlib.contextmanager
    def waiting(self):
        """Marks time spent waiting on ffmpeg, which the stall limit bounds."""
        self._waiting_since = time.monotonic()
        try:
            yield
        finally:
            self._waiting_since = None

    def kill(self) -> None:
        """SIGTERM to the whole group, SIGKILL after a short grace (Windows: TerminateProcess)."""
        for hard in (False, True):
            if self.process.poll() is not None:
                return
            with contextlib.suppress(OSError):  # already gone
                if hasattr(os, "killpg"):
                    os.killpg(self.process.pid, signal.SIGKILL if hard else signal.SIGTERM)
                else:
                    (self.process.kill if hard else self.process.terminate)()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(KILL_GRACE_SECONDS)

    def finish(self) -> int:
        """Kills ffmpeg if it is still running (the caller stopped early), reaps it and its watchdog."""
        self.kill()
        returncode = self.process.wait()
        self._watcher.join()
        return returncode

    def raise_if_stopped(self, doing: str) -> None:
        if self.stop_reason == "cancelled":
            raise VideoIOCancelled(f"cancelled while {doing}")
        if self.stop_reason == "stalled":
            raise VideoIOError(f"ffmpeg made no progress for {self.stall_limit:g} s while {doing} and was stopped "
                               f"(a stalled disk or input); try again, or ask the server owner to raise {TIMEOUT_ENV}.")


def run_ffmpeg(args: list[str], should_stop: StopCheck = never_stop, doing: str = "running ffmpeg") -> subprocess.CompletedProcess:
    """Runs ffmpeg to completion, capturing bytes (stdout may be raw media); the whole run counts
    against the stall limit. Raises VideoIOCancelled / VideoIOError when it was stopped."""
    run = FFmpegRun(args, should_stop, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with run.waiting():
            stdout, stderr = run.process.communicate()
    finally:
        returncode = run.finish()
    run.raise_if_stopped(doing)
    return subprocess.CompletedProcess(run.process.args, returncode, stdout, stderr)


def stderr_tail(stderr: bytes, lines: int = 6) -> str:
    """The last lines of ffmpeg's log, where it says what went wrong, on one line (errors are one line)."""
    return "; ".join(line.strip() for line in stderr.decode("utf-8", "replace").strip().splitlines()[-lines:])
