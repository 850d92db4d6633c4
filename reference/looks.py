"""Prompt-conditioned exact denoising: words in the prompt pick a *look* (tint, brightness,
contrast, saturation, posterized tone levels), and the look is a per-colour-axis Gaussian mixture
in latent space. The denoiser stays the analytic posterior mean, so unsampling under one prompt and
resampling under another restyles a video with no weights, and the same prompt both ways returns
the input exactly (for smooth looks; a posterized look maps many tones to one, so it cannot).

Colours are handled on opponent axes (luma, red-green, yellow-blue) of ``2 * rgb - 1``; a
:class:`ColourFrame` says where those axes lie in a model's latent space.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from ..samplers.families import alpha
from .denoisers import posterior_mean

# Rows: luma, red-green, yellow-blue; orthonormal, so noise stays isotropic in these coordinates.
OPPONENT_AXES = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, -2.0]], dtype=torch.float64)
OPPONENT_AXES = OPPONENT_AXES / OPPONENT_AXES.norm(dim=1, keepdim=True)
MAX_LEVELS = 8
LEVEL_WIDTH = 0.03  # a posterized level's std, as a fraction of the axis' spread: narrow enough for flat tones
CODE_LENGTH = 9  # shift (3), log contrast (3), levels (3): all zero is "no look"


@dataclass(frozen=True)
class Look:
    """Target statistics per opponent axis, relative to the data the model was unsampled under:
    `shift` moves the mean (units of 2*rgb-1), `contrast` scales the spread, `levels` > 1 snaps
    the axis to that many tones."""

    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    contrast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    levels: tuple[int, int, int] = (0, 0, 0)

    def __add__(self, other: Look) -> Look:
        """Words combine: shifts add, contrasts multiply, the finer posterization wins."""
        return Look(tuple(a + b for a, b in zip(self.shift, other.shift)),
                    tuple(a * b for a, b in zip(self.contrast, other.contrast)),
                    tuple(max(a, b) for a, b in zip(self.levels, other.levels)))

    def code(self) -> torch.Tensor:
        """The look as the text embedding carries it (float64, CODE_LENGTH values)."""
        return torch.tensor([*self.shift, *(math.log(c) for c in self.contrast), *self.levels], dtype=torch.float64)


def tinted(r: float, g: float, b: float, brightness: float = 0.0, contrast: float = 1.0, saturation: float = 1.0) -> Look:
    """A look whose chroma moves to the colour (r, g, b) in [0, 1] and whose luma moves by `brightness`."""
    chroma = OPPONENT_AXES[1:] @ (2.0 * torch.tensor([r, g, b], dtype=torch.float64) - 1.0)
    return Look((brightness, float(chroma[0]), float(chroma[1])), (contrast, saturation, saturation))


def graded(brightness: float = 0.0, contrast: float = 1.0, saturation: float = 1.0, levels: int = 0,
           chroma_levels: int = 0) -> Look:
    """A look that keeps the hue: tone and saturation only."""
    return Look((brightness, 0.0, 0.0), (contrast, saturation, saturation), (levels, chroma_levels, chroma_levels))


VOCABULARY: dict[str, Look] = {
    "sepia": tinted(0.62, 0.46, 0.3, saturation=0.15),
    "vintage": tinted(0.58, 0.5, 0.38, brightness=0.15, contrast=0.75, saturation=0.55),
    "noir": graded(brightness=-0.1, contrast=1.5, saturation=0.03),
    "monochrome": graded(saturation=0.03),
    "pastel": graded(brightness=0.45, contrast=0.6, saturation=0.55),
    "neon": graded(brightness=-0.25, contrast=1.3, saturation=2.6),
    "vivid": graded(contrast=1.15, saturation=1.8),
    "night": tinted(0.3, 0.38, 0.62, brightness=-0.55, contrast=0.8, saturation=0.6),
    "sunset": tinted(0.78, 0.45, 0.3, saturation=1.2),
    "warm": tinted(0.6, 0.5, 0.4),
    "cool": tinted(0.4, 0.5, 0.62),
    "posterized": graded(levels=4, chroma_levels=3),
    "comic": graded(contrast=1.2, saturation=1.5, levels=4, chroma_levels=3),
}
SYNONYMS = {"grayscale": "monochrome", "greyscale": "monochrome", "moonlight": "night", "golden": "sunset",
            "retro": "vintage", "poster": "posterized", "cartoon": "comic", "saturated": "vivid", "icy": "cool"}


def look_from_prompt(text: str) -> tuple[Look, list[str]]:
    """The look named by the prompt's known words (other words are ignored) and those words."""
    words = [SYNONYMS.get(word, word) for word in re.findall(r"[a-z]+", text.lower())]
    known = [word for word in words if word in VOCABULARY]
    look = Look()
    for word in known:
        look = look + VOCABULARY[word]
    return look, known


