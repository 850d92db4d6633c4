"""Integration tests: Rewind's sampling nodes inside the real ComfyUI, against exact reference models,
compared with the core path users wire today (FlipSigmas + SamplerCustom)."""

import copy

import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.reference import latent_psnr
from rewind.testbed import newer_core
from rewind.testbed.comfy_env import run_core  # core nodes are V1 on 0.3.52/0.3.64, V3 on 0.3.75


@pytest.fixture(scope="module")
def nodes(comfy):
    from rewind.nodes import diagnostics, sampling

    return sampling, diagnostics


def reference(nodes, model_type, data="mixture"):
    _, diagnostics = nodes
    model, vae, cond, _ = diagnostics.RewindReferenceModel.execute(model_type, data).result
    frames = 9 if model_type == "Wan2.1" else 4
    pixels = torch.rand(frames, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    return model, cond, {"samples": vae.encode(pixels)}


def rewind_roundtrip(nodes, model_type, solver, steps=16, cfg=1.0, data="mixture"):
    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, model_type, data)
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES[model_type].ays_option, steps, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, cfg, sigmas, solver).result[0]
    out = sampling.RewindResampler.execute(model, cond, cond, noise, cfg, "match unsampler").result[0]
    return latent, noise, out, latent_psnr(latent["samples"], out["samples"])


def native_roundtrip(nodes, model_type, steps=16):
    """What users wire today: FlipSigmas + SamplerCustom(euler, add_noise off), then SamplerCustom back."""
    from comfy_extras.nodes_custom_sampler import FlipSigmas, KSamplerSelect, SamplerCustom

    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, model_type)
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES[model_type].ays_option, steps, 1.0).result[0]
    euler = run_core(KSamplerSelect, "euler")[0]
    flipped = run_core(FlipSigmas, sigmas.clone())[0]
    noise = run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, euler, flipped, latent)[0]
    out = run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, euler, sigmas, noise)[0]
    return noise, latent_psnr(latent["samples"], out["samples"])


@pytest.mark.parametrize("solver", ["bdia", "exact", "exact_heun"])
@pytest.mark.parametrize("model_type", ["SD1.5", "Wan2.1"])
def test_exact_roundtrip_through_comfyui_is_above_60_db(nodes, model_type, solver):
    _, noise, _, psnr = rewind_roundtrip(nodes, model_type, solver)
    assert torch.isfinite(noise["samples"]).all()
    assert psnr >= 60.0


@pytest.mark.parametrize("model_type", ["SD1.5", "Wan2.1"])
def test_bdia_default_holds_the_closed_form_tables_at_two_calls_per_step(nodes, model_type):
    """The default unsampler: >= 90 dB at 16 AYS steps on both families, about one call per step and pass."""
    sampling, _ = nodes
    assert next(i for i in sampling.RewindUnsampler.define_schema().inputs if i.id == "solver").default == "bdia"
    _, noise, _, psnr = rewind_roundtrip(nodes, model_type, "bdia")
    assert psnr >= 90.0
    state = noise[sampling.LATENT_KEY]
    assert state.exact and state.previous is not None and state.noise_rounding.abs().max() < 1e-5


@pytest.mark.parametrize("solver", ["bdia", "exact"])
@pytest.mark.parametrize("model_type", ["SD1.5", "Wan2.1"])
def test_roundtrip_under_fp16_intermediates_loses_only_the_output_rounding(nodes, monkeypatch, model_type, solver):
    """ComfyUI 0.18+ with --fp16-intermediates stores LATENTs in float16 (VAE Encode, sample_custom). Rewind
    widens them before any maths, and what storing the noise rounded off travels in the LATENT's Rewind
    state at full precision, so the roundtrip is the float32 one up to the float16 rounding of its output
    (BDIA: the float16 input back, bit for bit on SD1.5)."""
    import comfy.sample

    sampling, _ = nodes
    model, cond, latent = reference(nodes, model_type)
    latent = {"samples": latent["samples"].half()}  # as VAE Encode leaves it under the flag
    sigmas = sampling.RewindAYSScheduler.execute(MODEL_TYPES[model_type].ays_option, 16, 1.0).result[0]

    def roundtrip():
        noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, solver).result[0]
        return noise, sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler").result[0]

    _, full = roundtrip()
    monkeypatch.setattr(comfy.sample, "sample_custom", newer_core.fp16_intermediates(comfy.sample.sample_custom))
    noise, out = roundtrip()
    assert noise["samples"].dtype == out["samples"].dtype == torch.float16, "the double casts as upstream does"
    assert torch.allclose(out["samples"].float(), full["samples"].half().float(), rtol=2**-10, atol=2**-24)
    if solver == "bdia":
        assert latent_psnr(latent["samples"], out["samples"]) >= 120.0


