"""Context windows for long videos: which frames the model sees together, and how overlaps are fused.

Windows are a pure function of (number of frames, options), never of the step or sigma. So the
unsampler and the resampler see the same windows (their noise stays consistent with each other)
and every solver works, including those that evaluate the model at sigmas off the schedule (heun,
fixed-point inversion). This is where Rewind differs from ComfyUI core's context handler, whose
uniform schedules shift every step and look the step up by sigma.

Schedules (all lengths are in latent frames here; the node layer converts pixel frames):
  static   windows of `length` advancing by `length - overlap`; the last is pulled back to end on
           the last frame, so every window has full length.
  uniform  the static tiling plus, for `stride` > 1, dilated windows (every 2nd, 4th ... frame) that
           give the model a wider view of the clip. Fixed: the same tiling on every step.
  looped   like uniform, but windows wrap around the end to the start (for seamless loops);
           `closed_loop` adds the windows that join the last frames to the first.
  batched  non-overlapping chunks of `length` (the overlap is ignored); the last may be shorter.

Fuse weights: each window gives each of its positions a raw weight (flat, pyramid, relative tent,
or linear ramps over the overlap); they are normalised per frame so they sum to one.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

SCHEDULES = ("static", "uniform", "looped", "batched")
FUSE_METHODS = ("flat", "pyramid", "overlap-linear", "relative")
LAYOUT_AUTO = "auto"
LAYOUT_FRAME_BATCH = "frame batch (SD1.5/SDXL/AnimateDiff/Hotshot)"
LAYOUT_TEMPORAL = "Wan2.1 temporal axis"
LAYOUTS = (LAYOUT_AUTO, LAYOUT_FRAME_BATCH, LAYOUT_TEMPORAL)
TEMPORAL_COMPRESSION = 4  # Wan2.1's VAE: latent frame 0 is pixel frame 0, then 4 pixel frames per latent frame


@dataclass(frozen=True)
class ContextOptions:
    """What the user asked for; `length` and `overlap` are in pixel frames."""

    schedule: str = "static"
    length: int = 16
    overlap: int = 4
    stride: int = 1
    closed_loop: bool = False
    fuse_method: str = "pyramid"
    layout: str = LAYOUT_AUTO

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown context_schedule {self.schedule!r}: expected one of {SCHEDULES}.")
        if self.fuse_method not in FUSE_METHODS:
            raise ValueError(f"Unknown fuse_method {self.fuse_method!r}: expected one of {FUSE_METHODS}.")
        if self.layout not in LAYOUTS:
            raise ValueError(f"Unknown layout {self.layout!r}: expected one of {LAYOUTS}.")
        if self.length < 1 or self.stride < 1:
            raise ValueError(f"context_length ({self.length}) and context_stride ({self.stride}) must be at least 1.")
        if self.schedule != "batched" and not 0 <= self.overlap < self.length:
            raise ValueError(
                f"context_overlap ({self.overlap}) must be at least 0 and smaller than context_length ({self.length}); "
                "lower the overlap or raise the length."
            )


@dataclass(frozen=True)
class ContextPlan:
    """Windows (frame indices in the order the model sees them) and their fuse weights.

    `weights[w, f]` is window w's share of frame f; each column sums to one.
    """

    windows: tuple[tuple[int, ...], ...]
    weights: torch.Tensor  # (len(windows), num_frames), float64


def resolve_frame_axis(layout: str, latent_ndim: int) -> int:
    """Axis of time in the latent: 0 for a frame batch (B,C,H,W), 2 for Wan's (B,C,T,H,W)."""
    if layout == LAYOUT_AUTO:
        return 2 if latent_ndim == 5 else 0
    if layout == LAYOUT_TEMPORAL and latent_ndim != 5:
        raise ValueError(
            f"Context layout {LAYOUT_TEMPORAL!r} needs a 5-D video latent (B,C,T,H,W) but got {latent_ndim}-D: "
            f"set RewindContextOptions layout to 'auto' or '{LAYOUT_FRAME_BATCH}'."
        )
    if layout == LAYOUT_FRAME_BATCH and latent_ndim != 4:
        raise ValueError(
            f"Context layout {LAYOUT_FRAME_BATCH!r} needs a 4-D frame batch latent (B,C,H,W) but got {latent_ndim}-D: "
            f"set RewindContextOptions layout to 'auto' or '{LAYOUT_TEMPORAL}'."
        )
    return 0 if layout == LAYOUT_FRAME_BATCH else 2


