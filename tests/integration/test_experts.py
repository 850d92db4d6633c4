"""Two experts (Wan 2.2 A14B) through Rewind's nodes: RewindHighNoiseExpert on the unsampler and the
resampler, with two Wan-architecture models loaded by ComfyUI's own loader. The roundtrip through the
switch, who is called where in both passes, context windows, coherence, the idle expert leaving the
device, and every refusal before anything runs."""
from __future__ import annotations

import pytest
import torch

from rewind.coherence.guidance import Coherence
from rewind.reference import latent_psnr
from rewind.samplers.context import LAYOUT_TEMPORAL, ContextOptions
from rewind.testbed.comfy_env import ModelCallCounter
from rewind.testbed.tiny_models import load_tiny_model, tiny_conditioning

BOUNDARY = 0.875
LATENT = (1, 16, 5, 8, 8)


@pytest.fixture(scope="module")
def nodes(comfy):
    from rewind.nodes import sampling

    return sampling


@pytest.fixture(scope="module")
def loaded(comfy):
    """Two tiny random Wan2.1-architecture networks (different weights) and the Wan2.2 5B and Cosmos ones."""
    return {name: load_tiny_model(*key) for name, key in
            {"low": ("Wan2.1", 1), "high": ("Wan2.1", 2), "wan22_5b": ("Wan2.2 TI2V-5B", 0),
             "cosmos": ("Cosmos Predict2", 0)}.items()}


@pytest.fixture
def pair(loaded):
    """Fresh clones of the two experts (tests put call wrappers on them)."""
    return loaded["low"].clone(), loaded["high"].clone()


def clip_latent(seed=0):
    return {"samples": torch.randn(*LATENT, generator=torch.Generator().manual_seed(seed))}


def schedule(nodes, steps=16):
    return nodes.RewindAYSScheduler.execute("Wan2.1", steps, 1.0).result[0]


def high_noise_expert(nodes, model, cfg=1.0, boundary=BOUNDARY):
    return nodes.RewindHighNoiseExpert.execute(model, boundary, cfg).result[0]


def roundtrip(nodes, low, high, latent, sigmas, cfg=1.0, high_cfg=1.0, solver="bdia", **options):
    cond = tiny_conditioning("Wan2.1")
    coherence = options.pop("coherence", None)
    with torch.inference_mode():
        noise = nodes.RewindUnsampler.execute(low, cond, cond, latent, cfg, sigmas, solver,
                                              high_noise_expert=high_noise_expert(nodes, high, high_cfg) if high else None,
                                              **options).result[0]
        out = nodes.RewindResampler.execute(low, cond, cond, noise, cfg, "match unsampler", coherence=coherence,
                                            high_noise_expert=high_noise_expert(nodes, high, high_cfg) if high else None,
                                            **options).result[0]
    return noise, out


@pytest.mark.parametrize("cfg, high_cfg", [(1.0, 1.0), (3.0, 4.0)])
def test_the_roundtrip_through_the_switch_is_exact_and_each_expert_runs_only_on_its_side(nodes, pair, cfg, high_cfg):
    low, high = pair
    low_calls, high_calls = ModelCallCounter(low), ModelCallCounter(high)
    latent, sigmas = clip_latent(), schedule(nodes)
    cond = tiny_conditioning("Wan2.1")
    with torch.inference_mode():
        noise = nodes.RewindUnsampler.execute(low, cond, cond, latent, cfg, sigmas, "bdia",
                                              high_noise_expert=high_noise_expert(nodes, high, high_cfg)).result[0]
        unsampling = list(low_calls.sigmas), list(high_calls.sigmas)
        low_calls.reset(), high_calls.reset()
        out = nodes.RewindResampler.execute(low, cond, cond, noise, cfg, "match unsampler",
                                            high_noise_expert=high_noise_expert(nodes, high, high_cfg)).result[0]
    resampling = low_calls.sigmas, high_calls.sigmas
    assert latent_psnr(latent["samples"], out["samples"]) >= 100.0
    for low_sigmas, high_sigmas in (unsampling, resampling):
        assert low_sigmas and high_sigmas
        assert max(low_sigmas) < BOUNDARY <= min(high_sigmas)
    assert sorted(set(unsampling[1])) == sorted(set(resampling[1]))  # the same levels, by the same expert
    assert noise["rewind_unsampled"].boundary == BOUNDARY


