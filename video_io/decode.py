"""Streaming decode: ffmpeg does rate change, frame selection, resize and the YUV->RGB conversion
(with the file's own colour matrix and range, stated explicitly), and hands over one uint8 RGB
frame at a time through a pipe, so only the requested output ever sits in memory."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..presets import LOAD_PRESETS
from .checks import Limit, check_choice, check_number
from .ffmpeg import StopCheck, VideoIOError, input_args, never_stop, stderr_tail, streaming_run
from .probe import SCALE_MATRICES, VideoProbe


@dataclass(frozen=True)
class ModelPreset:
    size_multiple: int  # width and height are rounded to this
    fps: float  # 0: keep the source rate unless force_rate says otherwise
    frame_group: int  # frame counts become k * frame_group + 1 (1: any count)


MODEL_PRESETS = {
    "none": ModelPreset(1, 0.0, 1),
    **{label: ModelPreset(model.size_multiple, model.fps, model.frame_group) for label, model in LOAD_PRESETS.items()},
}
RESIZE_MODES = ("crop", "pad", "stretch")
FIT_HEADROOM = 0.8  # leave a fifth of free RAM to everything else in the workflow


# The loaders' numeric inputs: the node schemas take their min/max from here, and plan_load checks
# them again (NaN, inf and API prompts get past ComfyUI's own checks).
LOAD_LIMITS = {
    "force_rate": Limit(0.0, 240.0, "0 keeps the file's rate"),
    "custom_width": Limit(0, 8192, "0 keeps the source width"),
    "custom_height": Limit(0, 8192, "0 keeps the source height"),
    "frame_load_cap": Limit(0, 1_000_000, "0 loads all frames"),
    "skip_first_frames": Limit(0, 1_000_000, "0 skips none"),
    "select_every_nth": Limit(1, 1000, "1 keeps every frame"),
}


@dataclass(frozen=True)
class LoadRequest:
    force_rate: float = 0.0
    custom_width: int = 0
    custom_height: int = 0
    frame_load_cap: int = 0
    skip_first_frames: int = 0
    select_every_nth: int = 1
    model_preset: str = "none"
    resize_mode: str = "crop"


@dataclass(frozen=True)
class LoadPlan:
    """Everything decided before decoding starts."""

    source: VideoProbe
    rate: float  # frame rate after force_rate/preset, before select_every_nth
    width: int
    height: int
    expected_frames: int  # the most that is decoded: exact for even-rate video at its own rate
    exact: bool  # frames pass through as they are; else ffmpeg's fps filter resamples time
    frame_group: int
    resize_mode: str
    skip_first_frames: int
    select_every_nth: int

    @property
    def fps(self) -> float:
        """Playback rate of the loaded frames: every nth frame kept means 1/n the rate."""
        return self.rate / self.select_every_nth

    @property
    def start_time(self) -> float:
        return self.skip_first_frames / self.rate


def round_to_multiple(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def target_size(source_w: int, source_h: int, custom_w: int, custom_h: int, multiple: int) -> tuple[int, int]:
    """Output size: custom sizes win, a 0 side follows the source aspect, both snap to the multiple."""
    if custom_w and not custom_h:
        custom_h = source_h * custom_w / source_w
    elif custom_h and not custom_w:
        custom_w = source_w * custom_h / source_h
    width, height = (custom_w, custom_h) if custom_w else (source_w, source_h)
    return round_to_multiple(width, multiple), round_to_multiple(height, multiple)


def frames_after_selection(available: int, skip: int, nth: int, cap: int, group: int) -> int:
    """How many frames a request yields from `available` frames, counts trimmed to k*group+1."""
    count = max(0, math.ceil((available - skip) / nth))
    if cap:
        count = min(count, cap)
    return trim_to_group(count, group)


def trim_to_group(count: int, group: int) -> int:
    return count if group <= 1 or count == 0 else ((count - 1) // group) * group + 1


def check_request(request: LoadRequest) -> None:
    """Every input of a load request, each refused with its name, range and meaning."""
    for name, limit in LOAD_LIMITS.items():
        check_number(name, getattr(request, name), limit, whole=name != "force_rate")
    check_choice("model_preset", request.model_preset, MODEL_PRESETS)
    check_choice("resize_mode", request.resize_mode, RESIZE_MODES)


def plan_load(source: VideoProbe, request: LoadRequest) -> LoadPlan:
    """Validates a request against the file and fixes sizes, rate and frame count. Variable-rate
    video is resampled to a constant rate (its average, unless forced) so it keeps its duration."""
    check_request(request)
    preset = MODEL_PRESETS[request.model_preset]
    rate = request.force_rate or preset.fps or source.fps
    exact = source.constant_rate and math.isclose(rate, source.fps, rel_tol=1e-6)
    available = source.frame_count if exact else math.floor(source.duration * rate + 0.5)
    width, height = target_size(source.width, source.height, request.custom_width, request.custom_height, preset.size_multiple)
    expected = frames_after_selection(available, request.skip_first_frames, request.select_every_nth,
                                      request.frame_load_cap, preset.frame_group)
    if expected == 0:
        raise VideoIOError(
            f"no frames selected from {source.path!r}: it has {available} frames at {rate:g} fps, and "
            f"skip_first_frames={request.skip_first_frames}, select_every_nth={request.select_every_nth}, "
            f"frame_load_cap={request.frame_load_cap} leave none. Lower skip_first_frames below {available}."
        )
    return LoadPlan(source=source, rate=rate, width=width, height=height, expected_frames=expected, exact=exact,
                    frame_group=preset.frame_group, resize_mode=request.resize_mode,
                    skip_first_frames=request.skip_first_frames, select_every_nth=request.select_every_nth)


AUDIO_SAMPLE_BYTES = 4  # float32, as ComfyUI's AUDIO holds it


def audio_span(plan: LoadPlan, frame_count: int) -> tuple[int, int]:
    """(first sample, sample count) of the audio under `frame_count` loaded frames, no longer
    than the file's audio: what load_audio decodes at most, and what check_memory counts."""
    source = plan.source
    rate = source.audio_sample_rate
    first = round(plan.start_time * rate)
    under_frames = round(frame_count * plan.select_every_nth / plan.rate * rate)
    in_file = max(0, math.ceil(source.audio_duration * rate) - first)
    return first, min(under_frames, in_file)


