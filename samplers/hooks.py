"""The contract between the sampling loop and what rides along it (coherence guidance, recorders).

The loop calls every hook after each step with the new state; a hook returns the state to carry
on with (the same tensor when it has nothing to do). Hooks get plain Python floats for sigmas so
they never force a host-device sync.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import torch


@dataclass(frozen=True)
class LoopInfo:
    """What a hook may want to know about the run it is attached to."""

    direction: str  # "unsample" (clean -> noise) or "resample" (noise -> clean)
    sigmas: Sequence[float]  # the path in order of travel, sigmas[0] is the start
    frame_axis: int  # axis of frames in the latent: 0 for a frame batch (B,C,H,W), 2 for (B,C,T,H,W)
    family: str  # "eps" (x = x0 + sigma*eps) or "flow" (x = (1 - sigma)*x0 + sigma*eps)
    # The unsampler's states along its path, keyed by sigma (internal latent space), when known.
    trajectory: dict[float, torch.Tensor] = field(default_factory=dict)
    # Pixel frames per latent frame along the frame axis (1 for a frame batch; the VAE's for a video
    # latent), for hooks that plan context windows; None when the model's VAE is unknown to Rewind.
    temporal_compression: int | None = 1


class StepHook(Protocol):
    def __call__(self, x: torch.Tensor, denoised: torch.Tensor, step: int, info: LoopInfo) -> torch.Tensor:
        """`x` is the state at info.sigmas[step + 1]; `denoised` the model's x0 estimate of this step."""
        ...