def pixel_to_latent_frames(pixel_frames: int) -> int:
    """Latent frames holding `pixel_frames` on Wan's temporal axis: a 4n+1 pixel clip maps to n+1 exactly."""
    return (pixel_frames - 1) // TEMPORAL_COMPRESSION + 1 if pixel_frames > 0 else 0


def latent_window(options: ContextOptions, frame_axis: int) -> tuple[int, int]:
    """(length, overlap) in latent frames for a latent whose time runs along `frame_axis`."""
    if frame_axis == 0:
        return options.length, options.overlap
    length = pixel_to_latent_frames(options.length)
    return length, min(pixel_to_latent_frames(options.overlap), length - 1)


def plan_context(num_frames: int, options: ContextOptions, frame_axis: int) -> ContextPlan:
    """The windows and fuse weights for a latent of `num_frames` frames along `frame_axis`."""
    length, overlap = latent_window(options, frame_axis)
    return _plan(num_frames, options.schedule, length, overlap, options.stride, options.closed_loop, options.fuse_method)


@lru_cache(maxsize=64)
def _plan(num_frames, schedule, length, overlap, stride, closed_loop, fuse_method) -> ContextPlan:
    if num_frames < 1:
        raise ValueError("A context plan needs at least one frame.")
    if num_frames <= length:
        windows = (tuple(range(num_frames)),)
    elif schedule == "batched":
        windows = tuple(tuple(range(s, min(s + length, num_frames))) for s in range(0, num_frames, length))
    elif schedule == "static":
        windows = _static_windows(num_frames, length, overlap)
    else:
        windows = _dilated_windows(num_frames, length, overlap, stride, wrap=schedule == "looped", closed_loop=closed_loop)
    weights = torch.zeros(len(windows), num_frames, dtype=torch.float64)
    for w, window in enumerate(windows):
        weights[w, list(window)] = _raw_weights(fuse_method, window, num_frames, overlap)
    weights /= weights.sum(0, keepdim=True)
    return ContextPlan(windows, weights)


def _static_windows(num_frames: int, length: int, overlap: int) -> tuple[tuple[int, ...], ...]:
    starts = list(range(0, num_frames - length, length - overlap)) + [num_frames - length]
    return tuple(tuple(range(s, s + length)) for s in starts)


def _dilated_windows(num_frames, length, overlap, stride, wrap, closed_loop) -> tuple[tuple[int, ...], ...]:
    """Windows at dilations 1, 2, 4 ... (up to `stride` levels, each window's span within the clip)."""
    windows: list[tuple[int, ...]] = []
    for level in range(stride):
        step = 1 << level
        span = (length - 1) * step + 1
        if span > num_frames:
            break
        end = num_frames if wrap and closed_loop else num_frames - overlap
        for start in range(0, end, length * step - overlap):
            frames = [start + k * step for k in range(length)]
            if wrap:
                window = tuple(f % num_frames for f in frames)
            else:  # shift a window that runs past the end back so it ends on the clip's last frames
                shift = max(0, frames[-1] - (num_frames - 1))
                window = tuple(f - shift for f in frames)
            if window not in windows:
                windows.append(window)
    return tuple(windows)


def _raw_weights(fuse_method: str, window: tuple[int, ...], num_frames: int, overlap: int) -> torch.Tensor:
    length = len(window)
    position = torch.arange(length, dtype=torch.float64)
    if fuse_method == "flat":
        return torch.ones(length, dtype=torch.float64)
    if fuse_method == "pyramid":  # FreeNoise's weighted average: 1, 2 ... middle ... 2, 1
        return torch.minimum(position + 1, length - position)
    if fuse_method == "relative":  # a tent over the window, floored so edge frames still count a little
        half = max((length - 1) / 2, 0.5)
        return (1 - (position - (length - 1) / 2).abs() / half).clamp(min=1e-2)
    # overlap-linear: full weight except ramps over the overlap into neighbouring windows; ramps of
    # (k+1)/(overlap+1) are positive and two aligned ramps sum to exactly one
    weights = torch.ones(length, dtype=torch.float64)
    ramp = torch.arange(1, min(overlap, length) + 1, dtype=torch.float64) / (overlap + 1)
    if ramp.numel() and min(window) > 0:
        weights[: ramp.numel()] = ramp
    if ramp.numel() and max(window) < num_frames - 1:
        weights[-ramp.numel():] = torch.minimum(weights[-ramp.numel():], ramp.flip(0))
    return weights


