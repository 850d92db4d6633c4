"""The one sampling loop behind every Rewind node: unsample (clean -> noise) and resample
(noise -> clean, no noise added), for eps and flow models, frame batches and 5-D video latents.

`denoise(x, sigma)` is any callable returning the model's clean estimate at a Python-float sigma;
the ComfyUI layer passes one that runs through the guider (CFG, ControlNet, hooks, context windows).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..schedules.paths import CLEAN_SIGMA_FLOOR
from .families import alpha
from .hooks import LoopInfo, StepHook
from .inversion import anderson_fixed_point
from .solvers import COUPLED_SOLVERS, ONE_STEP_SOLVERS, Denoise, first_order, get_solver

# (step index, denoised, x after the step, total steps)
Callback = Callable[[int, torch.Tensor, torch.Tensor, int], None]
DEFAULT_EXACT_ITERATIONS = 4


@dataclass(frozen=True)
class Carry:
    """What the first part of a path split in two (one expert each, samplers/experts.py) hands the second,
    so its steps continue as if the path had never been split: the exact state (a coupled solver's is
    float64, which the LATENT between the parts would round), the solver's memory (BDIA: the state one
    level back; dpmpp_2m: the last clean estimate) and the latest clean estimate (exact inversion's guess)."""

    x: torch.Tensor
    memory: Any = None
    denoised: torch.Tensor | None = None


@dataclass
class PathResult:
    x: torch.Tensor
    evaluations: int
    # Unsampling only: the state at every sigma of the path (when recorded), for coherence anchors.
    trajectory: dict[float, torch.Tensor] = field(default_factory=dict)
    # Unsampling with a coupled solver (BDIA) only: the state one level below the end, which the
    # resampler needs along with the end state to retrace the path.
    previous: torch.Tensor | None = None
    carry: Carry | None = None  # where the path ended, for a later part of it

    def then(self, later: PathResult) -> PathResult:
        """This part of a path followed by `later`, the part that continued from its carry."""
        return PathResult(later.x, self.evaluations + later.evaluations, {**self.trajectory, **later.trajectory},
                          later.previous, later.carry)


class _Counted:
    """Counts model evaluations without touching the device."""

    def __init__(self, denoise: Denoise):
        self.denoise, self.calls = denoise, 0

    def __call__(self, x, sigma):
        self.calls += 1
        return self.denoise(x, sigma)


def coupling_dtype(x: torch.Tensor) -> torch.dtype:
    """Coupled solvers add and subtract whole states; in float64 the resampler's subtraction undoes the
    unsampler's addition to ~1e-16, where float32's ~1e-7 would be amplified by a stiff model
    (high CFG) step after step. The model itself still sees the latent's dtype. (MPS has no float64.)"""
    return x.dtype if x.device.type == "mps" else torch.float64


def _in_model_dtype(denoise: Denoise, dtype: torch.dtype) -> Denoise:
    return lambda x, sigma: denoise(x.to(dtype), sigma)


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
    previous: torch.Tensor | None = None,
    coupling: float = 1.0,
    carry: Carry | None = None,
) -> PathResult:
    """Samples down `path` (descending floats ending at the clean level) from `x`, adding no noise.

    previous: for a coupled solver (BDIA), the unsampler's state at path[1]; the first step is then
    already taken and every later one retraces the unsampler's (exactly at coupling 1, with the
    unsampler's guidance). Coupled solvers return x in coupling_dtype(x).
    coupling: a coupled solver's weight on the unsampler's corrections (solvers.bdia); below 1 for
    edits, where the whole correction would apply the change in guidance twice.
    carry: continue from where an earlier part of the path ended (its PathResult.carry); `x` then
    only gives the model's dtype, and `previous` is not used.
    """
    step_fn = get_solver(solver)
    counted = _Counted(denoise)
    model = counted
    info = info or LoopInfo("resample", tuple(path), frame_axis=0, family=family)
    memory = carry.memory if carry is not None else None
    total = len(path) - 1
    start = 0
    model_dtype = x.dtype
    x = carry.x if carry is not None else x
    if solver in COUPLED_SOLVERS:
        step_fn = functools.partial(step_fn, coupling=coupling)
        model, x = _in_model_dtype(counted, model_dtype), x.to(coupling_dtype(x))
        if previous is not None and carry is None and total > 0:
            memory, x = (path[0], x), previous.to(x)
            x = _apply_hooks(hooks, x, x, 0, info)
            if callback is not None:
                callback(0, x.to(model_dtype), x.to(model_dtype), total)
            start = 1
    for i in range(start, total):
        x, denoised, memory = step_fn(model, x, path[i], path[i + 1], family, memory)
        x = _apply_hooks(hooks, x, denoised, i, info)
        if callback is not None:
            callback(i, denoised, x.to(model_dtype), total)
    return PathResult(x, counted.calls, carry=Carry(x, memory))


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
    carry: Carry | None = None,
) -> PathResult:
    """Runs `x` up `path` (ascending floats from the clean level) to noise.

    exact_iterations = 0: the solver's explicit step run backwards (what FlipSigmas + SamplerCustom
    does; a step from sigma 0 evaluates the model at CLEAN_SIGMA_FLOOR as core does).
    exact_iterations > 0: each step is the exact inverse of the resampler's `solver` step, found by
    Anderson-accelerated fixed point iteration (one-step solvers only). For a coupled solver (BDIA)
    only the first step, from the clean latent, is solved this way (or taken explicitly when 0); every
    later step is BDIA's, algebraically inverted by the resampler: one model call per step.
    record: when given, the state at every level is kept as record(x) (e.g. an async copy to host
    memory) in PathResult.trajectory, for coherence anchors.
    carry: continue from where an earlier part of the path ended (its PathResult.carry); `x` then
    only gives the model's dtype, and the level the carry stands on is already recorded.
    """
    coupled = solver in COUPLED_SOLVERS
    if exact_iterations and solver not in ONE_STEP_SOLVERS and not coupled:
        raise ValueError(
            f"Exact inversion retraces a one-step solver ({', '.join(ONE_STEP_SOLVERS)}) or a coupled one "
            f"({', '.join(COUPLED_SOLVERS)}); '{solver}' carries history between steps. Pick one of those."
        )
    step_fn = get_solver(solver)
    counted = _Counted(denoise)
    model = counted
    model_dtype = x.dtype
    if carry is not None:
        x = carry.x
    if coupled:
        model, x = _in_model_dtype(counted, model_dtype), x.to(coupling_dtype(x))
    info = info or LoopInfo("unsample", tuple(path), frame_axis=0, family=family)
    trajectory = {path[0]: record(x.to(model_dtype))} if record and carry is None else {}
    memory = carry.memory if carry is not None else None
    # the clean estimate at the start of a whole path is the input itself
    last_denoised = carry.denoised if carry is not None else x
    total = len(path) - 1
    for i in range(total):
        s, t = path[i], path[i + 1]
        before = x
        if coupled and memory is not None:
            x, denoised, _ = step_fn(model, x, s, t, family, memory)
        elif exact_iterations:
            retraced = get_solver("euler") if coupled else step_fn
            guess = _explicit_guess(x, last_denoised, s, t, family)
            latest = {}  # only the newest clean estimate is kept: older ones would pin memory

            def residual(y, target=x, s=s, t=t):
                landed, latest["denoised"], _ = retraced(model, y, t, s, family, None)
                return target - landed

            x = anderson_fixed_point(residual, guess, exact_iterations)
            denoised = last_denoised = latest["denoised"]
        else:
            x, denoised, memory = step_fn(model, x, max(s, CLEAN_SIGMA_FLOOR), t, family, memory)
        if coupled:  # BDIA's next step (and the resampler) needs the state one level back, at its own sigma
            memory = (s, before)
        x = _apply_hooks(hooks, x, denoised, i, info)
        if record:
            trajectory[t] = record(x.to(model_dtype))
        if callback is not None:
            callback(i, denoised, x.to(model_dtype), total)
    previous = memory[1] if coupled and memory is not None else None
    return PathResult(x, counted.calls, trajectory, previous, Carry(x, memory, last_denoised))


def _explicit_guess(x, denoised, s, t, family):
    """The plain DDIM inversion step from the latest clean estimate: a free starting point."""
    if s == 0.0:
        return alpha(family, t) * x
    return first_order(x, denoised, s, t, family)
