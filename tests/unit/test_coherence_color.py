"""LAB colour match of decoded frames (no ComfyUI)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from rewind.coherence.color import color_match


def drifting_clip(frames=6, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 24, 32, 3, generator=g) * 0.6 + 0.2
    tint = torch.linspace(0, 0.15, frames).reshape(-1, 1, 1, 1) * torch.tensor([1.0, -0.5, -1.0])
    return (base + tint).clamp(0, 1)


def lab_means(frames: torch.Tensor) -> np.ndarray:
    return np.stack([cv2.cvtColor(f.numpy().astype(np.float32), cv2.COLOR_RGB2LAB).mean((0, 1)) for f in frames])


def test_matches_every_frame_to_the_first():
    clip = drifting_clip()
    out = color_match(clip, clip[:1], 1.0)
    drift_before = np.abs(lab_means(clip) - lab_means(clip)[0]).max()
    drift_after = np.abs(lab_means(out) - lab_means(clip)[0]).max()
    assert drift_before > 5.0
    assert drift_after < 0.1 * drift_before
    assert out.shape == clip.shape and 0.0 <= out.min() and out.max() <= 1.0


def test_strength_blends_and_zero_leaves_frames_alone():
    clip = drifting_clip()
    assert torch.allclose(color_match(clip, clip[:1], 0.0), clip, atol=1e-3)
    half = lab_means(color_match(clip, clip[:1], 0.5))
    assert np.allclose(half[-1], (lab_means(clip)[-1] + lab_means(clip)[0]) / 2, atol=0.5)


def test_reference_clip_of_the_same_length_is_matched_frame_by_frame():
    source = drifting_clip(seed=1)
    styled = source.flip(0)  # the same colours in the wrong order
    out = color_match(styled, source, 1.0)
    assert np.abs(lab_means(styled) - lab_means(source)).max() > 10.0
    assert np.abs(lab_means(out) - lab_means(source)).max() < 1.0  # what is left is clipping at 0 and 1


def test_non_rgb_input_is_explained():
    with pytest.raises(ValueError, match="RGB IMAGE"):
        color_match(torch.rand(2, 8, 8, 4), torch.rand(1, 8, 8, 3))


def test_lab_agrees_with_opencv_and_inverts_exactly():
    from rewind.coherence.color import lab_to_rgb, rgb_to_lab

    rgb = torch.rand(4, 16, 16, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    ours = rgb_to_lab(rgb).numpy()
    opencv = np.stack([cv2.cvtColor(f.numpy().astype(np.float32), cv2.COLOR_RGB2LAB) for f in rgb])
    assert np.abs(ours - opencv).max() < 0.5  # OpenCV quantises a and b to 1/64 and uses tables
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-9)
