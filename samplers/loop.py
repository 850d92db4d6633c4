"""The one sampling loop behind every Rewind node: unsample (clean -> noise) and resample
(noise -> clean, no noise added), for eps and flow models, frame batches and 5-D video latents.

`denoise(x, sigma)` is any callable returning the model's clean estimate at a Python-float sigma;
the ComfyUI layer passes one that runs through the guider (CFG, ControlNet, hooks, context windows).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ..schedules.paths import CLEAN_SIGMA_FLOOR
from .families import alpha
from .hooks import LoopInfo, StepHook
from .inversion import anderson_fixed_point
from .solvers import ONE_STEP_SOLVERS, Denoise, first_order, get_solver

# (step index, denoised, x after the step, total steps)
Callback = Callable[[int, torch.Tensor, torch.Tensor, int], None]
DEFAULT_EXACT_ITERATIONS = 4


@dataclass
class PathResult:
    x: torch.Tensor
    evaluations: int
    # Unsampling only: the state at every sigma of the path (when recorded), for coherence anchors.
    trajectory: dict[float, torch.Tensor] = field(default_factory=dict)


class _Counted:
    """Counts model evaluations without touching the device."""

    def __init__(self, denoise: Denoise):
        self.denoise, self.calls = denoise, 0

    def __call__(self, x, sigma):
        self.calls += 1
        return self.denoise(x, sigma)


def _apply_hooks(hooks: Sequence[StepHook], x, denoised, step, info):
    for hook in hooks:
        x = hook(x, denoised, step, info)
    return x


def resample(
    denoise: Denoise,
    x: torch.Tensor,
    path: Sequence[float],
    solver: str = "euler",
    family: str = "eps",
    hooks: Sequence[StepHook] = (),
    info: LoopInfo | None = None,
    callback: Callback | None = None,
) -> PathResult:
    """Samples down `path` (descending floats ending at the clean level) from `x`, adding no noise."""
    step_fn = get_solver(solver)
    counted = _Counted(denoise)
    info = info or LoopInfo("resample", tuple(path), frame_axis=0, family=family)
    memory = None
    total = len(path) - 1
    for i in range(total):
        x, denoised, memory = step_fn(counted, x, path[i], path[i + 1], family, memory)
        x = _apply_hooks(hooks, x, denoised, i, info)
        if callback is not None:
            callback(i, denoised, x, total)
    return PathResult(x, counted.calls)


def unsample(
    denoise: Denoise,
    x: torch.Tensor,
    path: Sequence[float],
    solver: str = "euler",
    family: str = "eps",
    exact_iterations: int = 0,
    hooks: Sequence[StepHook] = (),
    info: LoopInfo | None = None,
    callback: Callback | None = None,
    record: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> PathResult:
    """Runs `x` up `path` (ascending floats from the clean level) to noise.

    exact_iterations = 0: the solver's explicit step run backwards (what FlipSigmas + SamplerCustom
    does; a step from sigma 0 evaluates the model at CLEAN_SIGMA_FLOOR as core does).
    exact_iterations > 0: each step is the exact inverse of the resampler's `solver` step, found by
    Anderson-accelerated fixed point iteration (one-step solvers only).
    record: when given, the state at every level is kept as record(x) (e.g. an async copy to host
    memory) in PathResult.trajectory, for coherence anchors.
    """
    if exact_iterations and solver not in ONE_STEP_SOLVERS:
        raise ValueError(
            f"Exact inversion retraces a one-step solver ({', '.join(ONE_STEP_SOLVERS)}); "
            f"'{solver}' carries history between steps. Pick euler or heun for exact mode."
        )
    step_fn = get_solver(solver)
    counted = _Counted(denoise)
    info = info or LoopInfo("unsample", tuple(path), frame_axis=0, family=family)
    trajectory = {path[0]: record(x)} if record else {}
    memory = None
    last_denoised = x  # the clean estimate at the start is the input itself
    total = len(path) - 1
    for i in range(total):
        s, t = path[i], path[i + 1]
        if exact_iterations:
            guess = _explicit_guess(x, last_denoised, s, t, family)
            latest = {}  # only the newest clean estimate is kept: older ones would pin memory

            def residual(y, target=x, s=s, t=t):
                landed, latest["denoised"], _ = step_fn(counted, y, t, s, family, None)
                return target - landed

            x = anderson_fixed_point(residual, guess, exact_iterations)
            denoised = last_denoised = latest["denoised"]
        else:
            x, denoised, memory = step_fn(counted, x, max(s, CLEAN_SIGMA_FLOOR), t, family, memory)
        x = _apply_hooks(hooks, x, denoised, i, info)
        if record:
            trajectory[t] = record(x)
        if callback is not None:
            callback(i, denoised, x, total)
    return PathResult(x, counted.calls, trajectory)


def _explicit_guess(x, denoised, s, t, family):
    """The plain DDIM inversion step from the latest clean estimate: a free starting point."""
    if s == 0.0:
        return alpha(family, t) * x
    return first_order(x, denoised, s, t, family)
