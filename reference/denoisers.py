"""An exact denoiser: the posterior mean E[x0 | x_sigma] for data drawn element-wise from a mixture
of Gaussians. With it, every difference between an unsample -> resample roundtrip and its input is
the sampler's own error, which is what Rewind's diagnostics and tests measure.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..samplers.families import alpha


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
        return posterior_mean(x.double(), alpha(family, sigma), sigma, *parameters).to(x.dtype)

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
