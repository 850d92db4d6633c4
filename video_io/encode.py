"""Streaming encode: uint8 RGB frames go to ffmpeg's stdin one at a time (the caller converts
each frame as it is asked for, so no uint8 copy of the whole clip ever exists), with audio muxed
in the same pass and the workflow embedded in the container.

Everything is written under a hidden partial name of its own in the destination folder and moved
into place only when complete, and only onto a free name: a cancelled or failed encode never leaves
a file that looks like a result, and a finished one never replaces a file (two jobs writing under
one prefix at once included)."""
from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import metadata as meta
from .checks import Limit, check_choice, check_number
from .ffmpeg import FFmpegRun, StopCheck, VideoIOCancelled, VideoIOError, never_stop, stderr_tail

BT709_TAGS = ("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv")


@dataclass(frozen=True)
class FormatSpec:
    extension: str
    muxer: str  # named explicitly: the partial file's name says nothing about the format
    codec_args: tuple[str, ...]
    pix_fmts: tuple[str, ...]  # the first is the default
    colour_matrix: str | None  # YUV formats: the matrix written (and tagged); None for RGB/palette output
    crf_max: int | None  # None: the codec has no crf
    audio_codec: str | None  # None: the container cannot carry audio
    loops: bool = False  # gif/webp: honours loop_count
    extra_args: tuple[str, ...] = field(default=())
    browser_plays: bool = True  # False: the UI preview needs an h264 copy (browsers cannot decode ProRes)
    min_side: int = 1  # the encoder refuses smaller frames


FORMATS = {
    "image/gif": FormatSpec("gif", "gif", ("-c:v", "gif"), ("pal8",), None, None, None, loops=True),
    "image/webp": FormatSpec("webp", "webp", ("-c:v", "libwebp_anim", "-lossless", "0"), ("yuv420p",), "bt601", 100, None, loops=True),
    "video/h264-mp4": FormatSpec("mp4", "mp4", ("-c:v", "libx264", "-preset", "medium"), ("yuv420p", "yuv444p", "yuv420p10le"),
                                 "bt709", 51, "aac", extra_args=("-movflags", "+faststart+use_metadata_tags")),
    "video/h265-mp4": FormatSpec("mp4", "mp4", ("-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"),
                                 ("yuv420p", "yuv444p", "yuv420p10le"), "bt709", 51, "aac",
                                 extra_args=("-movflags", "+faststart+use_metadata_tags"), min_side=16),
    "video/webm": FormatSpec("webm", "webm", ("-c:v", "libvpx-vp9", "-b:v", "0", "-row-mt", "1"),
                             ("yuv420p", "yuv444p", "yuv420p10le"), "bt709", 63, "libopus"),
    "video/ProRes": FormatSpec("mov", "mov", ("-c:v", "prores_ks"), ("yuv422p10le", "yuv444p10le"), "bt709", None, "pcm_s16le",
                               extra_args=("-movflags", "+faststart+use_metadata_tags"), browser_plays=False),
    "image/png-sequence": FormatSpec("png", "", (), ("rgb24",), None, None, None),
}
PIX_FMT_CHOICES = ("auto", *dict.fromkeys(p for spec in FORMATS.values() for p in spec.pix_fmts))


@dataclass(frozen=True)
class EncodeOptions:
    format: str = "video/h264-mp4"
    frame_rate: float = 8.0
    crf: int = 19
    pix_fmt: str = "auto"
    loop_count: int = 0  # gif/webp: 0 loops forever


# Video Combine's numeric inputs: the node schema takes its min/max from here, check_options again.
ENCODE_LIMITS = {
    "frame_rate": Limit(0.1, 240.0, "frames per second of the written file"),
    "crf": Limit(0, 100, "lower is better quality"),
    "loop_count": Limit(0, 100, "0 loops forever"),
}


def format_spec(name: str) -> FormatSpec:
    check_choice("format", name, FORMATS)
    return FORMATS[name]


