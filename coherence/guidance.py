"""Latent-coherence guidance: after each resampling step, pull the latent toward a reference.

Every mode is the closed form of one gradient step on ||x - r||^2, x <- x + w * LP(r - x), with a
different reference r:
  temporal          each frame toward the previous frame after its own pull, i.e. an exponential
                    running average of all earlier frames (giffusion's coherence step, without autograd);
  source anchor     toward the unsampler's state of the input at the same sigma, low-pass filtered so
                    the style can change while the composition stays;
  window agreement  each context window's per-channel mean (its colour and brightness tone) toward the
                    mean of the windows it overlaps, spread back to frames with the fuse weights; in a
                    frame batch the windows are denoised separately and drift apart in tone, which
                    plain averaging of the overlaps only hides as a slow crossfade.

Units: `strength` is the fraction of the gap to a fixed reference closed over the whole active range,
so the per-step pull w = 1 - (1 - strength)^(1/active_steps) gives the same total effect at any step
count; pulls are per element and the low-pass radius is a fraction of the frame size, so the effect
does not depend on resolution or batch size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..samplers.context import ContextOptions, plan_context
from ..samplers.hooks import LoopInfo, StepHook

MODES = ("temporal", "source anchor", "window agreement")
SIGMA_MATCH_RTOL = 1e-4


@dataclass(frozen=True)
class Coherence:
    """What RewindLatentCoherence hands the resampler; `make_hook` builds the per-run hook."""

    mode: str = "temporal"
    strength: float = 0.5
    start_percent: float = 0.0
    end_percent: float = 1.0
    low_pass: float = 0.0  # Gaussian radius as a fraction of the frame's longer side; 0 pulls every detail
    context: ContextOptions | None = None  # window agreement only

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Unknown coherence mode {self.mode!r}: expected one of {MODES}.")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"Coherence strength must be within [0, 1], got {self.strength}.")
        if not 0.0 <= self.start_percent < self.end_percent <= 1.0:
            raise ValueError(
                f"Coherence start_percent ({self.start_percent}) must be below end_percent ({self.end_percent}), both in [0, 1]."
            )
        if self.mode == "window agreement" and self.context is None:
            raise ValueError(
                "Coherence mode 'window agreement' needs context_options: connect the same RewindContextOptions "
                "you give the resampler."
            )

    def make_hook(self, info: LoopInfo) -> StepHook | None:
        """The step hook for one run, or None when it would do nothing."""
        active = active_steps(len(info.sigmas) - 1, self.start_percent, self.end_percent)
        if self.strength == 0.0 or not active:
            return None
        pull = per_step_pull(self.strength, len(active))
        if self.mode == "temporal":
            return _masked(active, lambda x, denoised, step, info: pull_toward_previous_frames(x, info.frame_axis, pull, self.low_pass))
        if self.mode == "source anchor":
            anchors = _anchor_states(info, active)
            return _masked(active, lambda x, denoised, step, info: pull_toward(x, anchors[step], pull, self.low_pass))
        if info.temporal_compression is None:
            raise ValueError("Coherence mode 'window agreement' plans the context windows, but Rewind does not know how many "
                             "pixel frames one latent frame of this model holds. Pick mode 'temporal' or 'source anchor'.")
        return _masked(active, lambda x, denoised, step, info: pull_windows_together(
            x, info.frame_axis, self.context, pull, info.temporal_compression))


def active_steps(total_steps: int, start_percent: float, end_percent: float) -> tuple[int, ...]:
    """Steps whose start lies in [start_percent, end_percent) of the path (the last step counts at 1.0)."""
    return tuple(
        i for i in range(total_steps)
        if start_percent <= i / total_steps < end_percent or (end_percent == 1.0 and i == total_steps - 1)
    )


def per_step_pull(strength: float, active: int) -> float:
    """The per-step fraction that compounds to `strength` over `active` steps."""
    return 1.0 - (1.0 - strength) ** (1.0 / active)


def _masked(active: tuple[int, ...], hook) -> StepHook:
    active_set = frozenset(active)

    def hook_on_active_steps(x, denoised, step, info):
        return hook(x, denoised, step, info) if step in active_set else x

    return hook_on_active_steps


def _anchor_states(info: LoopInfo, active: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """The unsampler's state at the sigma each active step lands on; fails up front when one is missing."""
    if not info.trajectory:
        raise ValueError(
            "Coherence mode 'source anchor' needs the unsampler's trajectory: feed the resampler the noise from "
            "Rewind Unsampler (not a plain latent), or pick mode 'temporal'."
        )
    keys = sorted(info.trajectory)
    anchors, missing = {}, []
    for step in active:
        sigma = float(info.sigmas[step + 1])
        key = min(keys, key=lambda k: abs(k - sigma))
        if abs(key - sigma) <= SIGMA_MATCH_RTOL * max(abs(sigma), 1e-3):
            anchors[step] = info.trajectory[key]
        else:
            missing.append(sigma)
    if missing:
        raise ValueError(
            f"Coherence mode 'source anchor': the unsampler never visited sigma {missing[:4]}. Resample along the "
            "same schedule the unsampler used (solver 'match unsampler', or the same sigmas)."
        )
    return anchors