def test_bdia_resampled_with_an_explicit_schedule_falls_back_without_its_partner(nodes):
    """Wiring 'sigmas' into the resampler means another path: the partner state is not used."""
    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 16, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "bdia").result[0]
    retraced = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler").result[0]
    rewired = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler", sigmas).result[0]
    assert latent_psnr(latent["samples"], retraced["samples"]) > \
        latent_psnr(latent["samples"], rewired["samples"]) + 30.0


def test_rewind_euler_is_no_worse_than_native_and_exact_is_far_better(nodes):
    _, native = native_roundtrip(nodes, "SD1.5")
    _, _, _, plain = rewind_roundtrip(nodes, "SD1.5", "euler")
    _, _, _, exact = rewind_roundtrip(nodes, "SD1.5", "exact")
    assert plain >= native - 0.5
    assert exact >= native + 30.0


def test_native_path_breaks_on_flow_models_where_rewind_does_not(nodes):
    noise, _ = native_roundtrip(nodes, "Wan2.1")
    assert not torch.isfinite(noise["samples"]).all()  # core divides by 1 - sigma at sigma 1
    _, rewind_noise, out, _ = rewind_roundtrip(nodes, "Wan2.1", "euler")
    assert torch.isfinite(rewind_noise["samples"]).all() and torch.isfinite(out["samples"]).all()


def test_wan_stays_finite_for_every_builtin_schedule(nodes):
    import comfy.samplers

    sampling, _ = nodes
    model, cond, latent = reference(nodes, "Wan2.1")
    model_sampling = model.get_model_object("model_sampling")
    schedules = {name: comfy.samplers.calculate_sigmas(model_sampling, name, 12) for name in comfy.samplers.SCHEDULER_NAMES}
    schedules["rewind_ays"] = sampling.RewindAYSScheduler.execute("Wan2.1", 12, 1.0).result[0]
    for name, sigmas in schedules.items():
        for solver in ("exact", "euler", "dpmpp_2m"):
            noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, solver).result[0]
            out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler").result[0]
            assert torch.isfinite(noise["samples"]).all(), (name, solver)
            assert torch.isfinite(out["samples"]).all(), (name, solver)


def test_higher_cfg_unsampling_still_roundtrips_exactly(nodes):
    *_, psnr = rewind_roundtrip(nodes, "SDXL", "exact", cfg=4.0)
    assert psnr >= 60.0


@pytest.mark.parametrize("solver", ["exact", "bdia"])
def test_same_inputs_give_bit_identical_outputs(nodes, solver):
    _, noise_a, out_a, _ = rewind_roundtrip(nodes, "SD1.5", solver, steps=8)
    _, noise_b, out_b, _ = rewind_roundtrip(nodes, "SD1.5", solver, steps=8)
    assert torch.equal(noise_a["samples"], noise_b["samples"]) and torch.equal(out_a["samples"], out_b["samples"])


def test_ays_matches_core_at_every_step_count(nodes):
    from comfy_extras.nodes_align_your_steps import AlignYourStepsScheduler

    sampling, _ = nodes
    for model_type in ("SD1", "SDXL", "SVD"):
        for steps in (4, 10, 16, 25):
            ours = sampling.RewindAYSScheduler.execute(model_type, steps, 1.0).result[0]
            core = run_core(AlignYourStepsScheduler, model_type, steps, 1.0)[0]
            assert torch.allclose(ours, core, rtol=1e-6, atol=0), (model_type, steps)


def test_sampler_objects_plug_into_core_sampler_custom(nodes):
    from comfy_extras.nodes_custom_sampler import SamplerCustom

    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, "Wan2.1")
    sigmas = sampling.RewindAYSScheduler.execute("Wan2.1", 16, 1.0).result[0]
    flipped = sampling.RewindFlipSigmas.execute(sigmas).result[0]
    unsampler = sampling.RewindUnsampleSampler.execute("exact", 4).result[0]
    resampler = sampling.RewindResampleSampler.execute("euler").result[0]
    noise = run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, unsampler, flipped, latent)[0]
    out = run_core(SamplerCustom, model, False, 0, 1.0, cond, cond, resampler, sigmas, noise)[0]
    assert latent_psnr(latent["samples"], out["samples"]) >= 60.0


def test_resampler_warns_and_falls_back_for_a_plain_latent(nodes, caplog):
    sampling, _ = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 8, 1.0).result[0]
    noisy = {"samples": torch.randn_like(latent["samples"]) * 14.6}
    out = sampling.RewindResampler.execute(model, cond, cond, noisy, 1.0, "match unsampler", sigmas=sigmas).result[0]
    assert "not unsampled" in caplog.text and torch.isfinite(out["samples"]).all()
    with pytest.raises(ValueError, match="connect 'sigmas'"):
        sampling.RewindResampler.execute(model, cond, cond, noisy, 1.0, "match unsampler")


