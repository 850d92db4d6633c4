"""How good an edit is, as numbers: what the edit bench and the edit-quality test both measure.

A restyle should follow the new prompt, look like the model's own data under that prompt, keep the
source's layout, and stay steady along the source's motion. Each function measures one of those on
clean latents in the model's internal space. Clips come as (clips, frames, channels, height, width),
whatever the model's own latent layout. Pure torch; deterministic (every noise draw is seeded).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

# (noisy latent in the model's layout, sigma, condition name) -> the model's clean estimate, in eps
# form: noisy = clean + sigma * noise at every family, so the probe means the same signal-to-noise
# ratio on every fixture (a flow fixture feeds its model noisy / (1 + sigma) at sigma / (1 + sigma)).
ConditionalDenoise = Callable[[torch.Tensor, float, str], torch.Tensor]

# Noise levels the probe noises a latent to: low enough that the clean estimate depends on the
# latent's content, high enough that it depends on the prompt (checked by the classifier's accuracy).
PROBE_SIGMAS = (0.5, 1.0, 2.0)
PROBE_SEED = 2024
STRUCTURE_POOL = 4  # layout = the latent averaged over 4x4 blocks (a 16x16 SD1.5 latent -> 4x4)
INTERIOR_MARGIN = 2  # latent pixels at each border left out of the warp error (zero padding, wrapped content)


def denoising_error(denoise: ConditionalDenoise, clean: torch.Tensor, condition: str,
                    sigmas: Sequence[float] = PROBE_SIGMAS, seed: int = PROBE_SEED) -> torch.Tensor:
    """Per item along dim 0: the model's mean squared error recovering `clean` from it plus seeded
    noise, summed over `sigmas`. A latent the model finds typical of `condition` is easy to recover
    under that condition, so this is the model's own likelihood proxy (a diffusion ELBO term)."""
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(clean.shape[0], dtype=torch.float64)
    for sigma in sigmas:
        noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
        estimate = denoise(clean + sigma * noise.to(clean.device), sigma, condition)
        total += ((estimate - clean) ** 2).flatten(1).mean(1).double().cpu()
    return total


def classify(denoise: ConditionalDenoise, clean: torch.Tensor, conditions: Sequence[str]) -> list[str]:
    """Per item: the condition under which the model denoises it best (its own zero-shot classifier)."""
    errors = torch.stack([denoising_error(denoise, clean, condition) for condition in conditions])
    return [conditions[int(index)] for index in errors.argmin(0)]


def prompt_adherence(denoise: ConditionalDenoise, clean: torch.Tensor, target: str, conditions: Sequence[str]) -> float:
    """Fraction of items the classifier assigns to `target`: did the edit take the new prompt?"""
    predicted = classify(denoise, clean, conditions)
    return sum(label == target for label in predicted) / len(predicted)


def in_distribution_error(denoise: ConditionalDenoise, result: torch.Tensor, condition: str,
                          real: torch.Tensor) -> float:
    """The model's denoising error on the result under `condition`, over its error on real data of
    that condition: ~1 means the result looks like the model's own data, > 1 means artefacts the
    model would not produce (over-saturation, leftovers of the source, broken texture)."""
    return float(denoising_error(denoise, result, condition).mean() / denoising_error(denoise, real, condition).mean())


def pooled_correlation(result: torch.Tensor, source: torch.Tensor, pool: int = STRUCTURE_POOL) -> float:
    """Mean over frames of the Pearson correlation between block averages of result and source
    ((..., C, H, W) each): the layout kept, blind to the texture and fine detail an edit should change."""
    def blocks(x):
        pooled = F.avg_pool2d(x.flatten(0, -4).double(), pool).flatten(1)
        return pooled - pooled.mean(1, keepdim=True)

    a, b = blocks(result), blocks(source)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)).mean())


def _moved_back(frames: torch.Tensor, motion: tuple[int, int]) -> torch.Tensor:
    """Each frame after the first moved back by the per-frame motion (dy, dx), so it lines up with its predecessor."""
    dy, dx = motion
    return torch.roll(frames[:, 1:], shifts=(-dy, -dx), dims=(-2, -1))


def _interior(x: torch.Tensor, motion: tuple[int, int], margin: int = INTERIOR_MARGIN) -> torch.Tensor:
    """The pixels away from every border by `margin` plus the motion: what entered, left or wrapped is out."""
    my, mx = margin + abs(motion[0]), margin + abs(motion[1])
    return x[..., my: x.shape[-2] - my, mx: x.shape[-1] - mx]


def warp_error(clips: torch.Tensor, motions: Sequence[tuple[int, int]]) -> float:
    """Temporal consistency along each clip's known motion (dy, dx per frame): the mean squared
    difference between each frame moved back by the motion and its predecessor, in the interior,
    over the clips' variance. 0 for content that moves exactly with the source; flicker and
    re-invented texture raise it."""
    clips = clips.double()
    squared = [(_interior(_moved_back(clip[None], motion) - clip[None, :-1], motion) ** 2).mean()
               for clip, motion in zip(clips, motions, strict=True)]
    return float(torch.stack(squared).mean() / clips.var())


def flicker(result: torch.Tensor, source: torch.Tensor) -> float:
    """Energy of frame-to-frame differences relative to the clip's variance, over the same for the
    source: 1 when the result changes between frames as much as the source does, > 1 when it flickers.
    Needs no motion, so it also catches change the warp error's interior leaves out."""
    def energy(clips):
        clips = clips.double()
        return float((clips[:, 1:] - clips[:, :-1]).pow(2).mean() / clips.var())

    return energy(result) / energy(source)
