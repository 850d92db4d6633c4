"""ComfyUI's own VIDEO type into the loaders and out of Video Combine.

In: the loaders decode a VIDEO themselves, so their options, plan, memory check and Cancel apply as to
any file. A VideoFromFile (core Load Video, most other packs) is read from its file, which must lie where
RewindLoadVideoPath may read (the same refusal), or from its in-memory bytes copied to a private scratch
file; any other VIDEO (Create Video's frames) gives its frames, audio and rate, which become a lossless
scratch file. Out: Video Combine's file as a VideoFromFile, so Save Video and Get Video Components read it.

Only what every supported ComfyUI has is called: `get_components` (0.3.31) and `get_stream_source`
(0.3.48). A trimmed VideoFromFile (Trim Video, 0.14+) is read through its components, which honour
the trim; see `trim_window` for how a trim is found in each version.
"""
from __future__ import annotations

import contextlib
import math
import os
import reprlib
import shutil
import tempfile
from typing import Iterator

from comfy_execution.graph_utils import ExecutionBlocker

from .. import video_io
from ..video_io import VideoIOError
from .api import api
from .folders import confined_video_path
from .frames import audio_array, to_uint8
from .interrupt import stop_requested

VideoInput = api.Input.Video
VideoFromFile = api.InputImpl.VideoFromFile

# Formats whose file ComfyUI's own video nodes cannot read, and why.
NOT_A_CORE_VIDEO = {
    "image/png-sequence": "writes a folder of PNG files, not one video file",
    "image/webp": "writes animated WebP, which ComfyUI's video decoder (PyAV) cannot read",
}


# --- in -----------------------------------------------------------------------------------------

SCRATCH_NAMES = ("video", "frames.mkv")  # a VideoFromFile's bytes; a VIDEO's frames


@contextlib.contextmanager
def video_file(video, input_name: str) -> Iterator[str]:
    """A local file holding the VIDEO `video`, for the loaders' own decode: the file behind it when there is
    one and it is whole, else a lossless copy of its frames, audio and rate. Errors about a scratch copy name
    `input_name`, never the copy's server path."""
    if not isinstance(video, VideoInput):
        raise VideoIOError(f"{input_name} takes a VIDEO output (Load Video, Create Video...), not {reprlib.repr(video)}.")
    with tempfile.TemporaryDirectory(prefix="rewind-video-", ignore_cleanup_errors=True) as scratch:
        try:
            path = file_behind(video, input_name, os.path.join(scratch, SCRATCH_NAMES[0]))
            if path is None or trim_window(video) != (0, 0):
                path = lossless_copy(video.get_components(), os.path.join(scratch, SCRATCH_NAMES[1]), input_name)
            yield path
        except VideoIOError as error:
            text = str(error)
            for name in SCRATCH_NAMES:
                text = text.replace(repr(os.path.join(scratch, name)), input_name)
            if text == str(error):
                raise
            raise VideoIOError(text) from error


def file_behind(video, input_name: str, copy_path: str) -> str | None:
    """The file a VideoFromFile reads, refused like a typed path outside the allowed folders, or its
    in-memory bytes copied to `copy_path`; either is checked before anything decodes it (playlists,
    devices). None for a VIDEO of any other kind."""
    if not isinstance(video, VideoFromFile):
        return None
    source = video.get_stream_source()
    if isinstance(source, (str, os.PathLike)):
        path = confined_video_path(os.fspath(source), input_name)
    else:
        path = copy_path
        with open(path, "wb") as copy:
            shutil.copyfileobj(source, copy)
    video_io.check_local_video_file(path)
    return path


def trim_window(video) -> tuple[float, float]:
    """(start, duration) of a Trim Video window on the file behind `video`; (0, 0) when it is whole.
    ComfyUI 0.23+ says so through get_active_trim_window; 0.14-0.22 keep the window only in
    VideoFromFile's private fields; before 0.14 there is no trimming."""
    if hasattr(video, "get_active_trim_window"):
        return tuple(video.get_active_trim_window())
    return getattr(video, "_VideoFromFile__start_time", 0), getattr(video, "_VideoFromFile__duration", 0)


def lossless_copy(components, path: str, input_name: str) -> str:
    """A VIDEO's frames (8-bit, as the loaders read every file), its audio and its rate, written without
    further loss to `path`: the loaders then take what they select from it, as from any file."""
    images = components.images
    if images.ndim != 4 or 0 in images.shape:
        raise VideoIOError(f"{input_name}: the connected VIDEO has no frames.")
    rate = float(components.frame_rate)
    if not (math.isfinite(rate) and rate > 0):
        raise VideoIOError(f"{input_name}: the connected VIDEO has no usable frame rate ({rate}).")
    frames = (to_uint8(frame) for frame in images)
    return video_io.write_lossless(frames, path, rate, audio_array(components.audio), stop_requested)


# --- out ----------------------------------------------------------------------------------------

def saved_video(path: str, fmt: str):
    """The written file as ComfyUI's VIDEO, file-backed so core's video nodes read it; for a format they
    cannot read, a blocker whose message shows on whichever node the output feeds."""
    if fmt in NOT_A_CORE_VIDEO:
        return ExecutionBlocker(f"the video output of Video Combine is empty: {fmt} {NOT_A_CORE_VIDEO[fmt]}. Choose a "
                                "video format (video/h264-mp4, video/webm, video/ProRes...) or image/gif to use it.")
    return VideoFromFile(path)