def test_wrong_latent_for_the_model_is_named(nodes):
    sampling, _ = nodes
    model, cond, _ = reference(nodes, "Wan2.1")
    sigmas = sampling.RewindAYSScheduler.execute("Wan2.1", 8, 1.0).result[0]
    sd_latent = {"samples": torch.zeros(4, 4, 8, 8)}
    with pytest.raises(ValueError, match="RewindUnsampler.*16 channels.*VAE"):
        sampling.RewindUnsampler.execute(model, cond, cond, sd_latent, 1.0, sigmas, "exact")


def test_a_schedule_for_another_family_is_refused(nodes):
    sampling, _ = nodes
    model, cond, latent = reference(nodes, "Wan2.1")
    sd_sigmas = sampling.RewindAYSScheduler.execute("SD1", 8, 1.0).result[0]
    with pytest.raises(ValueError, match="flow models.*Wan2.1"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sd_sigmas, "exact")


def test_empty_schedule_is_refused_with_a_fix(nodes):
    sampling, _ = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    with pytest.raises(ValueError, match="at least 2"):
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, torch.tensor([]), "exact")


def test_progress_reports_every_step_and_cancel_stops_within_a_step(nodes):
    import comfy.model_management
    import comfy.utils

    sampling, _ = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 8, 1.0).result[0]
    updates = []

    def hook(value, total, preview, *args, **kwargs):
        updates.append((value, total))
        comfy.model_management.throw_exception_if_processing_interrupted()

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "exact")
        assert updates == [(i, 8) for i in range(1, 9)]
        updates.clear()

        def interrupting(value, total, preview, *args, **kwargs):
            updates.append(value)
            if value == 2:
                comfy.model_management.interrupt_current_processing(True)

        comfy.utils.set_progress_bar_global_hook(interrupting)
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "exact")
        assert updates == [1, 2]  # the next model call after the request raised
    finally:
        comfy.model_management.interrupt_current_processing(False)
        comfy.utils.set_progress_bar_global_hook(None)


@pytest.mark.parametrize("cfg, batch_factor", [(1.0, 1), (4.0, 2)])
def test_cond_and_uncond_share_one_model_call_and_cfg_1_skips_uncond(nodes, cfg, batch_factor):
    sampling, _ = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    model = model.clone()
    batches = []

    def record(apply_model, args):
        batches.append(args["input"].shape[0])
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(record)
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 4, 1.0).result[0]
    sampling.RewindUnsampler.execute(model, cond, cond, latent, cfg, sigmas, "euler")
    frames = latent["samples"].shape[0]
    assert batches == [frames * batch_factor] * 4


@pytest.mark.parametrize("solver", ["bdia", "exact", "euler", "heun"])
def test_core_context_windows_keep_working_inside_rewind(nodes, solver):
    """Core's WanContextWindowsManual looks each evaluated sigma up in the schedule and raises when it
    is not there; every Rewind solver must evaluate only there. (Core's handler only supports batch 1,
    hence the Wan layout; its fused values are core's business, so only completion is checked.)"""
    from comfy_extras.nodes_context_windows import WanContextWindowsManualNode

    sampling, _ = nodes
    model, cond, _ = reference(nodes, "Wan2.1")
    latent = {"samples": torch.randn(1, 16, 6, 8, 8, generator=torch.Generator().manual_seed(5))}
    windowed = run_core(WanContextWindowsManualNode, model, 9, 5, "standard_static", 1, False, "pyramid")[0]
    sigmas = sampling.RewindAYSScheduler.execute("Wan2.1", 8, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(windowed, cond, cond, latent, 1.0, sigmas, solver).result[0]
    out = sampling.RewindResampler.execute(windowed, cond, cond, noise, 1.0, "match unsampler").result[0]
    assert torch.isfinite(noise["samples"]).all() and torch.isfinite(out["samples"]).all()


def test_core_context_windows_with_freenoise_keep_the_roundtrip_exact(nodes, caplog):
    """Current core's FreeNoise wrapper shuffles the noise handed to the sampler on every run. A Rewind pass
    hands it zeros (Rewind starts from the latent and adds no noise), so the shuffle changes nothing and
    core's windows, identical in both passes, give the input back."""
    from comfy_extras.nodes_context_windows import WanContextWindowsManualNode

    sampling, _ = nodes
    model, cond, _ = reference(nodes, "Wan2.1")
    latent = {"samples": torch.randn(1, 16, 6, 8, 8, generator=torch.Generator().manual_seed(5))}
    windowed = newer_core.with_freenoise(run_core(WanContextWindowsManualNode, model, 9, 5, "standard_static", 1, False,
                                                  "pyramid")[0])
    newer_core.ran.clear()
    sigmas = sampling.RewindAYSScheduler.execute("Wan2.1", 8, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(windowed, cond, cond, latent, 1.0, sigmas, "bdia").result[0]
    out = sampling.RewindResampler.execute(windowed, cond, cond, noise, 1.0, "match unsampler").result[0]
    assert newer_core.ran["freenoise"] == 2, "core's FreeNoise wrapper ran in both passes"
    assert latent_psnr(latent["samples"], out["samples"]) >= 140.0
    assert "add_noise is on" not in caplog.text


def test_resampling_an_exact_latent_with_another_solver_warns(nodes, caplog):
    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 8, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "exact").result[0]
    out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "dpmpp_2m").result[0]
    assert "will not land back on the input" in caplog.text
    assert latent_psnr(latent["samples"], out["samples"]) < 60.0