def window_weight(plan: ContextPlan, window_index: int, ndim: int, frame_axis: int, like: torch.Tensor) -> torch.Tensor:
    """Window `window_index`'s weights for its own frames, shaped to broadcast against its slice of `like`."""
    weights = plan.weights[window_index, list(plan.windows[window_index])]
    shape = [1] * ndim
    shape[frame_axis] = -1
    return weights.reshape(shape).to(device=like.device, dtype=like.dtype)


def fuse_windows(
    plan: ContextPlan,
    frame_axis: int,
    like: torch.Tensor,
    evaluate: Callable[[int, torch.Tensor], list[torch.Tensor]],
) -> list[torch.Tensor]:
    """Runs `evaluate(window_index, frame_index)` for every window and fuses its outputs by the plan's weights.

    `evaluate` returns one or more tensors shaped like `like` cut to the window's frames (e.g. the cond
    and uncond predictions); the result holds one whole-clip tensor per output. Every caller fuses
    here, so the windows and weights are the same whoever evaluates them (unsampler, resampler, ComfyUI).
    """
    if like.shape[frame_axis] != plan.weights.shape[1]:
        raise ValueError(
            f"Context plan is for {plan.weights.shape[1]} frames but the latent has {like.shape[frame_axis]} on axis {frame_axis}."
        )
    fused: list[torch.Tensor] = []
    for w, window in enumerate(plan.windows):
        index = torch.tensor(window, device=like.device)
        outputs = evaluate(w, index)
        fused = fused or [torch.zeros_like(like) for _ in outputs]
        weight = window_weight(plan, w, like.ndim, frame_axis, like)
        for total, output in zip(fused, outputs):
            total.index_add_(frame_axis, index, output.to(device=like.device, dtype=like.dtype) * weight)
    return fused


def windowed(
    denoise: Callable[[torch.Tensor, torch.Tensor | float], torch.Tensor],
    plan: ContextPlan,
    frame_axis: int,
) -> Callable[[torch.Tensor, torch.Tensor | float], torch.Tensor]:
    """Wraps a plain `denoise(x, sigma) -> x0` so the model only ever sees one window at a time.

    A per-frame sigma (1-D, one value per frame on axis 0) is sliced with its window.
    """

    def denoise_in_windows(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        per_frame_sigma = torch.is_tensor(sigma) and sigma.ndim == 1 and sigma.numel() == x.shape[frame_axis] > 1

        def evaluate(_, index):
            window_sigma = sigma.index_select(0, index) if per_frame_sigma else sigma
            return [denoise(x.index_select(frame_axis, index), window_sigma)]

        return fuse_windows(plan, frame_axis, x, evaluate)[0]

    return denoise_in_windows


def frames_that_fit(bytes_per_frame: int, copies: int, available_bytes: int) -> int:
    """How many frames fit when every frame is held `copies` times (latent + solver states)."""
    return max(0, int(available_bytes // max(1, bytes_per_frame * copies)))


def render_plan(plan: ContextPlan, cell_width: int = 8, row_height: int = 12) -> torch.Tensor:
    """The plan as an RGB image (H, W, 3) in [0, 1]: frames on x, one row per window, fuse weight as brightness.

    Frames a window covers get a dim base tint so tiny weights stay visible; brighter means a larger share.
    """
    covered = (plan.weights > 0).float()
    share = plan.weights.float() / plan.weights.max().clamp(min=1e-12).float()
    rows = torch.stack([0.12 * covered, 0.15 * covered + 0.85 * share, 0.12 * covered + 0.5 * share], dim=-1)
    image = rows.repeat_interleave(row_height, 0).repeat_interleave(cell_width, 1)
    image[row_height - 1 :: row_height] = 0.0  # a dark line between windows
    return image