def test_the_same_model_as_both_experts_is_the_one_model_run_bit_for_bit_with_windows_and_coherence(nodes, pair):
    """Splitting the pass at the switch changes nothing but the model: the solver's state crosses whole,
    coherence plans over the whole path (its start and end percent, its source anchors) and windows
    apply to each part."""
    low, _ = pair
    options = ContextOptions(length=9, overlap=4, layout=LAYOUT_TEMPORAL)
    for coherence in (Coherence("source anchor", 0.5, 0.2, 0.8, 0.0),
                      Coherence("window agreement", 0.5, 0.0, 1.0, 0.0, context=options)):
        one = roundtrip(nodes, low, None, clip_latent(), schedule(nodes), 1.0, coherence=coherence,
                        context_options=options)
        two = roundtrip(nodes, low, low, clip_latent(), schedule(nodes), 1.0, coherence=coherence,
                        context_options=options)
        for a, b in zip(one, two):
            assert torch.equal(a["samples"], b["samples"]), coherence.mode


def window_recorder(seen: list):
    """A model-function wrapper noting the window (or None) of each call."""
    def record(apply_model, args):
        window = args["c"]["transformer_options"].get("context_window")
        seen.append(tuple(window.index_list) if window is not None else None)
        return apply_model(args["input"], args["timestep"], **args["c"])
    return record


def test_both_experts_run_in_rewinds_context_windows_and_the_roundtrip_stays_exact(nodes, pair):
    low, high = pair
    seen_low, seen_high = [], []
    low.set_model_unet_function_wrapper(window_recorder(seen_low))
    high.set_model_unet_function_wrapper(window_recorder(seen_high))
    latent = clip_latent()
    _, out = roundtrip(nodes, low, high, latent, schedule(nodes), 3.0, 4.0,
                       context_options=ContextOptions(length=9, overlap=4, layout=LAYOUT_TEMPORAL))
    assert set(seen_low) == set(seen_high) == {(0, 1, 2), (2, 3, 4)}
    assert latent_psnr(latent["samples"], out["samples"]) >= 100.0


def watch_overlaps(low, high) -> list[bool]:
    """Notes, at each call of either expert, whether the other is loaded too."""
    import comfy.model_management

    overlaps = []

    def watching(other):
        def call(apply_model, args):
            overlaps.append(any(m.is_clone(other) for m in comfy.model_management.loaded_models()))
            return apply_model(args["input"], args["timestep"], **args["c"])
        return call

    low.set_model_unet_function_wrapper(watching(high))
    high.set_model_unet_function_wrapper(watching(low))
    return overlaps


def test_the_idle_expert_is_off_the_device_while_the_other_runs(nodes, pair):
    """ComfyUI keeps every model it loaded where it fits (two 14B experts side by side on a large GPU):
    Rewind unloads the expert that ran before the other one loads."""
    import comfy.model_management

    low, high = pair
    overlaps = watch_overlaps(low, high)
    roundtrip(nodes, low, high, clip_latent(), schedule(nodes))
    assert overlaps and not any(overlaps)
    assert any(m.is_clone(low) for m in comfy.model_management.loaded_models())  # the last one stays, as in core


@pytest.mark.parametrize("boundary, says", [(0.0, "'boundary' is 0.0; the experts switch at a flow sigma strictly "
                                                  "between 0 and 1"),
                                            (1.5, "'boundary' is 1.5, outside its range"),
                                            (float("nan"), "'boundary' is nan")])
def test_a_boundary_outside_zero_to_one_is_one_line_naming_the_expert_node(nodes, pair, boundary, says):
    with pytest.raises(ValueError) as refused:
        high_noise_expert(nodes, pair[1], boundary=boundary)
    message = str(refused.value)
    assert message.startswith(f"RewindHighNoiseExpert: {says}") and "\n" not in message


