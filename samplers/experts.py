"""Two experts on one path (Wan 2.2 A14B): which expert evaluates each step, and where the path splits.

Wan 2.2 denoises with a high-noise expert while the step's noise level is at or above a boundary and
with a low-noise expert below it (`wan/text2video.py`: `t >= boundary`, t being the shifted sigma
times 1000, so the boundary is a sigma in ComfyUI's terms: 0.875 text-to-video, 0.9 image-to-video).
Rewind applies that rule to the sigma where each step first evaluates the model, in both passes. A
resampling step evaluates at its start (so does a FlowEdit step: samplers/flowedit.py). An unsampling
step evaluates where the resampling step that undoes it does: BDIA's step from s calls the model at s,
and the resampler inverts it with the same call; an exact mode's fixed point calls the model at the
step's upper end, where the resampling step it inverts starts. So every model call the two passes
share is made by the same expert, and the roundtrip stays exact through the switch. A two-call step
(heun) keeps its expert for both calls, as one KSampler step does.

Along a path that sigma only rises (unsampling) or falls (resampling), so the experts take turns at
most once: the path splits into at most two segments, each run on one expert. Pure decisions: no
model, no ComfyUI.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .solvers import COUPLED_SOLVERS

HIGH, LOW = "high", "low"
# Wan 2.2 A14B's boundaries (Wan-Video/Wan2.2 wan/configs: wan_t2v_A14B.py, wan_i2v_A14B.py).
T2V_BOUNDARY, I2V_BOUNDARY = 0.875, 0.9


@dataclass(frozen=True)
class Segment:
    """Steps [start, stop) of a path, all evaluated by one expert."""

    expert: str  # HIGH or LOW
    start: int
    stop: int

    def levels(self, path) -> tuple[float, ...]:
        """The noise levels the segment travels: its steps' ends, the first shared with the segment before."""
        return tuple(path[self.start:self.stop + 1])


@dataclass(frozen=True)
class HighNoiseExpert:
    """What RewindHighNoiseExpert hands a sampler node: the model that evaluates the steps at and above
    `boundary` (a flow sigma), and its CFG in that pass; the node's own model and cfg take the rest."""

    model: Any  # a ComfyUI MODEL, opaque here
    boundary: float = T2V_BOUNDARY
    cfg: float = 1.0

    def __post_init__(self):
        check_boundary(self.boundary)


def check_boundary(boundary: float) -> None:
    """A boundary at 0 or 1 (or beyond) leaves one expert no noise level at all."""
    if not 0.0 < boundary < 1.0:
        raise ValueError(f"'boundary' is {boundary}; the experts switch at a flow sigma strictly between 0 and 1. "
                         f"Set Wan 2.2's own: {T2V_BOUNDARY} for text-to-video, {I2V_BOUNDARY} for image-to-video.")


def evaluation_sigmas(path, direction: str, solver: str, exact_iterations: int) -> list[float]:
    """Per step of `path` (in the direction of travel), the sigma where it first evaluates the model."""
    if direction == "resample":
        return list(path[:-1])
    if solver in COUPLED_SOLVERS:  # the first step from the clean latent is the exact inverse of an euler step
        return [path[1] if exact_iterations else path[0], *path[1:-1]]
    return list(path[1:] if exact_iterations else path[:-1])


def split_path(path, direction: str, solver: str, exact_iterations: int,
               boundary: float | None) -> tuple[Segment, ...]:
    """The path's steps grouped into runs of one expert each (split_steps). With no boundary (one model)
    the whole path is one LOW segment: the sampler's own model is the low-noise expert."""
    return split_steps(evaluation_sigmas(path, direction, solver, exact_iterations), boundary)


def split_steps(sigmas, boundary: float | None, first_step: int = 0) -> tuple[Segment, ...]:
    """Steps first_step, first_step + 1, ..., which first evaluate the model at `sigmas`, grouped into
    runs of one expert each: HIGH where the step evaluates at or above `boundary`, LOW below. With no
    boundary they are all one LOW segment."""
    if boundary is None:
        return (Segment(LOW, first_step, first_step + len(sigmas)),)
    experts = [HIGH if sigma >= boundary else LOW for sigma in sigmas]
    segments, start = [], 0
    for step in range(1, len(experts) + 1):
        if step == len(experts) or experts[step] != experts[start]:
            segments.append(Segment(experts[start], first_step + start, first_step + step))
            start = step
    return tuple(segments)


def idle_expert_note(segments: tuple[Segment, ...], boundary: float) -> str | None:
    """Worth a warning: one expert never runs on this path (a partial denoise below the boundary, a
    boundary below every step)."""
    if len(segments) != 1:
        return None
    idle, side = (HIGH, "below") if segments[0].expert == LOW else (LOW, "at or above")
    return (f"every step of this schedule evaluates the model {side} the boundary {boundary:g}, so the {idle}-noise "
            "expert does not run. Fine for a partial denoise; otherwise check the boundary and the schedule.")


def expert_mismatch(unsampled: float | None, resampling: float | None) -> str | None:
    """Why a resampler's experts cannot retrace the unsampler's (boundaries: None for one model), or None."""
    if unsampled == resampling:
        return None
    if unsampled is None:
        return ("the latent was unsampled with one model, so there is no switch to mirror. Connect the same "
                "high_noise_expert to the unsampler, or disconnect it here.")
    if resampling is None:
        return (f"the latent was unsampled with two experts (the high-noise one at sigma >= {unsampled:g}); connect "
                "the same high_noise_expert to the resampler so it switches where the unsampler did.")
    return (f"the latent was unsampled with the experts switching at sigma {unsampled:g}, but this high_noise_expert "
            f"switches at {resampling:g}; set the same boundary on both passes.")