def check_options(options: EncodeOptions) -> None:
    """Every encode option, each refused with its name, range and meaning, before any work."""
    for name, limit in ENCODE_LIMITS.items():
        check_number(name, getattr(options, name), limit, whole=name != "frame_rate")
    check_choice("pix_fmt", options.pix_fmt, PIX_FMT_CHOICES)
    spec = format_spec(options.format)
    if spec.crf_max is not None and options.crf > spec.crf_max:
        raise VideoIOError(f"crf {options.crf} is out of range for {options.format}: use 0 to {spec.crf_max} (lower is better quality).")
    resolve_pix_fmt(options)


def resolve_pix_fmt(options: EncodeOptions) -> str:
    """The pixel format to write: 'auto' picks the format's default; others must suit the format."""
    spec = format_spec(options.format)
    if options.pix_fmt == "auto":
        return spec.pix_fmts[0]
    if options.pix_fmt not in spec.pix_fmts:
        raise VideoIOError(f"pix_fmt {options.pix_fmt!r} does not work with {options.format}; "
                           f"choose 'auto' or one of {list(spec.pix_fmts)}.")
    return options.pix_fmt


def check_filename_prefix(prefix) -> None:
    """An output name must stay inside the output folder (no absolute path, no '..') and hold no
    control characters: a line break or escape in a file name breaks listings, logs and scripts."""
    parts = str(prefix).replace("\\", "/").split("/")
    if not isinstance(prefix, str) or not prefix.strip() or os.path.isabs(prefix) or ".." in parts:
        raise VideoIOError(f"filename_prefix {prefix!r} must name a file inside the output folder: use a relative name "
                           "like 'Rewind/clip' without '..'.")
    if any(unicodedata.category(character) == "Cc" for character in prefix):
        raise VideoIOError(f"filename_prefix {prefix!r} contains control characters (line breaks, tabs, escapes), which "
                           "would end up in the file name; remove them.")


def pingpong_order(count: int) -> list[int]:
    """Frame indices forward then back without repeating either end: 2N-2 frames (N for N < 2)."""
    return list(range(count)) + list(range(count - 2, 0, -1))


def video_filter(spec: FormatSpec, pix_fmt: str) -> str:
    if spec.extension == "gif":  # a palette per frame: constant memory, unlike a two-pass global palette
        return "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1"
    if spec.colour_matrix is None:  # RGB stays RGB: no matrix, no range change
        return f"format={pix_fmt}"
    even = "pad=ceil(iw/2)*2:ceil(ih/2)*2"  # chroma subsampling needs even sizes: pad, never fail
    scale = f"scale=out_color_matrix={spec.colour_matrix}:out_range=tv:flags=accurate_rnd+full_chroma_int"
    tags = f"setparams=colorspace={spec.colour_matrix}:color_primaries={spec.colour_matrix}:color_trc={spec.colour_matrix}:range=tv"
    return ",".join([even, scale, f"format={pix_fmt}", tags if spec.colour_matrix == "bt709" else "null"])


def quality_args(spec: FormatSpec, options: EncodeOptions, pix_fmt: str) -> list[str]:
    if spec.extension == "webp":
        return ["-quality", str(100 - options.crf)]
    if spec.extension == "mov":
        return ["-profile:v", "4" if pix_fmt.startswith("yuv444") else "3"]
    return ["-crf", str(options.crf)] if spec.crf_max is not None else []


