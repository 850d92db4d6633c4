"""LAB colour matching of decoded frames: removes the slow colour and brightness drift that survives
latent guidance (each frame's L, a, b mean and spread moved toward a reference's, Reinhard-style).

The sRGB <-> CIE LAB (D65) conversion is written in torch rather than taken from OpenCV: it runs on
the frames' own device, inverts exactly, and keeps OpenCV (whose wheels pin numpy >= 2) out of the
pack's runtime requirements.
"""
from __future__ import annotations

import torch

# sRGB primaries to XYZ and the D65 white point, as in IEC 61966-2-1 (and OpenCV).
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.950456, 1.0, 1.088754)
_DELTA = 6.0 / 29.0


def _srgb_to_linear(c):
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c):
    return torch.where(c <= 0.0031308, c * 12.92, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def _f(t):
    return torch.where(t > _DELTA**3, t.clamp(min=_DELTA**3) ** (1 / 3), t / (3 * _DELTA**2) + 4 / 29)


def _f_inverse(t):
    return torch.where(t > _DELTA, t**3, 3 * _DELTA**2 * (t - 4 / 29))


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) sRGB in [0, 1] -> (..., 3) L in [0, 100], a and b around 0."""
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device)
    xyz = _f((_srgb_to_linear(rgb) @ matrix.T) / white)
    x, y, z = xyz.unbind(-1)
    return torch.stack([116 * y - 16, 500 * (x - y), 200 * (y - z)], dim=-1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """The exact inverse of rgb_to_lab (not clipped)."""
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=lab.dtype, device=lab.device)
    white = torch.tensor(_WHITE, dtype=lab.dtype, device=lab.device)
    lightness, a, b = lab.unbind(-1)
    y = (lightness + 16) / 116
    xyz = _f_inverse(torch.stack([y + a / 500, y, y - b / 200], dim=-1)) * white
    return _linear_to_srgb(xyz @ torch.linalg.inv(matrix).T)


def _stats(lab: torch.Tensor, pooled: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame (or, pooled, whole-clip) channel mean and std, shaped (N, 1, 1, 3)."""
    dims = (0, 1, 2) if pooled else (1, 2)
    return lab.mean(dim=dims, keepdim=True), lab.std(dim=dims, keepdim=True, unbiased=False)


def color_match(frames: torch.Tensor, reference: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Matches IMAGE frames (N, H, W, 3) in [0, 1] to `reference` (R, H', W', 3) in LAB.

    One reference frame: every frame matches it. R == N: frame i matches reference frame i. Otherwise
    every frame matches the whole reference clip's statistics. `strength` blends from 0 (unchanged) to 1.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or reference.ndim != 4 or reference.shape[-1] != 3:
        raise ValueError(
            f"Colour match needs RGB IMAGE batches (frames, height, width, 3); got {tuple(frames.shape)} and "
            f"reference {tuple(reference.shape)}. Convert RGBA or masks to RGB first."
        )
    if strength == 0.0:
        return frames
    lab = rgb_to_lab(frames.detach().double().clamp(0, 1))
    ref_lab = rgb_to_lab(reference.detach().to(lab.device).double().clamp(0, 1))
    mean, std = _stats(lab, pooled=False)
    ref_mean, ref_std = _stats(ref_lab, pooled=len(ref_lab) not in (1, len(lab)))
    matched = (lab - mean) * (ref_std / std.clamp(min=1e-6)) + ref_mean
    out = lab_to_rgb(lab + strength * (matched - lab)).clamp(0.0, 1.0)
    return out.to(dtype=frames.dtype)
