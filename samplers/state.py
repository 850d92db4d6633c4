"""What the unsampler hands the resampler inside the LATENT dict, so a plain LATENT wire carries it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

LATENT_KEY = "rewind_unsampled"
# A coupled (BDIA) resample's weight on the unsampler's corrections when the guidance changed, per
# family, measured on the learned fixtures (bench/edit.py, couplings 0 to 1): 1 applies the change in
# guidance twice and 0 holds the motion less well. The SD1.5 fixture edits best at 0.5; the Wan2.1
# fixture at 0.9, where 0.5 keeps half the structure and 1 overshoots at resample CFG 5.
EDIT_COUPLING = {"eps": 0.5, "flow": 0.9}


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
    guidance: str = ""  # guidance_fingerprint of the unsampling pass
    # Two experts (samplers/experts.py): the sigma at and above which the high-noise expert evaluated the
    # model, the low-noise one below; with path and solver it says which expert ran each step. None: one model.
    boundary: float | None = None

    def resample_path(self) -> list[float]:
        return list(self.path[::-1])

    def coupling_for(self, guidance: str) -> float:
        """How much of the unsampler's corrections a coupled resample carries: all of them when it
        steers the model exactly as the unsampler did, so the input comes back exactly; the family's
        EDIT_COUPLING when the prompt, negative or CFG changed, where all of them would apply the change twice."""
        return 1.0 if guidance == self.guidance else EDIT_COUPLING[self.family]


def guidance_fingerprint(positive, negative, cfg: float, high_noise_cfg: float | None = None) -> str:
    """A digest of what steers the model in one pass: the conditioning's tensors (by value) and
    options, and CFG (each expert's, with two); the negative only when some CFG uses it (at exactly 1
    ComfyUI skips it). Objects inside the conditioning (a ControlNet, hooks) count by identity: the same
    object, the same guidance."""
    cfgs = (float(cfg),) if high_noise_cfg is None else (float(cfg), float(high_noise_cfg))
    digest = hashlib.sha256(repr(cfgs).encode())
    _feed(digest, positive)
    if any(value != 1.0 for value in cfgs):
        _feed(digest, negative)
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        digest.update(f"tensor{tuple(value.shape)}{value.dtype}".encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            _feed(digest, key)
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif value is None or isinstance(value, (str, int, float, bool)):
        digest.update(repr(value).encode())
    else:
        digest.update(f"{type(value).__qualname__}@{id(value)}".encode())