def encode_args(spec: FormatSpec, options: EncodeOptions, pix_fmt: str, width: int, height: int, path: str,
                audio_input: tuple[str, int, int] | None, metadata_file: str | None) -> list[str]:
    command = ["-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-framerate", repr(float(options.frame_rate)), "-i", "-"]
    maps = ["-map", "0:v"]
    if audio_input:
        audio_path, sample_rate, channels = audio_input
        command += ["-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels), "-i", audio_path]
        maps += ["-map", "1:a", "-c:a", spec.audio_codec]
    if metadata_file:
        command += ["-f", "ffmetadata", "-i", metadata_file]
        maps += ["-map_metadata", str(1 + bool(audio_input))]
    loop = ["-loop", str(options.loop_count)] if spec.loops else []
    tags = list(BT709_TAGS) if spec.colour_matrix == "bt709" else []
    return [*command, *maps, "-vf", video_filter(spec, pix_fmt), *spec.codec_args,
            *quality_args(spec, options, pix_fmt), *tags, *loop, *spec.extra_args, "-fps_mode", "passthrough",
            "-f", spec.muxer, path]


def preview_output_args(preview_path: str) -> list[str]:
    """A second output of the same ffmpeg run: a small h264 copy the browser can play."""
    spec = FORMATS["video/h264-mp4"]
    return ["-map", "0:v", "-vf", video_filter(spec, "yuv420p"), *spec.codec_args, "-crf", "28", *BT709_TAGS,
            "-fps_mode", "passthrough", "-movflags", "+faststart", "-f", "mp4", preview_path]


def _first_and_rest(frames: Iterable[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise VideoIOError("no frames to encode: the images input is empty.")
    return first, iterator


def _checked(frame: np.ndarray, shape: tuple[int, ...], index: int) -> np.ndarray:
    if frame.shape != shape or frame.dtype != np.uint8:
        raise VideoIOError(f"frame {index} is {frame.dtype}{tuple(frame.shape)}, expected uint8{shape}: "
                           "all frames of one video must have the same size (resize them first).")
    return frame


def trimmed_audio(waveform: np.ndarray, sample_rate: int, duration: float) -> np.ndarray:
    """Audio cut to the video's length, so the file's duration stays N/fps."""
    return waveform[:, : int(round(duration * sample_rate))]


# --- where results go: a partial name of their own, then the first free name ---------------------

PARTIAL_SUFFIX = ".partial"
PARTIAL_NAME_CHARS = 48  # of a result's name, kept in its partial's: the random part and suffix must fit too


@dataclass(frozen=True)
class NumberedName:
    """A result's place under ComfyUI's numbering, `folder/{stem}_{counter:05}_{tail}`. The counter is where the
    search starts, not a promise: the finished result takes the first number free at that moment, so two jobs
    under one prefix (or a counter ComfyUI misread) never replace each other's files, nor anyone else's."""

    folder: str
    stem: str
    counter: int
    tail: str  # ".mp4", "preview.mp4"; "" for a folder of frames

    def paths(self) -> Iterator[str]:
        for counter in itertools.count(self.counter):
            yield os.path.join(self.folder, f"{self.stem}_{counter:05}_{self.tail}")


Target = str | NumberedName  # a plain path has one name only: if it is taken, publishing is a FileExistsError


def target_paths(target: Target) -> Iterator[str]:
    return iter([target]) if isinstance(target, str) else target.paths()


def new_partial(path: str, folder: bool) -> str:
    """A hidden name beside `path` that no other job shares (created here, exclusively) for the result while it
    is written. Its mode follows the umask, as ffmpeg's own files do (mkstemp's 0600 would hide results from the
    server's other users)."""
    directory, name = os.path.split(path)
    partial = os.path.join(directory, f".{name[:PARTIAL_NAME_CHARS]}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    if folder:
        os.mkdir(partial)
    else:
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return partial


def check_name(path: str) -> None:
    """Raises now, before any encoding, what moving a result to `path` would raise at the end: a name too long
    for the file system, a folder on the way that is a file."""
    with contextlib.suppress(FileNotFoundError):
        os.lstat(path)


def discard(path: str) -> None:
    """Removes a partial result. Its own failure is ignored, so it never hides the error that made the result
    partial (a leftover stays hidden by its leading dot)."""
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def claim(partial: str, path: str) -> None:
    """Moves the finished `partial` to `path` only if nothing is there (FileExistsError otherwise). A POSIX rename
    replaces, so the name is first taken by an exclusive create (mkdir for a folder) and only that empty
    placeholder is replaced; Windows' rename never replaces."""
    if os.name == "nt":
        os.rename(partial, path)
        return
    if os.path.isdir(partial):
        os.mkdir(path)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        os.replace(partial, path)
    except BaseException:
        discard(path)
        raise


def publish(partial: str, target: Target) -> str:
    """Moves the finished `partial` to the first free name of `target`; returns that name."""
    for path in target_paths(target):
        with contextlib.suppress(FileExistsError):
            claim(partial, path)
            return path
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)


@dataclass
class Pending:
    """A result being written: under `partial` until complete, then at `path`."""

    target: Target
    partial: str
    path: str | None = None


@contextlib.contextmanager
def written_atomically(*targets: Target, folder: bool = False) -> Iterator[list[Pending]]:
    """Yields a partial name for each of `targets`; when the block succeeds, moves each to a free name of its
    target (its Pending then says which), and removes the partials whatever else happens (error, cancel,
    KeyboardInterrupt)."""
    pending: list[Pending] = []
    try:
        for target in targets:
            first = next(target_paths(target))
            check_name(first)
            pending.append(Pending(target, new_partial(first, folder)))
        yield pending
        for item in pending:
            item.path = publish(item.partial, item.target)
    finally:
        for item in pending:
            if item.path is None:
                discard(item.partial)


# --- writing --------------------------------------------------------------------------------------

def encode_video(frames: Iterable[np.ndarray], path: Target, options: EncodeOptions,
                 audio: tuple[np.ndarray, int] | None = None, metadata: dict | None = None,
                 preview_path: Target | None = None, should_stop: StopCheck = never_stop) -> list[str]:
    """Writes a video file from (H, W, 3) uint8 RGB frames; returns where it went (then its preview's name).
    `audio` is (float32 (channels, samples), sample rate), already cut to length (trimmed_audio);
    formats without audio ignore it. `preview_path` also writes an h264 preview in the same pass.
    Neither replaces an existing file (see NumberedName). Raises VideoIOCancelled soon after
    should_stop() turns true; nothing is left behind then."""
    spec = format_spec(options.format)
    check_options(options)
    if spec.extension == "png":
        raise VideoIOError("image/png-sequence writes a folder of files: use write_png_sequence.")
    first, rest = _first_and_rest(frames)
    height, width = first.shape[:2]
    if min(height, width) < spec.min_side:
        raise VideoIOError(f"{options.format} needs frames of at least {spec.min_side}x{spec.min_side} pixels; these are "
                           f"{width}x{height}. Upscale them first or choose video/h264-mp4.")
    targets = (path, preview_path) if preview_path else (path,)
    return _encode(spec, resolve_pix_fmt(options), options, first, rest, targets, audio, metadata, should_stop)


# What frames held in memory become to be read back like any file: FFV1 keeps 8-bit RGB exactly, float PCM the audio.
LOSSLESS = FormatSpec("mkv", "matroska", ("-c:v", "ffv1"), ("bgr0",), None, None, "pcm_f32le")


def write_lossless(frames: Iterable[np.ndarray], path: Target, frame_rate: float,
                   audio: tuple[np.ndarray, int] | None = None, should_stop: StopCheck = never_stop) -> str:
    """Writes frames (and audio) without loss, at `frame_rate`; returns where. For frames that exist only in
    memory, so they go through the same load plan, filters and checks as a file."""
    first, rest = _first_and_rest(frames)
    options = EncodeOptions(frame_rate=frame_rate)
    return _encode(LOSSLESS, LOSSLESS.pix_fmts[0], options, first, rest, (path,), audio, None, should_stop)[0]


def _encode(spec: FormatSpec, pix_fmt: str, options: EncodeOptions, first: np.ndarray, rest: Iterator[np.ndarray],
            targets: tuple[Target, ...], audio: tuple[np.ndarray, int] | None, metadata: dict | None,
            should_stop: StopCheck) -> list[str]:
    """One ffmpeg run writing `targets` (the file, then an optional h264 preview); returns where they went."""
    height, width = first.shape[:2]
    shown = next(target_paths(targets[0]))  # the name errors show
    with (tempfile.TemporaryDirectory(prefix="rewind-encode-", ignore_cleanup_errors=True) as scratch,  # never hides the error
          tempfile.TemporaryFile() as log, written_atomically(*targets) as pending):
        audio_input = None
        if audio is not None and spec.audio_codec is not None and audio[0].size:
            audio_path = os.path.join(scratch, "audio.f32")
            audio_input = (audio_path, audio[1], audio[0].shape[0])
            np.ascontiguousarray(audio[0].T, dtype=np.float32).tofile(audio_path)
        metadata_file = None
        if metadata and spec.extension not in ("gif", "webp"):
            metadata_file = os.path.join(scratch, "metadata.txt")
            Path(metadata_file).write_text(meta.ffmetadata_file_text(metadata), encoding="utf-8")
        args = encode_args(spec, options, pix_fmt, width, height, pending[0].partial, audio_input, metadata_file)
        args += preview_output_args(pending[1].partial) if len(pending) > 1 else []
        run = FFmpegRun(args, should_stop, stdin=subprocess.PIPE, stderr=log)
        try:
            _feed(run, itertools.chain([first], rest), first.shape)
        finally:
            returncode = run.finish()
        run.raise_if_stopped(f"writing {shown!r}")
        if returncode != 0:
            log.seek(0)
            raise VideoIOError(f"ffmpeg failed writing {shown!r}: {stderr_tail(log.read())}")
        _embed_after_encode(spec, pending[0].partial, metadata)
    return [item.path for item in pending]


def _feed(run: FFmpegRun, frames: Iterable[np.ndarray], shape: tuple[int, ...]) -> None:
    """Writes frames to ffmpeg's stdin until they run out or the run is stopped, then closes it and
    waits; a pipe ffmpeg closed early shows in its exit code."""
    stdin = run.process.stdin
    try:
        for index, frame in enumerate(frames):
            if run.stop_reason:
                break
            data = memoryview(np.ascontiguousarray(_checked(frame, shape, index)))
            with run.waiting():
                stdin.write(data)
    except BrokenPipeError:
        pass
    with contextlib.suppress(BrokenPipeError), run.waiting():
        stdin.close()
        run.process.wait()


def _embed_after_encode(spec: FormatSpec, path: str, metadata: dict | None) -> None:
    """gif and webp muxers take no tags from ffmpeg: add them to the finished file."""
    if not metadata or spec.extension not in ("gif", "webp"):
        return
    data = Path(path).read_bytes()
    embed = meta.add_gif_comment if spec.extension == "gif" else meta.add_webp_exif
    Path(path).write_bytes(embed(data, metadata))


def write_png_sequence(frames: Iterable[np.ndarray], folder: Target, metadata: dict | None = None,
                       should_stop: StopCheck = never_stop) -> list[str]:
    """One PNG per frame (frame_00001.png, ...), each carrying the workflow as tEXt, written into
    a partial folder moved into place (onto a free name) when complete; returns the frames' paths."""
    first, rest = _first_and_rest(frames)
    names = []
    with written_atomically(folder, folder=True) as (result,):
        for index, frame in enumerate(itertools.chain([first], rest)):
            if should_stop():
                raise VideoIOCancelled(f"cancelled while writing {next(target_paths(folder))!r}")
            names.append(f"frame_{index + 1:05d}.png")
            Path(result.partial, names[-1]).write_bytes(meta.encode_png(_checked(frame, first.shape, index), metadata))
    return [os.path.join(result.path, name) for name in names]
