"""Every video model ComfyUI loads, through Rewind's nodes: the tiny random stand-ins of testbed/tiny_models.py
(detected and loaded by ComfyUI's own loader) unsampled and resampled with the schedules users wire.

Random networks are rough, so the roundtrip figure is the sampler's own: BDIA's resampler inverts each
step algebraically, whatever the model. Context windows are checked on each model's time axis in its own
VAE's units (Wan and HunyuanVideo 4 pixel frames per latent frame, Mochi 6, LTX-Video 8) with the real
network run frame by frame, which makes it frame-independent: windowed must then equal whole-clip.
"""
from __future__ import annotations

import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.reference import latent_psnr
from rewind.samplers.context import LAYOUT_TEMPORAL, ContextOptions, plan_context
from rewind.testbed.comfy_env import run_core
from rewind.testbed.tiny_models import TINY_MODELS, load_tiny_model, tiny_conditioning

# (channels, latent frames, height, width): five latent frames of each model's own latent.
LATENTS = {"Wan2.1": (16, 5, 8, 8), "Wan2.2 TI2V-5B": (48, 5, 8, 8), "HunyuanVideo": (16, 5, 8, 8),
           "HunyuanVideo 1.5": (32, 5, 4, 4), "LTX-Video": (128, 5, 4, 4), "Mochi": (12, 5, 8, 8),
           "Cosmos Predict2": (16, 5, 8, 8)}
STEPS = 16
# RewindAYSScheduler's model_type per family: the flow table serves every flow model; Cosmos-Predict2
# samples in EDM sigmas, so it takes an SD-type table topped at its own sigma_max (the model connected).
AYS_OPTION = {"flow": "Wan2.1", "eps": "SVD"}


@pytest.fixture(scope="module")
def nodes(comfy):
    from rewind.nodes import context, sampling

    return sampling, context


@pytest.fixture(scope="module")
def models(comfy):
    """Each stand-in loaded once: the module's tests only read them (the windowed test clones its own)."""
    import comfy.supported_models

    return {name: load_tiny_model(name) for name, tiny in TINY_MODELS.items()
            if hasattr(comfy.supported_models, tiny.detected_as)}


def stand_in(models, name):
    if name not in models:
        import comfyui_version

        pytest.skip(f"ComfyUI {comfyui_version.__version__} has no {TINY_MODELS[name].detected_as}: it cannot load {name}")
    latent = torch.randn(1, *LATENTS[name], generator=torch.Generator().manual_seed(0))
    return models[name], tiny_conditioning(name), {"samples": latent}


def schedule(nodes, model, kind: str) -> torch.Tensor:
    """Core BasicScheduler's `simple` schedule from the model's own sampling, or Rewind's AYS for its family."""
    from comfy_extras.nodes_custom_sampler import BasicScheduler

    from rewind.comfy_glue.model_types import model_family

    sampling, _ = nodes
    if kind == "simple":
        return run_core(BasicScheduler, model, "simple", STEPS, 1.0)[0]
    return sampling.RewindAYSScheduler.execute(AYS_OPTION[model_family(model)], STEPS, 1.0, model=model).result[0]


def roundtrip(nodes, model, cond, latent, sigmas, context_options=None):
    """Unsampler then resampler, default solver, in inference mode as ComfyUI's executor runs nodes."""
    sampling, _ = nodes
    with torch.inference_mode():
        noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "bdia",
                                                 context_options=context_options).result[0]
        out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler",
                                               context_options=context_options).result[0]
    return noise, out


@pytest.mark.parametrize("name", TINY_MODELS)
def test_family_is_read_from_the_models_own_sampling(models, name):
    from rewind.comfy_glue.model_types import model_family

    model, _, _ = stand_in(models, name)
    assert model_family(model) == MODEL_TYPES[name].family


@pytest.mark.parametrize("kind", ["simple", "ays"])
@pytest.mark.parametrize("name", TINY_MODELS)
def test_unsample_resample_is_finite_and_exact(nodes, models, name, kind):
    model, cond, latent = stand_in(models, name)
    sigmas = schedule(nodes, model, kind)
    assert float(sigmas[0]) == pytest.approx(float(model.get_model_object("model_sampling").sigma_max), rel=1e-4)
    noise, out = roundtrip(nodes, model, cond, latent, sigmas)
    assert torch.isfinite(noise["samples"]).all() and torch.isfinite(out["samples"]).all()
    moved = torch.linalg.norm(noise["samples"] - latent["samples"]) / torch.linalg.norm(latent["samples"])
    assert moved > 0.1, "a random network that barely moves the latent would make any roundtrip exact"
    assert latent_psnr(latent["samples"], out["samples"]) >= 80.0


def per_frame(seen: list):
    """A model-function wrapper that runs the network on one latent frame at a time (slicing every
    conditioning tensor laid out like the latent with it) and notes the window it was called in."""

    def run_frame_by_frame(apply_model, args):
        x, c = args["input"], args["c"]
        window = c["transformer_options"].get("context_window")
        seen.append(tuple(window.index_list) if window is not None else None)
        frames = []
        for t in range(x.shape[2]):
            frame_c = {k: v[:, :, t:t + 1] if torch.is_tensor(v) and v.ndim == 5 and v.shape[2] == x.shape[2] else v
                       for k, v in c.items()}
            frames.append(apply_model(x[:, :, t:t + 1], args["timestep"], **frame_c))
        return torch.cat(frames, dim=2)

    return run_frame_by_frame


