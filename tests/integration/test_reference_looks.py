"""Integration tests: the reference model's text encoder restyles through ComfyUI's own CLIP Text
Encode, the Rewind nodes and both latent families, and stays exact for the same prompt both ways."""
import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.reference import latent_psnr


@pytest.fixture(scope="module")
def nodes(comfy):
    from nodes import CLIPTextEncode

    from rewind.nodes import diagnostics, sampling

    return sampling, diagnostics, CLIPTextEncode()


def clip_pixels(model_type):
    frames = 9 if model_type == "Wan2.1" else 3
    coarse = torch.rand(frames, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    return torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear").movedim(1, -1)


def restyle(nodes, model_type, source_prompt, target_prompt):
    sampling, diagnostics, text_encode = nodes
    model, vae, blank, clip = diagnostics.RewindReferenceModel.execute(model_type, "gaussian").result
    pixels = clip_pixels(model_type)
    latent = {"samples": vae.encode(pixels)}
    source, = text_encode.encode(clip, source_prompt)
    target, = text_encode.encode(clip, target_prompt)
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES[model_type].ays_option, 16, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, source, blank, latent, 1.0, sigmas, "exact").result[0]
    out = sampling.RewindResampler.execute(model, target, blank, noise, 1.0, "match unsampler").result[0]
    return pixels, vae.decode(out["samples"]), latent_psnr(latent["samples"], out["samples"])


@pytest.mark.parametrize("model_type", ["SD1.5", "Wan2.1"])
@pytest.mark.parametrize("prompt", ["a photo", "sepia"])
def test_the_same_prompt_both_ways_returns_the_input(nodes, model_type, prompt):
    *_, psnr = restyle(nodes, model_type, prompt, prompt)
    assert psnr > 100.0


@pytest.mark.parametrize("model_type", ["SD1.5", "Wan2.1"])
def test_a_night_prompt_darkens_and_turns_blue(nodes, model_type):
    source, night, psnr = restyle(nodes, model_type, "a photo", "night")
    assert psnr < 30.0
    assert night.mean() < source.mean() - 0.1
    assert night[..., 2].mean() > night[..., 0].mean() + 0.1


def test_each_batch_item_denoises_under_its_own_prompt(nodes):
    """Under cfg the positive and negative prompts share a batch: each item must get its own look."""
    _, diagnostics, text_encode = nodes
    model, vae, blank, clip = diagnostics.RewindReferenceModel.execute("SD1.5", "mixture").result
    net = model.model.diffusion_model
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    sepia = text_encode.encode(clip, "sepia")[0][0][0]
    context = torch.cat([blank[0][0], sepia])
    options = {"sigmas": torch.tensor([1.5, 1.5])}
    together = net(x, None, context=context, transformer_options=options)
    apart = torch.cat([net(x[i : i + 1], None, context=context[i : i + 1], transformer_options={"sigmas": torch.tensor([1.5])})
                       for i in range(2)])
    assert torch.allclose(together, apart, atol=1e-6)
    assert not torch.allclose(together[0], together[1], atol=1e-3)
