"""LAB colour matching of decoded frames: removes the slow colour and brightness drift that survives
latent guidance (each frame's L, a, b mean and spread moved toward a reference's, Reinhard-style).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch


def _lab(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f, dtype=np.float32), cv2.COLOR_RGB2LAB) for f in frames])


def _rgb(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f, dtype=np.float32), cv2.COLOR_LAB2RGB) for f in frames])


def _stats(lab: np.ndarray, pooled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (or, pooled, whole-clip) channel mean and std, shaped (N, 1, 1, 3)."""
    axes = (0, 1, 2) if pooled else (1, 2)
    return lab.mean(axis=axes, keepdims=True), lab.std(axis=axes, keepdims=True)


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
    rgb = frames.detach().cpu().float().clamp(0, 1).numpy()
    lab = _lab(rgb)
    ref_lab = _lab(reference.detach().cpu().float().clamp(0, 1).numpy())
    mean, std = _stats(lab, pooled=False)
    ref_mean, ref_std = _stats(ref_lab, pooled=len(ref_lab) not in (1, len(lab)))
    matched = (lab - mean) * (ref_std / np.maximum(std, 1e-6)) + ref_mean
    blended = lab + strength * (matched - lab)
    # Apply the change as an RGB delta so OpenCV's LAB round-trip error cancels where nothing changes.
    out = np.clip(rgb + _rgb(blended.astype(np.float32)) - _rgb(lab), 0.0, 1.0)
    return torch.from_numpy(out).to(device=frames.device, dtype=frames.dtype)