@pytest.mark.parametrize("other, says", [
    ("wan22_5b", "'high_noise_expert' takes Wan22 latents but 'model' takes Wan21 latents"),
    ("cosmos", "'high_noise_expert' holds a eps model and 'model' is a flow model"),
])
def test_experts_of_another_latent_format_or_family_are_refused_before_either_runs(nodes, loaded, pair, other, says):
    low = pair[0]
    counter = ModelCallCounter(low)
    cond = tiny_conditioning("Wan2.1")
    with pytest.raises(ValueError) as refused:
        nodes.RewindUnsampler.execute(low, cond, cond, clip_latent(), 1.0, schedule(nodes), "bdia",
                                      high_noise_expert=high_noise_expert(nodes, loaded[other]))
    message = str(refused.value)
    assert message.startswith(f"RewindUnsampler: {says}") and "\n" not in message and counter.calls == 0


@pytest.mark.parametrize("unsampled, resampled, says", [
    (True, None, "unsampled with two experts .* connect the same high_noise_expert to the resampler"),
    (False, BOUNDARY, "unsampled with one model"),
    (True, 0.9, "unsampled with the experts switching at sigma 0.875, but this high_noise_expert switches at 0.9"),
])
def test_a_resampler_that_would_not_mirror_the_unsamplers_switch_is_refused_before_it_runs(nodes, pair, unsampled,
                                                                                          resampled, says):
    low, high = pair
    cond = tiny_conditioning("Wan2.1")
    with torch.inference_mode():
        noise = nodes.RewindUnsampler.execute(low, cond, cond, clip_latent(), 1.0, schedule(nodes, 4), "bdia",
                                              high_noise_expert=high_noise_expert(nodes, high) if unsampled else None
                                              ).result[0]
    counters = ModelCallCounter(low), ModelCallCounter(high)
    with pytest.raises(ValueError, match=f"^RewindResampler: the latent was {says}") as refused:
        nodes.RewindResampler.execute(low, cond, cond, noise, 1.0, "match unsampler",
                                      high_noise_expert=high_noise_expert(nodes, high, boundary=resampled)
                                      if resampled else None)
    assert "\n" not in str(refused.value) and not any(counter.calls for counter in counters)


# RewindFlowEdit with two experts: each expert's steps are one sampling run, the edit carried across.

def flowedit(nodes, low, latent, high=None, source_seed=0, target_seed=1, source_cfg=1.0, cfg=3.0, high_cfg=4.0,
             n_max=16, n_min=0, n_avg=1, correlation=0.0, mask=None, context_options=None, steps=16):
    source, target = tiny_conditioning("Wan2.1", source_seed), tiny_conditioning("Wan2.1", target_seed)
    expert = high_noise_expert(nodes, high, high_cfg) if high is not None else None
    with torch.inference_mode():
        return nodes.RewindFlowEdit.execute(low, source, target, source, latent, schedule(nodes, steps), source_cfg,
                                            cfg, n_max, n_min, n_avg, correlation, 0, mask, context_options,
                                            expert).result[0]["samples"]


def edit_mask():
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:6, 1:7] = 1.0
    return mask


@pytest.mark.parametrize("n_min, n_avg, correlation", [(0, 1, 0.0), (4, 2, 0.5), (11, 1, 1.0)])
def test_flowedit_with_one_model_as_both_experts_is_the_one_model_edit_bit_for_bit(nodes, pair, n_min, n_avg,
                                                                                    correlation):
    """The edit latent, the noise chains (RNG position, AR(1) state) and the target-only steps' noise
    cross the switch whole; the mask and Rewind's windows apply in both runs. (n_min 11: the switch
    falls among the target-only steps.)"""
    low, _ = pair
    options = dict(n_max=12, n_min=n_min, n_avg=n_avg, correlation=correlation, mask=edit_mask(),
                   context_options=ContextOptions(length=9, overlap=4, layout=LAYOUT_TEMPORAL))
    one = flowedit(nodes, low, clip_latent(), **options)
    two = flowedit(nodes, low, clip_latent(), high=low, high_cfg=3.0, **options)
    assert torch.equal(one, two) and not torch.equal(one, clip_latent()["samples"])


