"""Exact inversion of a one-step solver by accelerated fixed-point iteration.

Unsampling step s -> t (s < t) looks for the y at sigma t from which the resampler's own step
t -> s lands exactly on x: F(y) = x. We iterate y <- y + (x - F(y)) (ReNoise / AIDI style), which
contracts because F is close to the identity plus a small Lipschitz term, and speed it up with
Anderson mixing (AIDI). The iteration count is fixed, so the loop never asks the device whether it
has converged (no host sync).
"""
from __future__ import annotations

from typing import Callable

import torch

ANDERSON_MEMORY = 3
ANDERSON_REGULARISATION = 1e-9


def _per_item_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched inner products: a (B, n, m), b (B, n, k) -> (B, m, k)."""
    return torch.einsum("bnm,bnk->bmk", a, b)


def anderson_fixed_point(
    residual: Callable[[torch.Tensor], torch.Tensor],
    guess: torch.Tensor,
    iterations: int,
    memory: int = ANDERSON_MEMORY,
) -> torch.Tensor:
    """Solves residual(y) = 0 for the fixed point of y + residual(y).

    Each batch item is mixed on its own, so results do not depend on which frames share a batch.
    """
    y = guess
    batch = guess.shape[0]
    values, residuals = [], []
    for _ in range(iterations):
        r = residual(y)
        values.append((y + r).reshape(batch, -1))
        residuals.append(r.reshape(batch, -1))
        values, residuals = values[-(memory + 1):], residuals[-(memory + 1):]
        if len(residuals) == 1:
            y = y + r
            continue
        d_res = torch.stack([b - a for a, b in zip(residuals, residuals[1:])], dim=-1)  # (B, n, m)
        d_val = torch.stack([b - a for a, b in zip(values, values[1:])], dim=-1)
        gram = _per_item_dot(d_res, d_res).double()
        scale = torch.diagonal(gram, dim1=-2, dim2=-1).mean(-1, keepdim=True).unsqueeze(-1)
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        gram = gram + (ANDERSON_REGULARISATION * scale + 1e-30) * eye
        rhs = _per_item_dot(d_res, residuals[-1].unsqueeze(-1)).double()
        gamma = torch.linalg.solve(gram, rhs).to(d_val.dtype)  # (B, m, 1)
        y = (values[-1] - torch.bmm(d_val, gamma).squeeze(-1)).reshape(guess.shape)
    return y
