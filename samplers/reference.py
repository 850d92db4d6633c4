"""An exact denoiser: the posterior mean E[x0 | x_sigma] for data drawn element-wise from a mixture
of Gaussians. With it, every difference between an unsample -> resample roundtrip and its input is
the sampler's own error, which is what Rewind's diagnostics and tests measure.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .families import FAMILIES


def signal_scale(sigma: torch.Tensor, family: str) -> torch.Tensor:
    """alpha(sigma) in x = alpha * x0 + sigma * eps: 1 for EPS models, 1 - sigma for flow models."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}: expected one of {FAMILIES}.")
    return 1.0 - sigma if family == "flow" else torch.ones_like(sigma)


def posterior_mean(x: torch.Tensor, a: torch.Tensor, sigma: torch.Tensor, means: torch.Tensor, stds: torch.Tensor,
                   weights: torch.Tensor) -> torch.Tensor:
    """E[x0 | x = a * x0 + sigma * eps] for x0 ~ sum_k weights_k N(means_k, stds_k^2), element-wise.

    The mixture's component axis is last; its parameters broadcast against `x` (one mixture for
    all elements, or one per channel and batch item). Zero-weight components are ignored.
    """
    x_k, a_k, sigma_k = x.unsqueeze(-1), a.unsqueeze(-1), sigma.unsqueeze(-1)
    variances = stds**2
    # Marginal of x under component k is N(a*mu_k, a^2 s_k^2 + sigma^2).
    marginal_var = a_k**2 * variances + sigma_k**2
    residual = x_k - a_k * means
    log_post = torch.log(weights) - 0.5 * torch.log(marginal_var) - 0.5 * residual**2 / marginal_var
    posterior = torch.softmax(log_post, dim=-1)
    component_mean = means + a_k * variances / marginal_var * residual
    return (posterior * component_mean).sum(-1)


@dataclass(frozen=True)
class GaussianMixture:
    """Each latent element is i.i.d. from sum_k weights[k] * N(means[k], stds[k]**2)."""

    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor | float, family: str) -> torch.Tensor:
        """E[x0 | x] where x = alpha(sigma) * x0 + sigma * eps; `sigma` is a float or one value per batch item."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1, *([1] * (x.ndim - 1)))
        parameters = [torch.tensor(p, dtype=torch.float64, device=x.device) for p in (self.means, self.stds, self.weights)]
        return posterior_mean(x.double(), signal_scale(sigma, family), sigma, *parameters).to(x.dtype)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Draws clean data from the mixture (float32)."""
        probs = torch.tensor(self.weights, dtype=torch.float64)
        index = torch.multinomial(probs / probs.sum(), int(torch.tensor(shape).prod()), replacement=True, generator=generator)
        means = torch.tensor(self.means, dtype=torch.float64)[index]
        stds = torch.tensor(self.stds, dtype=torch.float64)[index]
        noise = torch.randn(index.shape, generator=generator, dtype=torch.float64)
        return (means + stds * noise).reshape(shape).float()


GAUSSIAN = GaussianMixture(means=(0.0,), stds=(1.0,), weights=(1.0,))
MIXTURE = GaussianMixture(means=(-1.0, 0.0, 1.2), stds=(0.35, 0.5, 0.3), weights=(0.3, 0.4, 0.3))
DATA = {"gaussian": GAUSSIAN, "mixture": MIXTURE}


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

    def _basis(self, device) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.channels)
        q, _ = torch.linalg.qr(torch.randn(self.channels, 3, generator=generator, dtype=torch.float64))
        return q.float().to(device)  # (channels, 3) with orthonormal columns

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
        latent = torch.einsum("cr,frhw->fchw", self._basis(pixels.device), rgb) * self.gain
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
        rgb = torch.einsum("cr,fchw->frhw", self._basis(latent.device), latent.float() / self.gain)
        rgb = torch.nn.functional.interpolate(rgb, scale_factor=self.spatial, mode="nearest")
        return ((rgb + 1.0) * 0.5).clamp(0.0, 1.0).movedim(1, -1)