def audio_bytes(plan: LoadPlan, frame_count: int) -> int:
    return audio_span(plan, frame_count)[1] * plan.source.audio_channels * AUDIO_SAMPLE_BYTES


def check_memory(plan: LoadPlan, available_bytes: int, bytes_per_value: int = 4, images: bool = True) -> None:
    """Refuses up front a load whose IMAGE tensor and AUDIO would not fit, instead of swapping or
    being OOM-killed. `images=False` when a VAE takes the frames as they come: then only the
    audio stays whole."""
    frame_bytes = plan.width * plan.height * 3 * bytes_per_value if images else 0
    audio = audio_bytes(plan, plan.expected_frames)
    need = plan.expected_frames * frame_bytes + audio
    budget = int(available_bytes * FIT_HEADROOM)
    if need <= budget:
        return
    free = f"only {available_bytes / 1e9:.1f} GB of RAM is free"
    if frame_bytes > budget:
        raise VideoIOError(f"{plan.source.path!r}: one {plan.width}x{plan.height} frame needs {frame_bytes / 1e9:.1f} GB "
                           f"as a float32 IMAGE but {free}. Lower custom_width/custom_height.")
    fit = budget // (frame_bytes + math.ceil(audio / plan.expected_frames))
    loaded, held, fixes = [], [], f"Set frame_load_cap to {fit} or less"
    if images:
        loaded.append(f"{plan.expected_frames} frames at {plan.width}x{plan.height}")
        held.append("a float32 IMAGE")
        fixes += ", raise select_every_nth, lower custom_width/custom_height, or connect a vae to encode straight to latents"
    if audio:
        loaded.append(f"{audio_span(plan, plan.expected_frames)[1] / plan.source.audio_sample_rate:.1f} s of audio")
        held.append("AUDIO")
    raise VideoIOError(f"{plan.source.path!r}: {' and '.join(loaded)} need {need / 1e9:.1f} GB as {' and '.join(held)} "
                       f"but {free}; about {fit} frames fit. {fixes}.")


