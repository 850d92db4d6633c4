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
import tempfile
import threading
import time
from typing import BinaryIO, Callable, Iterator

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
# tee, lavfi and devices, which open other files or URLs, or never end; and image2, which reads
# a name with %d in it as a numbered sequence of other files (stills go to the *_pipe demuxers).
INPUT_DEMUXERS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm", "avi", "gif", "webp_anim", "webp_pipe", "apng",
                  "png_pipe", "jpeg_pipe", "mpegts", "mpeg", "mpegvideo", "m4v", "mjpeg", "dv", "flv", "asf",
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


HEAD_BYTES = 1024


def file_head(path: str) -> bytes:
    """The first bytes of a file, where formats say what they are."""
    with open(path, "rb") as file:
        return file.read(HEAD_BYTES)


def image_demuxer(head: bytes) -> str | None:
    """The demuxer for a still or animated image, judged by its content. ffmpeg would pick image2
    by the name's extension when the name holds %d, and read seq0.png, seq1.png... instead."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        idat = head.find(b"IDAT")
        return "apng" if b"acTL" in head[:idat if idat >= 0 else None] else "png_pipe"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg_pipe"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        flags = head[20:21]
        return "webp_anim" if head[12:16] == b"VP8X" and flags and flags[0] & 0x02 else "webp_pipe"
    return None


def input_args(path: str) -> list[str]:
    """`-i` for a local file, opened only as a file, by its literal name, and only by demuxers that
    read one finished file."""
    demuxer = image_demuxer(file_head(path))
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(INPUT_DEMUXERS),
            *(["-f", demuxer] if demuxer else []), "-i", "file:" + os.path.abspath(path)]


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

    def read_some(self, size: int = 1 << 16) -> bytes:
        """What ffmpeg has written to stdout so far, up to `size` bytes (b"" at its end); needs an
        unbuffered stdout (bufsize=0), else it waits for all `size` bytes."""
        with self.waiting():
            return self.process.stdout.read(size)

    def read_into(self, buffer) -> int:
        """Fills `buffer` (bytes-like) from ffmpeg's stdout; returns the bytes that came, fewer
        only at its end."""
        view, filled = memoryview(buffer).cast("B"), 0
        with self.waiting():
            while filled < len(view):
                got = self.process.stdout.readinto(view[filled:])
                if not got:
                    break
                filled += got
        return filled

    def wait(self) -> int:
        """Lets ffmpeg finish on its own (it may still be logging after its last output)."""
        with self.waiting():
            return self.process.wait()

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


@contextlib.contextmanager
def streaming_run(args: list[str], should_stop: StopCheck, doing: str) -> Iterator[tuple[FFmpegRun, BinaryIO]]:
    """ffmpeg with its stdout for the caller to read as it comes, and its log in a temporary file.
    On leaving, ffmpeg is stopped if still running (the caller had all it wanted) and reaped;
    then VideoIOCancelled / VideoIOError are raised if it was stopped for Cancel or a stall."""
    with tempfile.TemporaryFile() as log:
        run = FFmpegRun(args, should_stop, stdout=subprocess.PIPE, stderr=log, bufsize=0)
        try:
            yield run, log
        finally:
            run.process.stdout.close()
            run.finish()
        run.raise_if_stopped(doing)


def stderr_tail(stderr: bytes, lines: int = 6) -> str:
    """The last lines of ffmpeg's log, where it says what went wrong, on one line (errors are one line)."""
    return "; ".join(line.strip() for line in stderr.decode("utf-8", "replace").strip().splitlines()[-lines:])
