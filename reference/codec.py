"""A weight-free VAE: pixels <-> latents by box filtering and a fixed colour basis."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .looks import ColourFrame


@dataclass(frozen=True)
class ReferenceCodec:
    """A deterministic, weight-free pixel <-> latent map shaped like a real VAE.

    Encoding box-filters each `spatial` x `spatial` block (and, for video VAEs, each group of
    `temporal` frames after the first, as Wan's causal VAE does), then spreads the three colour
    values over `channels` with a fixed orthonormal basis; decoding inverts the basis and repeats.
    Pixels -> latent -> pixels is therefore a plain downscale/upscale: no weights, no randomness.
    """

    channels: int
    spatial: int = 8
    temporal: int = 1
    gain: float = 1.0  # raw latent units per unit of (2 * rgb - 1), to land near the real VAE's scale

    def basis(self, device) -> torch.Tensor:
        """The fixed colour -> latent directions, (channels, 3) with orthonormal columns."""
        generator = torch.Generator().manual_seed(self.channels)
        q, _ = torch.linalg.qr(torch.randn(self.channels, 3, generator=generator, dtype=torch.float64))
        return q.float().to(device)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(frames, H, W, 3) in [0, 1] -> (frames, C, h, w), or (1, C, t, h, w) for a temporal codec."""
        frames, height, width, _ = pixels.shape
        if height % self.spatial or width % self.spatial:
            raise ValueError(
                f"The reference codec needs sizes divisible by {self.spatial}; got {width}x{height}. "
                "Resize the frames (RewindLoadVideo's model_preset does it)."
            )
        rgb = pixels.movedim(-1, 1).float() * 2.0 - 1.0
        rgb = torch.nn.functional.avg_pool2d(rgb, self.spatial)
        latent = torch.einsum("cr,frhw->fchw", self.basis(pixels.device), rgb) * self.gain
        if self.temporal == 1:
            return latent
        if (frames - 1) % self.temporal:
            raise ValueError(
                f"This video codec takes {self.temporal}n+1 frames; got {frames}. "
                f"Load {frames - (frames - 1) % self.temporal} frames instead (RewindLoadVideo's Wan2.1 preset does it)."
            )
        groups = [latent[:1]] + list(latent[1:].split(self.temporal))
        return torch.stack([g.mean(0) for g in groups], dim=1).unsqueeze(0)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The inverse of encode up to the box filter: -> (frames, H, W, 3) in [0, 1]."""
        if latent.ndim == 5:
            first, rest = latent[:, :, :1], latent[:, :, 1:].repeat_interleave(self.temporal, dim=2)
            latent = torch.cat([first, rest], dim=2).movedim(2, 1).flatten(0, 1)
        rgb = torch.einsum("cr,fchw->frhw", self.basis(latent.device), latent.float() / self.gain)
        rgb = torch.nn.functional.interpolate(rgb, scale_factor=self.spatial, mode="nearest")
        return ((rgb + 1.0) * 0.5).clamp(0.0, 1.0).movedim(1, -1)

    def colour_frame(self, process_in) -> ColourFrame:
        """Where each colour axis lies in a model's latent space; `process_in` is the model's scaling of
        raw latents (its latent format's process_in)."""
        raw = torch.cat([torch.zeros(1, self.channels), self.gain * self.basis("cpu").T])  # grey, then each colour axis
        shaped = raw.reshape(4, self.channels, *([1] * (3 if self.temporal > 1 else 2)))
        scaled = process_in(shaped).reshape(4, self.channels).double()
        return ColourFrame.from_colour_map((scaled[1:] - scaled[0]).T)
