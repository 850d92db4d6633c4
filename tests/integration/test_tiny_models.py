"""Each tiny file is what ComfyUI takes for the real model: detected as its class, loaded by
``load_diffusion_model`` (UNETLoader's path) with every key used, and runnable with the conditioning
its text encoder hands over. A model this ComfyUI does not have is skipped, with the reason."""
from __future__ import annotations

import pytest
import torch

from rewind.testbed.tiny_models import TINY_MODELS, load_tiny_model, tiny_conditioning, tiny_state_dict, write_tiny_model

# A few latent frames of each model's own latent, as small as its patches allow.
LATENTS = {"Wan2.1": (16, 2, 8, 8), "Wan2.2 TI2V-5B": (48, 2, 8, 8), "HunyuanVideo": (16, 2, 8, 8),
           "HunyuanVideo 1.5": (32, 2, 4, 4), "LTX-Video": (128, 2, 4, 4), "Mochi": (12, 2, 8, 8),
           "Cosmos Predict2": (16, 2, 8, 8)}


def require_in_this_comfyui(name: str) -> None:
    import comfy.supported_models
    import comfyui_version

    if not hasattr(comfy.supported_models, TINY_MODELS[name].detected_as):
        pytest.skip(f"ComfyUI {comfyui_version.__version__} has no {TINY_MODELS[name].detected_as}: it cannot load {name}")


@pytest.mark.parametrize("name", TINY_MODELS)
@pytest.mark.parametrize("prefix", ["", "model.diffusion_model."])
def test_comfyui_detects_each_tiny_file_as_its_model(comfy, name, prefix):
    import comfy.model_detection

    require_in_this_comfyui(name)
    state_dict = tiny_state_dict(name, prefix=prefix)
    config = comfy.model_detection.model_config_from_unet(state_dict, prefix)
    assert type(config).__name__ == TINY_MODELS[name].detected_as


@pytest.mark.parametrize("name", TINY_MODELS)
def test_unet_loader_path_loads_every_key_and_runs_a_forward_pass(comfy, name):
    require_in_this_comfyui(name)
    model = load_tiny_model(name, seed=3).model
    written = model.model_config.process_unet_state_dict(tiny_state_dict(name, seed=3, dtype=torch.float32))  # released names -> ComfyUI's
    loaded = model.diffusion_model.state_dict()
    assert set(loaded) == set(written)
    key = next(k for k in written if k.endswith(".weight") and "norm" not in k)
    assert torch.equal(loaded[key].float(), written[key].float())

    latent = torch.randn(1, *LATENTS[name], generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.7])
    [[context, extras]] = tiny_conditioning(name, seed=1)
    conds = model.extra_conds(cross_attn=context, noise=latent, device=latent.device, **extras)
    kwargs = {key: cond.cond for key, cond in conds.items()}
    other = {**kwargs, "c_crossattn": context.flip(1) * 3}
    with torch.no_grad():
        denoised = model.apply_model(latent, sigma, **kwargs)
        other_prompt = model.apply_model(latent, sigma, **other)
    assert denoised.shape == latent.shape and torch.isfinite(denoised).all()
    assert not torch.allclose(denoised, other_prompt), "cross-attention should make the prompt matter"


def test_unet_loader_reads_the_tiny_file_from_disk(comfy, tmp_path):
    import comfy.sd
    import comfy.supported_models

    path = write_tiny_model("Wan2.1", tmp_path / "wan2.1_t2v_tiny.safetensors")
    assert type(comfy.sd.load_diffusion_model(str(path)).model.model_config) is comfy.supported_models.WAN21_T2V