YUV_PIX_FMT_PREFIXES = ("yuv", "nv", "p01", "p21", "p41", "y21", "y41", "uyv", "yuyv", "yvyu", "gray", "ya")


def input_colour(source: VideoProbe) -> tuple[str, str] | None:
    """(matrix, range) the file was encoded with; None for RGB and palette sources (gif, png, webp
    as libwebp decodes it), which need no conversion. Untagged video is read as bt709 like browsers
    do, so what loads matches what the ComfyUI preview showed; untagged yuvj formats are full range."""
    if not source.pix_fmt.startswith(YUV_PIX_FMT_PREFIXES):
        return None
    matrix = SCALE_MATRICES.get(source.color_matrix or "", "bt709")
    color_range = source.color_range or ("pc" if source.pix_fmt.startswith("yuvj") else "tv")
    return matrix, color_range


def scale_options(source: VideoProbe) -> str:
    """Colour options for the scale filter. RGB input gets none: ffmpeg 9 squeezes RGB into TV range
    when told in_range=pc for it."""
    colour = input_colour(source)
    stated = f"in_color_matrix={colour[0]}:in_range={colour[1]}:out_range=pc:" if colour else ""
    return stated + "flags=accurate_rnd+full_chroma_int+bilinear"


def resize_filters(plan: LoadPlan, options: str) -> list[str]:
    """Scale (with the colour conversion folded in) plus crop/pad when the aspect ratio changes."""
    size = f"w={plan.width}:h={plan.height}"
    if plan.resize_mode == "crop":
        return [f"scale={size}:force_original_aspect_ratio=increase:{options}", f"crop={plan.width}:{plan.height}"]
    if plan.resize_mode == "pad":
        return [f"scale={size}:force_original_aspect_ratio=decrease:{options}",
                f"pad={plan.width}:{plan.height}:(ow-iw)/2:(oh-ih)/2"]
    return [f"scale={size}:{options}"]


def decode_filters(plan: LoadPlan) -> str:
    chain = [] if plan.exact else [f"fps={plan.rate:.6f}"]
    if plan.skip_first_frames or plan.select_every_nth > 1:
        skip, nth = plan.skip_first_frames, plan.select_every_nth
        chain.append(f"select='gte(n\\,{skip})*not(mod(n-{skip}\\,{nth}))'")
    return ",".join([*chain, *resize_filters(plan, scale_options(plan.source)), "format=rgb24"])


