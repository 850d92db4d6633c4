"""Temporal consistency as a number: the warp error of a video along the *source's* motion.

Motion is estimated once, on the source, by block matching (each block's integer shift from the
previous frame, on a downscaled luma); any video of the same clip (the restyled result, a
per-frame baseline) is then warped with it. A restyle that keeps the source's motion scores close
to the source itself; one that flickers or re-invents texture per frame scores higher.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DOWNSCALE = 4  # measure on a 1/4-size copy: flicker shows at that scale and the search stays cheap
BLOCK = 4  # block size at the measuring scale (16 px at full size)
RADIUS = 6  # search radius at the measuring scale (24 px per frame at full size)


@dataclass(frozen=True)
class Motion:
    """Per block of each frame after the first: the index into `shifts` of its motion."""

    shifts: list[tuple[int, int]]
    best: torch.Tensor  # (frames - 1, blocks_y, blocks_x)


def _small(frames: torch.Tensor) -> torch.Tensor:
    """(T, H, W, 3) in [0, 1] -> (T, 3, H/DOWNSCALE, W/DOWNSCALE), float64."""
    height, width = frames.shape[1:3]
    if height < DOWNSCALE * BLOCK or width < DOWNSCALE * BLOCK:
        raise ValueError(f"frames of {width}x{height} are too small to measure motion (need {DOWNSCALE * BLOCK} px)")
    pixels = frames[:, : height - height % (DOWNSCALE * BLOCK), : width - width % (DOWNSCALE * BLOCK)]
    return F.avg_pool2d(pixels.movedim(-1, 1).double(), DOWNSCALE)


def _shifted(frames: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """frames moved by (dy, dx); pixels that came from outside the frame are NaN."""
    padded = F.pad(frames, (RADIUS, RADIUS, RADIUS, RADIUS), value=float("nan"))
    height, width = frames.shape[-2:]
    return padded[..., RADIUS - dy : RADIUS - dy + height, RADIUS - dx : RADIUS - dx + width]


def estimate_motion(source: torch.Tensor) -> Motion:
    """Block matching on the source's luma; no motion wins ties, so flat areas count as still."""
    if source.shape[0] < 2:
        raise ValueError(f"'source' has {source.shape[0]} frame; temporal consistency needs at least 2: connect a longer clip.")
    luma = _small(source).mean(1, keepdim=True)
    previous, current = luma[:-1], luma[1:]
    shifts = sorted(((dy, dx) for dy in range(-RADIUS, RADIUS + 1) for dx in range(-RADIUS, RADIUS + 1)),
                    key=lambda s: (abs(s[0]) + abs(s[1]), s))
    return Motion(shifts, torch.stack([_block_cost(current, _shifted(previous, dy, dx)) for dy, dx in shifts]).argmin(0))


def _block_cost(current: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per block over the pixels the move keeps in frame; a shift that
    leaves less than half of a block in frame is ruled out."""
    difference = (current - moved).abs()
    visible = F.avg_pool2d((~difference.isnan()).double(), BLOCK)[:, 0]
    cost = F.avg_pool2d(difference.nan_to_num(0.0), BLOCK)[:, 0] / visible.clamp(min=1e-9)
    return torch.where(visible >= 0.5, cost, math.inf)


def warp_error(video: torch.Tensor, motion: Motion) -> float:
    """Mean |frame - previous frame moved by the motion| over pixels visible in both, on RGB in [0, 1]."""
    small = _small(video)
    previous, current = small[:-1], small[1:]
    if motion.best.shape[0] != current.shape[0]:
        raise ValueError(f"the video has {video.shape[0]} frames but the motion was measured on {motion.best.shape[0] + 1}")
    best = motion.best.repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2)[:, None]
    warped = torch.zeros_like(current)
    for index in torch.unique(best).tolist():
        dy, dx = motion.shifts[index]
        warped = torch.where(best == index, _shifted(previous, dy, dx), warped)
    difference = (current - warped).abs()
    visible = ~difference.isnan()
    return float(difference[visible].mean())
