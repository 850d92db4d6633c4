"""The two ways models mix data and noise, as far as the solvers care.

eps (SD1.5, SDXL, SD2 v-pred in k-diffusion form): x = x0 + sigma * eps, so alpha = 1.
flow (Wan2.1, SD3, Flux):                           x = (1 - sigma) * x0 + sigma * eps, so alpha = 1 - sigma.
In both, the probability-flow ODE is dx/dsigma = (x - x0_hat) / sigma, so one set of solvers serves both.
"""
from __future__ import annotations

FAMILIES = ("eps", "flow")


def alpha(family: str, sigma: float) -> float:
    """Signal scale at `sigma`."""
    if family == "eps":
        return 1.0
    if family == "flow":
        return 1.0 - sigma
    raise ValueError(f"Unknown model family {family!r}: expected one of {FAMILIES}.")


def max_sigma(family: str) -> float | None:
    """The largest meaningful sigma (pure noise), or None when the family has no upper bound."""
    return 1.0 if family == "flow" else None