@dataclass(frozen=True)
class ColourFrame:
    """Where the opponent colour axes lie in a model's latent space (model units, after the latent
    format's process_in). `basis` is orthonormal (C, C) with the three colour directions first;
    `colour_scale` (3, 3, upper triangular) maps opponent coordinates onto them. Looks are centred
    on the latent origin, the mean of the reference data, so no look is exactly that data's Gaussian."""

    basis: torch.Tensor
    colour_scale: torch.Tensor

    @classmethod
    def from_colour_map(cls, colour_to_latent: torch.Tensor) -> ColourFrame:
        """From the linear part of latent = colour_to_latent @ (2*rgb - 1) + offset ((C, 3))."""
        directions = colour_to_latent.double() @ OPPONENT_AXES.T  # (C, 3): opponent axes in latent space
        channels = directions.shape[0]
        q, r = torch.linalg.qr(torch.cat([directions, torch.eye(channels, dtype=torch.float64)], dim=1))
        signs = torch.sign(torch.diagonal(r)[:3])
        q = torch.cat([q[:, :3] * signs, q[:, 3:]], dim=1)
        return cls(q, signs[:, None] * r[:3, :3])

    def mixtures(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per batch item and latent coordinate, the mixture each look sets: (B, C, MAX_LEVELS) each.
        Coordinates outside the colour axes (and any axis at its neutral setting) stay N(0, 1)."""
        codes = codes.double()
        batch, channels = codes.shape[0], self.basis.shape[0]
        shift, contrast = codes[:, :3], codes[:, 3:6].exp()
        levels = codes[:, 6:9].round().clamp(1, MAX_LEVELS)
        centres = torch.zeros(batch, channels, dtype=torch.float64, device=codes.device)
        centres[:, :3] = shift @ self.colour_scale.to(codes.device).T
        spread = torch.ones(batch, channels, dtype=torch.float64, device=codes.device)
        spread[:, :3] = contrast
        count = torch.ones(batch, channels, dtype=torch.float64, device=codes.device)
        count[:, :3] = levels
        k = torch.arange(MAX_LEVELS, dtype=torch.float64, device=codes.device)
        used = k < count[..., None]
        # Levels sit at the quantiles of N(0, spread^2), so the tones they replace are equally common.
        quantiles = torch.special.ndtri(((k + 0.5) / count[..., None]).clamp(max=1.0 - 1e-6))
        single = count[..., None] == 1
        means = centres[..., None] + spread[..., None] * torch.where(single, 0.0, quantiles)
        stds = spread[..., None] * torch.where(single, 1.0, LEVEL_WIDTH)
        weights = torch.where(used, 1.0 / count[..., None], 0.0)
        return torch.broadcast_tensors(means, stds, weights)

    def sample(self, code: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Clean latents of `shape` (channels on dim 1, float32) drawn from the look `code`: the data
        whose exact posterior mean `denoise` is, so a look has real samples to compare edits with."""
        means, stds, weights = (p[0] for p in self.mixtures(code[None]))  # (C, MAX_LEVELS) each
        channels, per_channel = shape[1], math.prod(shape) // shape[1]
        component = torch.multinomial(weights, per_channel, replacement=True, generator=generator)
        noise = torch.randn(channels, per_channel, generator=generator, dtype=torch.float64)
        coords = means.gather(1, component) + stds.gather(1, component) * noise
        coords = coords.reshape(channels, shape[0], *shape[2:]).movedim(0, 1)
        return torch.einsum("cd,bd...->bc...", self.basis, coords).float()

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, family: str, codes: torch.Tensor) -> torch.Tensor:
        """E[x0 | x] under each batch item's look; channels on dim 1, `sigma` one value per item.
        The frame is orthonormal, so the noise stays isotropic and each coordinate is denoised alone."""
        basis = self.basis.to(x.device)
        spatial = [1] * (x.ndim - 2)
        sigma = sigma.to(x.device, torch.float64).reshape(-1, 1, *spatial)
        coords = torch.einsum("cd,bc...->bd...", basis, x.double())
        means, stds, weights = (p.reshape(*p.shape[:2], *spatial, MAX_LEVELS) for p in self.mixtures(codes.to(x.device)))
        clean = posterior_mean(coords, alpha(family, sigma), sigma, means, stds, weights)
        return torch.einsum("cd,bd...->bc...", basis, clean).to(x.dtype)
