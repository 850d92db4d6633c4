"""The tiny Wan2.1 file is what ComfyUI takes for a real Wan2.1 t2v model: detected as such,
loaded by ``load_diffusion_model`` (UNETLoader's path) with every key used, and runnable."""
from __future__ import annotations

import pytest
import torch

from rewind.testbed.tiny_models import TINY_WAN21, wan21_t2v_state_dict, write_tiny_wan21_t2v


@pytest.mark.parametrize("prefix", ["", "model.diffusion_model."])
def test_comfyui_detects_the_tiny_file_as_wan21_t2v(comfy, tmp_path, prefix):
    import comfy.model_detection
    import comfy.utils

    path = write_tiny_wan21_t2v(tmp_path / "wan2.1_t2v_tiny.safetensors", prefix=prefix)
    state_dict = comfy.utils.load_torch_file(str(path))
    config = comfy.model_detection.detect_unet_config(state_dict, prefix)
    assert config["image_model"] == "wan2.1" and config["model_type"] == "t2v"
    assert (config["dim"], config["num_layers"], config["ffn_dim"], config["in_dim"]) == (128, 1, 256, 16)


def test_unet_loader_path_loads_every_key_and_runs_a_forward_pass(comfy, tmp_path):
    import comfy.sd
    import comfy.supported_models

    path = write_tiny_wan21_t2v(tmp_path / "wan2.1_t2v_tiny.safetensors", seed=3)
    patcher = comfy.sd.load_diffusion_model(str(path))
    model = patcher.model
    assert type(model.model_config) is comfy.supported_models.WAN21_T2V
    loaded = model.diffusion_model.state_dict()
    written = wan21_t2v_state_dict(seed=3)
    assert set(loaded) == set(written)
    assert torch.equal(loaded["blocks.0.ffn.0.weight"].float(), written["blocks.0.ffn.0.weight"].float())

    latent = torch.randn(1, TINY_WAN21["in_dim"], 2, 8, 8, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.7])
    context = torch.randn(1, 6, TINY_WAN21["text_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        denoised = model.apply_model(latent, sigma, c_crossattn=context)
        other_prompt = model.apply_model(latent, sigma, c_crossattn=context.flip(1) * 3)
    assert denoised.shape == latent.shape and torch.isfinite(denoised).all()
    assert not torch.allclose(denoised, other_prompt), "cross-attention should make the prompt matter"