@pytest.mark.parametrize("name", TINY_MODELS)
def test_windows_tile_each_models_time_axis_in_its_own_vae_frames(nodes, models, name):
    """Windows of 2k+1 pixel frames overlapping by k are 3 latent frames overlapping by 1 for a VAE of k
    pixel frames per latent frame; a clip of 5 latent frames then runs in windows (0, 1, 2) and (2, 3, 4)."""
    model, cond, latent = stand_in(models, name)
    frames_per_latent = MODEL_TYPES[name].temporal_compression
    options = ContextOptions(length=2 * frames_per_latent + 1, overlap=frames_per_latent, layout=LAYOUT_TEMPORAL)
    seen_whole, seen_windowed = [], []
    whole_model, windowed_model = model.clone(), model.clone()
    whole_model.set_model_unet_function_wrapper(per_frame(seen_whole))
    windowed_model.set_model_unet_function_wrapper(per_frame(seen_windowed))
    sigmas = schedule(nodes, model, "ays")[::4]  # 4 steps: the windows, not the path, are under test
    whole_noise, whole = roundtrip(nodes, whole_model, cond, latent, sigmas)
    noise, out = roundtrip(nodes, windowed_model, cond, latent, sigmas, options)

    assert set(seen_whole) == {None}
    assert set(seen_windowed) == set(plan_context(5, options, frames_per_latent).windows) == {(0, 1, 2), (2, 3, 4)}
    for got, expected in ((noise, whole_noise), (out, whole)):
        assert torch.linalg.norm(got["samples"] - expected["samples"]) <= 1e-5 * torch.linalg.norm(expected["samples"])


@pytest.mark.parametrize("name, other", [("Wan2.2 TI2V-5B", "Wan2.1"), ("HunyuanVideo", "Mochi"),
                                         ("LTX-Video", "HunyuanVideo"), ("Mochi", "Cosmos Predict2")])
def test_a_latent_from_another_models_vae_is_refused_in_one_line(nodes, models, name, other):
    sampling, _ = nodes
    model, cond, _ = stand_in(models, name)
    sigmas = schedule(nodes, model, "simple")
    foreign = {"samples": torch.zeros(1, *LATENTS[other])}
    with pytest.raises(ValueError) as refused:
        sampling.RewindUnsampler.execute(model, cond, cond, foreign, 1.0, sigmas, "bdia")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("RewindUnsampler: ")
    assert f"{LATENTS[name][0]} channels" in message and "VAE that belongs to this model" in message


def test_context_preview_converts_pixel_frames_with_the_connected_models_vae(nodes, models):
    _, context = nodes
    options = ContextOptions(length=17, overlap=8)  # LTX-Video: 3 latent frames overlapping by 1
    model, _, _ = stand_in(models, "LTX-Video")
    with_model = context.RewindContextPreview.execute(options, 33, model).result[0]  # 5 latent frames, 2 windows
    assert with_model.shape[1] == 2 * 12  # one 12-pixel row per window


@pytest.mark.parametrize("sampling_type, family", [("EPS", "eps"), ("V_PREDICTION", "eps"), ("EDM", "eps"), ("X0", "eps"),
                                                   ("COSMOS_RFLOW", "eps"), ("CONST", "flow")])
def test_each_comfyui_sampling_type_mixes_as_its_family(comfy, sampling_type, family):
    """ComfyUI's sampling types, read by their noise_scaling: COSMOS_RFLOW samples x0 + sigma * eps."""
    import comfy.model_sampling

    from rewind.comfy_glue.model_types import family_of

    assert family_of(getattr(comfy.model_sampling, sampling_type)()) == family


def test_a_model_that_mixes_otherwise_is_refused_before_sampling(nodes, models):
    class VariancePreserving:
        sigma_max = torch.tensor(1.0)

        def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
            return (1 - sigma**2).sqrt() * latent_image + sigma * noise

    sampling, _ = nodes
    model, cond, latent = stand_in(models, "Wan2.1")
    sigmas = schedule(nodes, model, "simple")
    patched = model.clone()
    patched.add_object_patch("model_sampling", VariancePreserving())
    with pytest.raises(ValueError, match=r"^RewindUnsampler: this model mixes signal and noise as x = 0.866 \* x0") as refused:
        sampling.RewindUnsampler.execute(patched, cond, cond, latent, 1.0, sigmas, "bdia")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name, sigmas, refusal", [
    ("LTX-Video", [14.6, 3.0, 0.0], "flow models .* live in \\[0, 1\\]"),
    ("Cosmos Predict2", [200.0, 3.0, 0.0], "far above this model's 80"),
])
def test_a_schedule_beyond_the_models_sigma_range_is_refused(nodes, models, name, sigmas, refusal):
    sampling, _ = nodes
    model, cond, latent = stand_in(models, name)
    with pytest.raises(ValueError, match=f"RewindUnsampler: .*{refusal}"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, torch.tensor(sigmas), "bdia")


def test_windows_on_a_vae_rewind_does_not_know_are_refused_before_sampling(nodes, models):
    """No guessed conversion: a video latent format outside the model-type table (and without newer
    cores' temporal_downscale_ratio) cannot take context windows, and says so in one line."""
    class UnknownVideoVAE:
        latent_channels, latent_dimensions = 16, 3

    sampling, _ = nodes
    model, cond, latent = stand_in(models, "Wan2.1")
    patched = model.clone()
    patched.add_object_patch("latent_format", UnknownVideoVAE())
    options = ContextOptions(length=9, overlap=4)
    with pytest.raises(ValueError, match="^RewindUnsampler: .*latent format UnknownVideoVAE.*Disconnect context_options"):
        sampling.RewindUnsampler.execute(patched, cond, cond, latent, 1.0, schedule(nodes, model, "simple"), "bdia",
                                         context_options=options)
