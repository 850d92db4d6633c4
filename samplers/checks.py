"""Checks on the tensors a sampling run is handed, before its loop starts."""
from __future__ import annotations

import torch


def check_finite(tensor: torch.Tensor, what: str, fix: str) -> None:
    """Refuses a tensor holding NaN or inf. One host sync: call it before a loop, never inside one."""
    if not bool(torch.isfinite(tensor).all()):
        kind = "NaN" if bool(torch.isnan(tensor).any()) else "inf"
        raise ValueError(f"{what} contains {kind}; {fix}")
