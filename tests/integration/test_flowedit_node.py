"""RewindFlowEdit through ComfyUI: on the exact reference flow model (look prompts, closed form) it takes
the target prompt and gives the source back for the source's own guidance; on the tiny random Wan
stand-in, run frame by frame, context windows change nothing; bad input is refused in one line
before the model runs."""
from __future__ import annotations

import pytest
import torch

from rewind.reference import latent_psnr
from rewind.samplers.context import LAYOUT_TEMPORAL, ContextOptions
from rewind.testbed.comfy_env import ModelCallCounter
from rewind.testbed.tiny_models import load_tiny_model, tiny_conditioning

STEPS = 16


@pytest.fixture(scope="module")
def nodes(comfy):
    from nodes import CLIPTextEncode

    from rewind.nodes import diagnostics, sampling

    return sampling, diagnostics, CLIPTextEncode()


@pytest.fixture(scope="module")
def reference(nodes):
    """The weight-free Wan2.1 model, a 9-frame clip's latent, and prompts: the source's and 'night'."""
    sampling, diagnostics, text_encode = nodes
    model, vae, blank, clip = diagnostics.RewindReferenceModel.execute("Wan2.1", "gaussian").result
    coarse = torch.rand(9, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    pixels = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear").movedim(1, -1)
    prompts = {text: text_encode.encode(clip, text)[0] for text in ("a photo", "night")}
    return model, vae, blank, prompts, {"samples": vae.encode(pixels)}


def schedule(nodes):
    return nodes[0].RewindAYSScheduler.execute("Wan2.1", STEPS, 1.0).result[0]


def flowedit(nodes, model, source, target, negative, latent, source_cfg=1.0, target_cfg=3.0, n_max=12, n_min=0,
             n_avg=1, correlation=0.0, seed=0, mask=None, context_options=None, sigmas=None):
    sigmas = schedule(nodes) if sigmas is None else sigmas
    return nodes[0].RewindFlowEdit.execute(model, source, target, negative, latent, sigmas, source_cfg, target_cfg,
                                           n_max, n_min, n_avg, correlation, seed, mask, context_options).result[0]


def test_a_night_prompt_darkens_and_turns_blue(nodes, reference):
    model, vae, blank, prompts, latent = reference
    out = flowedit(nodes, model, prompts["a photo"], prompts["night"], blank, latent, 1.0, 1.0)
    source, night = vae.decode(latent["samples"]), vae.decode(out["samples"])
    assert night.mean() < source.mean() - 0.1
    assert night[..., 2].mean() > night[..., 0].mean() + 0.1


@pytest.mark.parametrize("correlation", [0.0, 1.0])
def test_the_sources_own_guidance_gives_the_source_back(nodes, reference, correlation):
    model, _, blank, prompts, latent = reference
    out = flowedit(nodes, model, prompts["a photo"], prompts["a photo"], blank, latent, 3.0, 3.0, n_max=STEPS,
                   correlation=correlation)
    assert latent_psnr(latent["samples"], out["samples"]) > 120.0  # the latent scaling's float rounding only


def test_an_edit_step_costs_two_model_calls_and_a_target_only_step_one(nodes, reference):
    """CFG batches each prompt with the negative; the source and target guidances run on different
    latents, so they are two calls."""
    model, _, blank, prompts, latent = reference
    counted = model.clone()
    counter = ModelCallCounter(counted)
    flowedit(nodes, counted, prompts["a photo"], prompts["night"], blank, latent, 2.0, 4.0, n_max=12, n_min=2, n_avg=2)
    assert counter.calls == 2 * 2 * 10 + 2


def test_the_mask_keeps_the_unmasked_source_bit_for_bit(nodes, reference):
    model, _, blank, prompts, latent = reference
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1.0  # pixels: latent pixels 2 to 5 of 8
    out = flowedit(nodes, model, prompts["a photo"], prompts["night"], blank, latent, mask=mask)["samples"]
    kept = torch.ones_like(out, dtype=torch.bool)
    kept[..., 2:6, 2:6] = False
    assert torch.equal(out[kept], latent["samples"][kept])
    assert latent_psnr(latent["samples"][..., 2:6, 2:6], out[..., 2:6, 2:6]) < 30.0


def test_the_latents_noise_mask_is_the_mask_when_none_is_connected(nodes, reference):
    model, _, blank, prompts, latent = reference
    noise_mask = torch.zeros(1, 1, 64, 64)  # Set Latent Noise Mask's layout: nothing to edit
    out = flowedit(nodes, model, prompts["a photo"], prompts["night"], blank, {**latent, "noise_mask": noise_mask})
    assert torch.equal(out["samples"], latent["samples"])


@pytest.mark.parametrize("mask, named", [
    (torch.ones(1, 48, 64), r"'mask' is 64x48 but the latent is 8x8 \(64x64 pixels\)"),
    (torch.ones(4, 64, 64), r"'mask' has 4 frames but the source has 9"),
    (torch.full((1, 64, 64), 2.0), r"'mask' has values outside 0 to 1"),
])
def test_a_bad_mask_is_refused_in_one_line_before_the_model_runs(nodes, reference, mask, named):
    model, _, blank, prompts, latent = reference
    counted = model.clone()
    counter = ModelCallCounter(counted)
    with pytest.raises(ValueError, match=f"^RewindFlowEdit: {named}") as refused:
        flowedit(nodes, counted, prompts["a photo"], prompts["night"], blank, latent, mask=mask)
    assert "\n" not in str(refused.value) and counter.calls == 0


@pytest.mark.parametrize("frames", [1, 3, 9])
def test_a_mask_per_latent_or_video_frame_or_for_all_is_taken(nodes, reference, frames):
    model, _, blank, prompts, latent = reference
    out = flowedit(nodes, model, prompts["a photo"], prompts["night"], blank, latent, mask=torch.zeros(frames, 8, 8))
    assert torch.equal(out["samples"], latent["samples"])


def test_an_sd_type_model_is_refused_with_the_fix(nodes):
    sampling, diagnostics, _ = nodes
    model, _, blank, _ = diagnostics.RewindReferenceModel.execute("SD1.5", "gaussian").result
    sigmas = sampling.RewindAYSScheduler.execute("SD1", STEPS, 1.0).result[0]
    with pytest.raises(ValueError, match="^RewindFlowEdit: 'model' is an SD-type model.*RewindUnsampler -> RewindResampler"):
        flowedit(nodes, model, blank, blank, blank, {"samples": torch.zeros(2, 4, 8, 8)}, sigmas=sigmas)


@pytest.mark.parametrize("n_max, n_min, named", [(17, 0, "'n_max' is 17 but 'sigmas' has 16 steps"),
                                                 (4, 5, "'n_min' is 5, above 'n_max'")])
def test_counts_beyond_the_schedule_are_refused(nodes, reference, n_max, n_min, named):
    model, _, blank, prompts, latent = reference
    with pytest.raises(ValueError, match=f"^RewindFlowEdit: {named}"):
        flowedit(nodes, model, prompts["a photo"], prompts["night"], blank, latent, n_max=n_max, n_min=n_min)


def test_unsampled_noise_is_refused_as_a_source(nodes, reference):
    model, _, blank, prompts, latent = reference
    noise = nodes[0].RewindUnsampler.execute(model, blank, blank, latent, 1.0, schedule(nodes), "bdia").result[0]
    with pytest.raises(ValueError, match="^RewindFlowEdit: 'latent' is RewindUnsampler's noise"):
        flowedit(nodes, model, prompts["a photo"], prompts["night"], blank, noise)


def frame_by_frame(seen: list):
    """Runs the network one latent frame at a time (a frame-independent model, so windows must not
    matter) and notes the window of each call."""
    def run(apply_model, args):
        x, window = args["input"], args["c"]["transformer_options"].get("context_window")
        seen.append(tuple(window.index_list) if window is not None else None)
        return torch.cat([apply_model(x[:, :, t:t + 1], args["timestep"], **args["c"]) for t in range(x.shape[2])], 2)

    return run


def test_context_windows_equal_the_whole_clip_on_a_frame_independent_model(nodes):
    model, seen = load_tiny_model("Wan2.1").clone(), []
    model.set_model_unet_function_wrapper(frame_by_frame(seen))
    source, target = tiny_conditioning("Wan2.1", 0), tiny_conditioning("Wan2.1", 1)
    latent = {"samples": torch.randn(1, 16, 5, 8, 8, generator=torch.Generator().manual_seed(0))}
    options = ContextOptions(length=9, overlap=4, layout=LAYOUT_TEMPORAL)  # 3 latent frames overlapping by 1
    sigmas = schedule(nodes)[::4]
    with torch.inference_mode():
        whole = flowedit(nodes, model, source, target, source, latent, 1.0, 3.0, n_max=4, n_min=1)["samples"]
        windowed = flowedit(nodes, model, source, target, source, latent, 1.0, 3.0, n_max=4, n_min=1,
                            context_options=options)["samples"]
    assert set(seen) == {None, (0, 1, 2), (2, 3, 4)}
    assert torch.isfinite(whole).all()
    assert torch.linalg.norm(whole - latent["samples"]) > 0.05 * torch.linalg.norm(latent["samples"])
    assert torch.linalg.norm(windowed - whole) <= 1e-5 * torch.linalg.norm(whole)
