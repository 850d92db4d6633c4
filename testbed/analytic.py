"""A closed-form EPS denoiser wrapped as a real ComfyUI model that logs the windows it is called on, and
a core-sampler run on it: what the context-window tests compare windowed and whole-clip sampling with."""
from __future__ import annotations

import torch

PRIOR_STD = 0.8


def analytic_patcher(comfy_root, latent_dimensions=2):
    """A real ComfyUI ModelPatcher around an exact, frame-independent EPS denoiser that logs its windows."""
    import comfy.latent_formats
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models_base

    class AnalyticUNet(torch.nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))  # something for the patcher to load
            self.dtype = torch.float32
            self.windows_seen: list[tuple[tuple[int, ...], float]] = []

        def forward(self, x, timesteps, context=None, transformer_options={}, **kwargs):
            sigma = self.sigma_of(timesteps).reshape(-1, *([1] * (x.ndim - 1)))
            window = transformer_options.get("context_window")
            self.windows_seen.append((tuple(window.index_list) if window else None, float(sigma.flatten()[0])))
            x_raw = x * (sigma**2 + 1).sqrt()  # undo ComfyUI's EPS input scaling
            return x_raw * sigma / (PRIOR_STD**2 + sigma**2)

    class Config(comfy.supported_models_base.BASE):
        latent_format = comfy.latent_formats.Wan21 if latent_dimensions == 3 else comfy.latent_formats.SD15

    model = comfy.model_base.BaseModel(Config({}), comfy.model_base.ModelType.EPS, device=torch.device("cpu"), unet_model=AnalyticUNet)
    model.diffusion_model.sigma_of = model.model_sampling.sigma
    return comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))


def run_sampler(patcher, latent, sampler_name):
    import comfy.sample
    import comfy.samplers

    sigmas = torch.tensor([14.6, 6.0, 2.0, 0.5, 0.0])
    positive = [[torch.zeros(1, 4, 8), {}]]
    sampler = comfy.samplers.ksampler(sampler_name)
    return comfy.sample.sample_custom(patcher, latent.clone(), 1.0, sampler, sigmas, positive, positive, torch.zeros_like(latent), disable_pbar=True, seed=0)
