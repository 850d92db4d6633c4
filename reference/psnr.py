"""How close a roundtrip came back: PSNR between two latents."""
from __future__ import annotations

import math

import torch


def latent_psnr(reference: torch.Tensor, result: torch.Tensor) -> float:
    """PSNR with the reference latent's value range as the peak."""
    reference, result = reference.double(), result.double().to(reference.device)
    peak = float(reference.max() - reference.min()) or 1.0
    mse = float(((reference - result) ** 2).mean())
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak**2 / mse)
