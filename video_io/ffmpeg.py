"""Finding and running the ffmpeg binary.

Rewind ships no ffmpeg of its own: it uses $REWIND_FFMPEG_PATH, else the binary bundled with the
imageio-ffmpeg wheel (a recent static build with x264/x265/vpx/webp), else ffmpeg on PATH. Too-old
builds are refused up front, because they silently ignore the colour options we rely on.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

MIN_FFMPEG_MAJOR = 5  # scale's in_/out_color_matrix + setparams colour fields, -fps_mode


class VideoIOError(ValueError):
    """A problem with a video file or request, worded for the person who can fix it."""


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


def run_ffmpeg(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs ffmpeg to completion, capturing bytes (stdout may be raw media)."""
    return subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", *args], capture_output=True, timeout=timeout)


def stderr_tail(stderr: bytes, lines: int = 6) -> str:
    """The last lines of ffmpeg's log: where it says what went wrong."""
    return "\n".join(stderr.decode("utf-8", "replace").strip().splitlines()[-lines:])
