"""Context windows for long videos: which frames the model sees together, and how overlaps are fused.

Windows are a pure function of (number of frames, options), never of the step or sigma. So the
unsampler and the resampler see the same windows (their noise stays consistent with each other)
and every solver works, including those that evaluate the model at sigmas off the schedule (heun,
fixed-point inversion). This is where Rewind differs from ComfyUI core's context handler, whose
uniform schedules shift every step and look the step up by sigma.

Lengths are asked for in pixel frames. A frame batch has one latent per frame; a video latent
(B, C, T, H, W) holds the first pixel frame in latent frame 0, then `temporal_compression` pixel
frames per latent frame (its VAE's: Wan and HunyuanVideo 4, Mochi 6, LTX-Video 8; presets/), so
lengths are converted with the model's own compression.

Schedules (all lengths are in latent frames here):
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

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

SCHEDULES = ("static", "uniform", "looped", "batched")
FUSE_METHODS = ("flat", "pyramid", "overlap-linear", "relative")
LAYOUT_AUTO = "auto"
LAYOUT_FRAME_BATCH = "frame batch (SD1.5/SDXL/AnimateDiff/Hotshot)"
LAYOUT_TEMPORAL = "Wan2.1 temporal axis"  # the name saved workflows hold; it is every video latent's time axis
LAYOUTS = (LAYOUT_AUTO, LAYOUT_FRAME_BATCH, LAYOUT_TEMPORAL)


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

    `shares` holds every window's weight for each of its own frames, windows one after another;
    `window_weights(w)` is window w's part. Per frame, the shares of all windows sum to one. Kept per
    window rather than as a windows x frames matrix, which grows with the square of the clip.
    """

    num_frames: int
    windows: tuple[tuple[int, ...], ...]
    shares: torch.Tensor  # (sum of window lengths,), float64
    starts: tuple[int, ...]  # where each window's shares begin

    def window_weights(self, w: int) -> torch.Tensor:
        return self.shares[self.starts[w] : self.starts[w] + len(self.windows[w])]


def resolve_frame_axis(layout: str, latent_ndim: int) -> int:
    """Axis of time in the latent: 0 for a frame batch (B,C,H,W), 2 for a video latent (B,C,T,H,W)."""
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


def pixel_to_latent_frames(pixel_frames: int, temporal_compression: int) -> int:
    """Latent frames holding `pixel_frames`: a k*n+1 pixel clip maps to n+1 exactly (k the compression)."""
    return (pixel_frames - 1) // temporal_compression + 1 if pixel_frames > 0 else 0


def latent_window(options: ContextOptions, temporal_compression: int) -> tuple[int, int]:
    """(length, overlap) in latent frames, for a latent of `temporal_compression` pixel frames per
    latent frame (1 for a frame batch)."""
    if temporal_compression == 1:
        return options.length, options.overlap
    length = pixel_to_latent_frames(options.length, temporal_compression)
    return length, min(pixel_to_latent_frames(options.overlap, temporal_compression), length - 1)


def plan_context(num_frames: int, options: ContextOptions, temporal_compression: int) -> ContextPlan:
    """The windows and fuse weights for a latent of `num_frames` latent frames, each holding
    `temporal_compression` pixel frames (1 for a frame batch)."""
    length, overlap = latent_window(options, temporal_compression)
    return _plan(num_frames, options.schedule, length, overlap, options.stride, options.closed_loop, options.fuse_method)


# A plan this large would run the model on a million window frames per step (hours per step); its
# windows and shares alone take about PLAN_BYTES_PER_FRAME bytes per window frame.
MAX_PLAN_FRAMES = 1_000_000
PLAN_BYTES_PER_FRAME = 64


class PlanTooLarge(ValueError):
    """The windows asked for would not fit in memory, or take hours per step."""


@lru_cache(maxsize=8)  # a run plans a clip or two; a large plan takes tens of MB
def _plan(num_frames, schedule, length, overlap, stride, closed_loop, fuse_method) -> ContextPlan:
    if num_frames < 1:
        raise ValueError("A context plan needs at least one frame.")
    _ensure_plan_fits(num_frames, schedule, length, overlap, stride, closed_loop)
    if num_frames <= length:
        windows = (tuple(range(num_frames)),)
    elif schedule == "batched":
        windows = tuple(tuple(range(s, min(s + length, num_frames))) for s in range(0, num_frames, length))
    elif schedule == "static":
        windows = _static_windows(num_frames, length, overlap)
    else:
        windows = _dilated_windows(num_frames, length, overlap, stride, wrap=schedule == "looped", closed_loop=closed_loop)
    frames = torch.tensor([f for window in windows for f in window])
    raw = torch.cat([_raw_weights(fuse_method, len(window), overlap, min(window) == 0, max(window) == num_frames - 1)
                     for window in windows])
    totals = torch.zeros(num_frames, dtype=torch.float64).index_add_(0, frames, raw)
    starts = tuple(itertools.accumulate((len(window) for window in windows[:-1]), initial=0))
    return ContextPlan(num_frames, windows, raw / totals[frames], starts)