def decode_args(plan: LoadPlan) -> list[str]:
    return ["-loglevel", "error", *input_args(plan.source.path), "-map", "0:v:0", "-vf", decode_filters(plan),
            "-fps_mode", "passthrough", "-frames:v", str(plan.expected_frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]


def trim_stream(frames: Iterator[np.ndarray], group: int) -> Iterator[np.ndarray]:
    """Passes frames on in whole groups so the count always ends at k*group+1, holding back at
    most group-1 frames (the stream's length is unknown until ffmpeg stops)."""
    pending = []
    for index, frame in enumerate(frames):
        pending.append(frame)
        if index % group == 0:
            yield from pending
            pending.clear()


def _raw_frames(plan: LoadPlan, should_stop: StopCheck) -> Iterator[np.ndarray]:
    """At most the planned frames, however many the file turns out to hold: the plan (and the
    memory check made from it) bounds what is decoded, not ffmpeg's word."""
    frame_bytes = plan.width * plan.height * 3
    yielded = 0
    with streaming_run(decode_args(plan), should_stop, f"decoding {plan.source.path!r}") as (run, log):
        while yielded < plan.expected_frames and run.stop_reason is None:
            raw = bytearray(frame_bytes)
            if run.read_into(raw) < frame_bytes:
                break
            yielded += 1
            yield np.frombuffer(raw, dtype=np.uint8).reshape(plan.height, plan.width, 3)
        if yielded == 0 and run.stop_reason is None:
            returncode = run.wait()
            log.seek(0)
            raise VideoIOError(f"ffmpeg decoded no frames from {plan.source.path!r} (exit {returncode}): "
                               f"{stderr_tail(log.read())}")


def stream_frames(plan: LoadPlan, should_stop: StopCheck = never_stop) -> Iterator[np.ndarray]:
    """Yields the planned frames as (H, W, 3) uint8 RGB, one at a time, in counts of k*group+1;
    raises VideoIOCancelled soon after should_stop() turns true."""
    return trim_stream(_raw_frames(plan, should_stop), plan.frame_group)


def load_frames(plan: LoadPlan, should_stop: StopCheck = never_stop) -> np.ndarray:
    """The whole request as one float32 (N, H, W, 3) array in [0, 1], filled frame by frame so the
    only full-size allocation is the result itself."""
    frames = np.empty((plan.expected_frames, plan.height, plan.width, 3), dtype=np.float32)
    count = 0
    for count, frame in enumerate(stream_frames(plan, should_stop), start=1):
        np.divide(frame, 255.0, out=frames[count - 1], dtype=np.float32)
    return frames[:count]


AUDIO_CHUNK_SAMPLES = 1 << 16


def load_audio(plan: LoadPlan, frame_count: int, should_stop: StopCheck = never_stop) -> tuple[np.ndarray, int] | None:
    """The audio under the loaded frames as float32 (channels, samples) and its sample rate;
    None when the file has no audio track. Streamed into the result, and never more samples
    than audio_span planned."""
    source = plan.source
    if not source.audio_channels:
        return None
    channels, rate = source.audio_channels, source.audio_sample_rate
    first, count = audio_span(plan, frame_count)
    waveform = np.empty((channels, count), dtype=np.float32)
    chunk = np.empty((AUDIO_CHUNK_SAMPLES, channels), dtype=np.float32)
    # atrim counts decoded samples, so encoder priming cannot shorten the span (input -ss/-t can)
    args = ["-loglevel", "error", *input_args(source.path), "-map", "0:a:0",
            "-af", f"atrim=start_sample={first}:end_sample={first + count}",
            "-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    filled = 0
    with streaming_run(args, should_stop, f"decoding the audio of {source.path!r}") as (run, log):
        while filled < count and run.stop_reason is None:
            wanted = chunk[: min(AUDIO_CHUNK_SAMPLES, count - filled)]
            got = run.read_into(wanted) // (channels * AUDIO_SAMPLE_BYTES)
            waveform[:, filled:filled + got] = wanted[:got].T
            filled += got
            if got < len(wanted):
                break
        if filled < count and run.stop_reason is None and run.wait() != 0:
            log.seek(0)
            raise VideoIOError(f"cannot decode the audio of {source.path!r}: {stderr_tail(log.read())}")
    return waveform[:, :filled], rate


def video_info(plan: LoadPlan, frame_count: int) -> dict:
    """Source and loaded properties side by side, for downstream nodes (e.g. a Combine at the same rate)."""
    source = plan.source
    return {
        "source_fps": source.fps, "source_frame_count": source.frame_count, "source_duration": source.duration,
        "source_width": source.width, "source_height": source.height,
        "loaded_fps": plan.fps, "loaded_frame_count": frame_count, "loaded_duration": frame_count / plan.fps,
        "loaded_width": plan.width, "loaded_height": plan.height,
    }