def low_pass(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Gaussian blur over the last two axes with std `radius` x the longer side (0: identity)."""
    if radius <= 0.0:
        return x
    height, width = x.shape[-2:]
    std = radius * max(height, width)
    half = min(int(math.ceil(3 * std)), max(height, width) - 1)
    if half < 1:
        return x
    taps = torch.arange(-half, half + 1, dtype=torch.float32, device=x.device)
    kernel = torch.exp(-0.5 * (taps / std) ** 2)
    kernel = (kernel / kernel.sum()).to(x.dtype)
    flat = x.reshape(-1, 1, height, width)
    pad_h, pad_w = min(half, height - 1), min(half, width - 1)
    flat = F.pad(flat, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    flat = F.conv2d(flat, kernel[half - pad_h : half + pad_h + 1].reshape(1, 1, -1, 1))
    flat = F.conv2d(flat, kernel[half - pad_w : half + pad_w + 1].reshape(1, 1, 1, -1))
    return flat.reshape(x.shape)


def pull_toward(x: torch.Tensor, reference: torch.Tensor, pull: float, radius: float) -> torch.Tensor:
    """x + pull * LP(reference - x): one gradient step on the low-passed squared distance."""
    return x + pull * low_pass(reference.to(x) - x, radius)


def pull_toward_previous_frames(x: torch.Tensor, frame_axis: int, pull: float, radius: float) -> torch.Tensor:
    """Each frame toward the previous frame after its own pull: a causal running average, first frame kept."""
    frames = x.movedim(frame_axis, 0)
    pulled = [frames[0]]
    for frame in frames[1:]:
        pulled.append(pull_toward(frame, pulled[-1], pull, radius))
    return torch.stack(pulled).movedim(0, frame_axis)


def pull_windows_together(x: torch.Tensor, frame_axis: int, context: ContextOptions, pull: float,
                          temporal_compression: int) -> torch.Tensor:
    """Shifts each window's per-channel mean toward the mean over the windows it overlaps (itself included)."""
    frames = x.movedim(frame_axis, 0)  # (T, ..., C, H, W) with channels right before the spatial axes
    frame_means = frames.mean(dim=(-2, -1), keepdim=True).double()  # (T, ..., C, 1, 1)
    per_window = (-1, *[1] * (frame_means.ndim - 1))
    layout = _WindowIndex(*(t.to(frame_means.device) for t in _window_index(x.shape[frame_axis], context, temporal_compression)))
    window_means = torch.zeros(len(layout.lengths), *frame_means.shape[1:], dtype=torch.float64, device=frame_means.device)
    window_means = window_means.index_add_(0, layout.window_of, frame_means[layout.frames]) / layout.lengths.reshape(per_window)
    targets = torch.zeros_like(window_means).index_add_(0, layout.pair_v, window_means[layout.pair_w])
    targets /= layout.neighbours.reshape(per_window)
    # each window's shift, spread over its own frames by its fuse weights
    deltas = (targets - window_means)[layout.window_of] * layout.shares.reshape(per_window)
    shift = torch.zeros_like(frame_means).index_add_(0, layout.frames, deltas)
    return (frames + pull * shift.to(frames.dtype)).movedim(0, frame_axis)


class _WindowIndex(NamedTuple):
    """A context plan as flat index tensors: one entry per (window, frame), plus the pairs of windows
    sharing a frame. Index lists rather than windows x frames or windows x windows matrices, which
    grow with the square of the clip."""

    lengths: torch.Tensor  # (W,) frames per window
    window_of: torch.Tensor  # (E,) each entry's window
    frames: torch.Tensor  # (E,) each entry's frame
    shares: torch.Tensor  # (E,) each entry's fuse weight
    pair_v: torch.Tensor  # (P,) with pair_w: every pair of windows with a frame in common, each once
    pair_w: torch.Tensor
    neighbours: torch.Tensor  # (W,) windows sharing a frame with each window, itself included


@lru_cache(maxsize=8)
def _window_index(num_frames: int, context: ContextOptions, temporal_compression: int) -> _WindowIndex:
    """Built once per clip on the host, so the per-step hook only copies it to the device."""
    plan = plan_context(num_frames, context, temporal_compression)
    lengths = torch.tensor([len(w) for w in plan.windows])
    window_of = torch.repeat_interleave(torch.arange(len(plan.windows)), lengths)
    frames = torch.tensor([f for w in plan.windows for f in w])
    # pair every entry with every entry of the same frame
    order = torch.argsort(frames, stable=True)
    sorted_windows, sorted_frames = window_of[order], frames[order]
    per_frame = torch.bincount(sorted_frames)
    partners = per_frame[sorted_frames]
    left = torch.repeat_interleave(sorted_windows, partners)
    offset = torch.arange(len(left)) - torch.repeat_interleave(torch.cumsum(partners, 0) - partners, partners)
    right = sorted_windows[torch.repeat_interleave((torch.cumsum(per_frame, 0) - per_frame)[sorted_frames], partners) + offset]
    pairs = torch.unique(left * len(lengths) + right)
    pair_v, pair_w = pairs // len(lengths), pairs % len(lengths)
    neighbours = torch.bincount(pair_v, minlength=len(lengths)).double()
    return _WindowIndex(lengths, window_of, frames, plan.shares, pair_v, pair_w, neighbours)