def test_flowedit_runs_each_expert_only_at_its_own_sigmas_with_its_own_cfg(nodes, pair):
    low, high = pair
    low_calls, high_calls = ModelCallCounter(low), ModelCallCounter(high)
    edited = flowedit(nodes, low, clip_latent(), high, n_max=12, n_min=2, n_avg=2)
    assert low_calls.sigmas and high_calls.sigmas
    assert max(low_calls.sigmas) < BOUNDARY <= min(high_calls.sigmas)
    assert low_calls.calls + high_calls.calls == 2 * 2 * 10 + 2
    cfg_low_only = flowedit(nodes, low, clip_latent(), high, high_cfg=3.0, n_max=12, n_min=2, n_avg=2)
    assert not torch.equal(edited, cfg_low_only)  # the high expert's cfg is its steps' target guidance


def test_flowedit_with_the_source_prompt_and_cfg_as_target_gives_the_source_back_across_the_switch(nodes, pair):
    low, high = pair
    latent = clip_latent()
    out = flowedit(nodes, low, latent, high, target_seed=0, source_cfg=3.0, cfg=3.0, high_cfg=3.0, correlation=0.5)
    assert latent_psnr(latent["samples"], out) > 120.0  # the latent scaling's float rounding only


def test_flowedit_keeps_the_unmasked_source_bit_for_bit_across_the_switch(nodes, pair):
    low, high = pair
    latent, mask = clip_latent(), edit_mask()
    out = flowedit(nodes, low, latent, high, n_max=12, n_min=4, mask=mask)
    kept = (mask == 0)[None, None].expand_as(out)
    assert torch.equal(out[kept], latent["samples"][kept]) and not torch.equal(out, latent["samples"])


def test_flowedit_runs_both_experts_in_rewinds_context_windows(nodes, pair):
    low, high = pair
    seen_low, seen_high = [], []
    low.set_model_unet_function_wrapper(window_recorder(seen_low))
    high.set_model_unet_function_wrapper(window_recorder(seen_high))
    flowedit(nodes, low, clip_latent(), high, n_max=12, context_options=ContextOptions(length=9, overlap=4,
                                                                                       layout=LAYOUT_TEMPORAL))
    assert set(seen_low) == set(seen_high) == {(0, 1, 2), (2, 3, 4)}


def test_flowedit_takes_the_idle_expert_off_the_device_even_one_an_earlier_run_left_there(nodes, pair):
    import comfy.model_management

    low, high = pair
    overlaps = watch_overlaps(low, high)
    comfy.model_management.load_models_gpu([low])  # left there by an earlier run: the edit starts on the high one
    flowedit(nodes, low, clip_latent(), high, n_max=12)
    assert overlaps and not any(overlaps)


def test_flowedit_whose_edit_steps_all_lie_below_the_boundary_warns_that_the_high_expert_idles(nodes, pair, caplog):
    low, high = pair
    counter = ModelCallCounter(high)
    flowedit(nodes, low, clip_latent(), high, n_max=4)  # the last 4 of 16 steps: sigma 0.6 and below
    assert "RewindFlowEdit: every step of this schedule evaluates the model below the boundary 0.875, so the " \
           "high-noise expert does not run" in caplog.text
    assert counter.calls == 0


@pytest.mark.parametrize("other, says", [
    ("wan22_5b", "'high_noise_expert' takes Wan22 latents but 'model' takes Wan21 latents"),
    ("cosmos", "'high_noise_expert' holds a eps model and 'model' is a flow model"),
])
def test_flowedit_experts_of_another_latent_format_or_family_are_refused_before_either_runs(nodes, loaded, pair,
                                                                                           other, says):
    low = pair[0]
    counter = ModelCallCounter(low)
    with pytest.raises(ValueError) as refused:
        flowedit(nodes, low, clip_latent(), loaded[other])
    message = str(refused.value)
    assert message.startswith(f"RewindFlowEdit: {says}") and "\n" not in message and counter.calls == 0
