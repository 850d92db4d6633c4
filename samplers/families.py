"""The two ways models mix data and noise, as far as the solvers care.

eps (SD1.5, SDXL, SD2 v-pred in k-diffusion form): x = x0 + sigma * eps, so alpha = 1.
flow (Wan2.1, SD3, Flux):                           x = (1 - sigma) * x0 + sigma * eps, so alpha = 1 - sigma.
In both, the probability-flow ODE is dx/dsigma = (x - x0_hat) / sigma, so one set of solvers serves both.
"""
from __future__ import annotations

import torch

FAMILIES = ("eps", "flow")


def alpha(family: str, sigma):
    """Signal scale at `sigma`: a float, or a tensor of sigmas (then one scale per element)."""
    if family == "eps":
        return torch.ones_like(sigma) if isinstance(sigma, torch.Tensor) else 1.0
    if family == "flow":
        return 1.0 - sigma
    raise ValueError(f"Unknown model family {family!r}: expected one of {FAMILIES}.")