def _ensure_plan_fits(num_frames, schedule, length, overlap, stride, closed_loop) -> None:
    """Counts the window frames a plan would hold, before building it."""
    if num_frames <= length or schedule == "batched":
        return
    if schedule == "static":
        windows = len(range(0, num_frames - length, length - overlap)) + 1
    else:
        end = num_frames if schedule == "looped" and closed_loop else num_frames - overlap
        windows = sum(len(range(0, end, length * (1 << level) - overlap))
                      for level in range(stride) if (length - 1) * (1 << level) + 1 <= num_frames)
    if windows * length > MAX_PLAN_FRAMES:
        raise PlanTooLarge(
            f"{num_frames} frames in {schedule} windows of {length} (overlap {overlap}) make {windows} windows, "
            f"{windows * length} window frames per step (about {windows * length * PLAN_BYTES_PER_FRAME / 2**20:.0f} MiB "
            f"for the plan, and hours of model calls per step); the limit is {MAX_PLAN_FRAMES}. "
            "Lower context_overlap or raise context_length, or split the clip."
        )


def _static_windows(num_frames: int, length: int, overlap: int) -> tuple[tuple[int, ...], ...]:
    starts = list(range(0, num_frames - length, length - overlap)) + [num_frames - length]
    return tuple(tuple(range(s, s + length)) for s in starts)


def _dilated_windows(num_frames, length, overlap, stride, wrap, closed_loop) -> tuple[tuple[int, ...], ...]:
    """Windows at dilations 1, 2, 4 ... (up to `stride` levels, each window's span within the clip)."""
    windows: dict[tuple[int, ...], None] = {}  # ordered, and a constant-time duplicate check
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
            windows.setdefault(window)
    return tuple(windows)


@lru_cache(maxsize=256)  # windows share a handful of shapes; a long clip has tens of thousands of windows
def _raw_weights(fuse_method: str, length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
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
    if ramp.numel() and not at_start:
        weights[: ramp.numel()] = ramp
    if ramp.numel() and not at_end:
        weights[-ramp.numel():] = torch.minimum(weights[-ramp.numel():], ramp.flip(0))
    return weights


def window_weight(plan: ContextPlan, window_index: int, ndim: int, frame_axis: int, like: torch.Tensor) -> torch.Tensor:
    """Window `window_index`'s weights for its own frames, shaped to broadcast against its slice of `like`."""
    weights = plan.window_weights(window_index)
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
    if like.shape[frame_axis] != plan.num_frames:
        raise ValueError(
            f"Context plan is for {plan.num_frames} frames but the latent has {like.shape[frame_axis]} on axis {frame_axis}."
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


def render_plan(plan: ContextPlan, width: int = 1024, max_rows: int = 64, row_height: int = 12) -> torch.Tensor:
    """The plan as an RGB image (H, W, 3) in [0, 1]: frames on x, one row per window, fuse weight as brightness.

    Frames a window covers get a dim base tint so tiny weights stay visible; brighter means a larger share.
    The image stays within `width` pixels and `max_rows` rows whatever the clip: beyond them a column
    shows a run of neighbouring frames and a row a run of consecutive windows, each at its largest share.
    """
    columns, rows = min(plan.num_frames, width), min(len(plan.windows), max_rows)
    lengths = torch.tensor([len(window) for window in plan.windows])
    frames = torch.tensor([f for window in plan.windows for f in window])
    window_of = torch.repeat_interleave(torch.arange(len(plan.windows)), lengths)
    cells = (window_of * rows // len(plan.windows)) * columns + frames * columns // plan.num_frames
    share = (plan.shares / plan.shares.max()).float()
    grid = torch.zeros(rows * columns).scatter_reduce_(0, cells, share, "amax").reshape(rows, columns)
    covered = (grid > 0).float()
    pixels = torch.stack([0.12 * covered, 0.15 * covered + 0.85 * grid, 0.12 * covered + 0.5 * grid], dim=-1)
    image = pixels.repeat_interleave(row_height, 0).repeat_interleave(max(1, width // plan.num_frames), 1)
    image[row_height - 1 :: row_height] = 0.0  # a dark line between windows
    return image