def test_sampler_object_with_add_noise_on_says_it_ignores_the_noise(nodes, caplog):
    from comfy_extras.nodes_custom_sampler import SamplerCustom

    sampling, _ = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 4, 1.0).result[0]
    resampler = sampling.RewindResampleSampler.execute("euler").result[0]
    run_core(SamplerCustom, model, True, 0, 1.0, cond, cond, resampler, sigmas, latent)
    assert "add_noise is on" in caplog.text


def test_bdia_retraces_a_patched_model_exactly(nodes):
    """ControlNet, AnimateDiff and LoRA hooks patch the model the guider calls; the resampler calls
    the same patched model at the same states, so the roundtrip stays exact, however rough the patch."""
    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    model = model.clone()
    model.set_model_unet_function_wrapper(
        lambda apply, args: apply(args["input"], args["timestep"], **args["c"]) + 0.3 * torch.sin(8.0 * args["input"]))
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 16, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "bdia").result[0]
    out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler").result[0]
    assert latent_psnr(latent["samples"], out["samples"]) >= 90.0


def sqrt_linear(model):
    """`model` with AnimateDiff-Evolved's sqrt_linear beta schedule, as its beta_schedule 'autoselect'
    gives AnimateDiff v3: a higher noise level (sigma_max about 25.2) than SD1.5's own 14.6."""
    import comfy.model_sampling

    class Config:
        sampling_settings = {"beta_schedule": "sqrt_linear", "linear_start": 0.00085, "linear_end": 0.012}

    class SqrtLinearEps(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
        pass

    patched = model.clone()
    patched.add_object_patch("model_sampling", SqrtLinearEps(Config()))
    return patched


def test_the_ays_schedule_reads_the_model_and_unsampling_reaches_its_noise_level(nodes, caplog):
    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    model = sqrt_linear(model)
    sigma_max = float(model.get_model_object("model_sampling").sigma_max)
    assert sigma_max > 25.0
    table = sampling.RewindAYSScheduler.execute("SD1", 8, 1.0).result[0]
    sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, table, "exact")
    assert "stops at sigma 14.61 but this model's noise level is 25.1" in caplog.text
    caplog.clear()
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 8, 1.0, model=model).result[0]
    assert float(sigmas[0]) == pytest.approx(sigma_max) and float(sigmas[-2]) == pytest.approx(float(table[-2]))
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "exact").result[0]
    from rewind.samplers.state import LATENT_KEY

    assert max(noise[LATENT_KEY].path) == pytest.approx(sigma_max) and "stops at sigma" not in caplog.text
    out = sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler").result[0]
    assert latent_psnr(latent["samples"], out["samples"]) >= 60.0


def test_the_ays_schedule_refuses_a_model_type_of_the_other_family(nodes):
    sampling, _ = nodes
    wan, _, _ = reference(nodes, "Wan2.1")
    with pytest.raises(ValueError, match="RewindAYSScheduler: model_type SD1 does not fit.*flow model.*Pick Wan2.1"):
        sampling.RewindAYSScheduler.execute("SD1", 8, 1.0, model=wan)
    sd, _, _ = reference(nodes, "SD1.5")
    assert float(sampling.RewindAYSScheduler.execute("SD1", 8, 1.0, model=sd).result[0][0]) == pytest.approx(14.6146, rel=1e-4)


def test_bdia_retraces_exactly_whenever_the_resampler_guides_the_model_as_the_unsampler_did(nodes):
    """The same prompt from another text-encode node (equal values, new objects) and, at CFG 1,
    another negative (unused there): the resampler's guidance is the unsampler's, so the input comes back."""
    sampling, diagnostics = nodes
    model, cond, latent = reference(nodes, "SD1.5")
    sigmas = sampling.RewindAYSScheduler.execute("SD1", 16, 1.0).result[0]
    noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "bdia").result[0]
    out = sampling.RewindResampler.execute(model, copy.deepcopy(cond), [], noise, 1.0, "match unsampler").result[0]
    assert diagnostics.latent_psnr(latent["samples"], out["samples"]) >= 90.0
