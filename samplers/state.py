"""What the unsampler hands the resampler inside the LATENT dict, so a plain LATENT wire carries it."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

LATENT_KEY = "rewind_unsampled"


@dataclass(frozen=True)
class UnsampledState:
    path: tuple[float, ...]  # ascending noise levels the latent was carried along
    solver: str  # the solver whose steps the unsampler retraced
    exact: bool  # True when each step is the exact inverse of `solver`'s resampling step
    family: str  # "eps" or "flow"
    shape: tuple[int, ...]  # of the unsampled samples, to notice a latent changed in between
    trajectory: dict[float, torch.Tensor] = field(default_factory=dict, repr=False)
    # Coupled solvers (BDIA): the state one level below the noise (retracing needs both).
    previous: torch.Tensor | None = field(default=None, repr=False)
    # What storing the noise as the LATENT's samples rounded off the unsampler's end state (float32, or
    # float16 under ComfyUI's --fp16-intermediates), at the state's own precision: the resampler adds it
    # back and starts from the exact state. Tiny, so harmless on a latent edited in between.
    noise_rounding: torch.Tensor | None = field(default=None, repr=False)

    def resample_path(self) -> list[float]:
        return list(self.path[::-1])
