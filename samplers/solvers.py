"""Deterministic solvers for dx/dsigma = (x - D(x, sigma)) / sigma, one function each.

Every step function has the signature
    step(denoise, x, s, t, family, memory) -> (x_at_t, denoised, memory)
with `s`, `t` Python floats (from and to; either direction) and `memory` the solver's carried state
(None for one-step solvers). Coefficients are computed on the host in float64, so no step ever
reads a value back from the device.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .families import alpha

Denoise = Callable[[torch.Tensor, float], torch.Tensor]


def first_order(x: torch.Tensor, denoised: torch.Tensor, s: float, t: float, family: str) -> torch.Tensor:
    """DDIM / DPM-Solver++(1S) from s to t. For both families this is exactly the Euler step."""
    ratio = t / s
    return ratio * x + (alpha(family, t) - alpha(family, s) * ratio) * denoised


def euler(denoise: Denoise, x, s, t, family, memory=None):
    denoised = denoise(x, s)
    return first_order(x, denoised, s, t, family), denoised, None


def heun(denoise: Denoise, x, s, t, family, memory=None):
    """Trapezoid rule on the ODE slope; plain Euler when the step ends at sigma 0 (as k-diffusion)."""
    denoised = denoise(x, s)
    x_euler = first_order(x, denoised, s, t, family)
    if t == 0.0:
        return x_euler, denoised, None
    denoised_t = denoise(x_euler, t)
    slope = (x - denoised) / s + (x_euler - denoised_t) / t
    return x + (0.5 * (t - s)) * slope, denoised, None


def _half_log_snr(family: str, sigma: float) -> float:
    a = alpha(family, sigma)
    if sigma == 0.0:
        return math.inf
    if a <= 0.0:
        return -math.inf
    return math.log(a / sigma)


def dpmpp_2m(denoise: Denoise, x, s, t, family, memory=None):
    """DPM-Solver++(2M) in data prediction, written for any alpha(sigma) so it also serves flow models.

    `memory` is (previous sigma, previous denoised). Steps touching sigma 0 or pure flow noise
    (infinite log-SNR) fall back to first order, as k-diffusion does for the last step.
    """
    denoised = denoise(x, s)
    effective = denoised
    if memory is not None:
        lam_prev, lam_s, lam_t = (_half_log_snr(family, v) for v in (memory[0], s, t))
        if all(math.isfinite(v) for v in (lam_prev, lam_s, lam_t)) and lam_t != lam_s:
            r = (lam_s - lam_prev) / (lam_t - lam_s)
            effective = (1.0 + 0.5 / r) * denoised - (0.5 / r) * memory[1]
    return first_order(x, effective, s, t, family), denoised, (s, denoised)


def bdia(denoise: Denoise, x, s, t, family, memory=None, coupling: float = 1.0):
    """BDIA-DDIM (Zhang et al. 2023) in variance-preserving coordinates: the state at t from the
    states at s and at the level p before it, with one model call at s:

        x_t / nu(t) - DDIM(x_s: s -> t) / nu(t) = coupling * (x_p / nu(p) - DDIM(x_s: s -> p) / nu(p)),

    nu(sigma) = sqrt(alpha^2 + sigma^2) being the scale of a state at sigma. At coupling 1 (the paper's
    gamma = 1) the relation is symmetric in t and p, so the same step maps (x_t, x_s) back to x_p with
    the same model call: a path unsampled with it is retraced exactly by resampling with it, at any CFG
    and on any model, with no fixed point to solve. Normalising by nu keeps the coupled pair's odd mode
    from growing in either direction (in raw eps coordinates it grows by sigma_max / sigma_min when
    resampling with a new prompt).

    The right-hand side is the unsampler's own correction to a plain DDIM step. Resampling with a
    new prompt or CFG, coupling 1 carries it over whole and applies the change in guidance twice
    (the odd mode); a coupling below 1 damps that (0 is plain DDIM from the unsampler's states).
    `memory` is (p, x_p); without it (the first step of a fresh path) the step is plain DDIM.
    """
    denoised = denoise(x, s)
    step = first_order(x, denoised, s, t, family)
    if memory is None:
        return step, denoised, (s, x)
    p, x_p = memory
    correction = x_p - first_order(x, denoised, s, p, family)
    return step + (coupling * _state_scale(family, t) / _state_scale(family, p)) * correction, denoised, (s, x)


def _state_scale(family: str, sigma: float) -> float:
    """Standard deviation of a state at `sigma` for unit-variance data."""
    return math.hypot(alpha(family, sigma), sigma)


SOLVERS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor, Any]]] = {
    "euler": euler,
    "heun": heun,
    "dpmpp_2m": dpmpp_2m,
    "bdia": bdia,
}
ONE_STEP_SOLVERS = ("euler", "heun")
# Solvers whose steps are algebraically invertible given the two latest states (BDIA): the unsampler
# hands the state one level below the noise to the resampler along with the noise.
COUPLED_SOLVERS = ("bdia",)
# Samplers that inject fresh noise every step: their paths cannot be retraced, so they cannot unsample.
STOCHASTIC_MARKERS = ("ancestral", "sde", "ddpm", "lcm", "er_sde", "seeds", "sa_solver", "restart")


def get_solver(name: str):
    if name in SOLVERS:
        return SOLVERS[name]
    if any(marker in name for marker in STOCHASTIC_MARKERS):
        raise ValueError(
            f"'{name}' adds fresh noise at every step, so its path cannot be run backwards: "
            f"unsample with one of {', '.join(SOLVERS)} (or 'exact') instead."
        )
    raise ValueError(f"Unknown solver '{name}': choose one of {', '.join(SOLVERS)}.")
