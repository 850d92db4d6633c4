"""Two experts on one path (samplers/experts.py) and the loop carried across the switch (loop.Carry):
which expert evaluates each step, where the path splits, and that a split pass is the unsplit one."""
import math

import pytest
import torch

from rewind import reference
from rewind.samplers import loop, state
from rewind.samplers.experts import (HIGH, LOW, HighNoiseExpert, Segment, evaluation_sigmas, expert_mismatch,
                                     idle_expert_note, split_path)
from rewind.samplers.modes import plan_resample, unsample_mode
from rewind.schedules import ays

DOWN = ays.ays_sigmas("Wan2.1", 16)  # flow sigmas from 1 to 0, noise -> clean
UP = DOWN[::-1]
BOUNDARY = 0.875
# (unsampler option, the resampler's solver that undoes it)
MODES = [("bdia", "bdia"), ("exact", "euler"), ("exact_heun", "heun")]


def experts_by_sigma(path, direction, solver, iterations, boundary=BOUNDARY):
    """{sigma where a step first evaluates the model: the expert that does}, for one pass."""
    segments = split_path(path, direction, solver, iterations, boundary)
    sigmas = evaluation_sigmas(path, direction, solver, iterations)
    return {sigmas[step]: segment.expert for segment in segments for step in range(segment.start, segment.stop)}


@pytest.mark.parametrize("mode, resampler", MODES)
def test_each_pass_runs_the_high_expert_at_and_above_the_boundary_and_the_low_one_below(mode, resampler):
    chosen = unsample_mode(mode, 4)
    for by_sigma in (experts_by_sigma(UP, "unsample", chosen.solver, chosen.exact_iterations),
                     experts_by_sigma(DOWN, "resample", resampler, 0)):
        assert by_sigma and all(expert == (HIGH if sigma >= BOUNDARY else LOW) for sigma, expert in by_sigma.items())
        assert {HIGH, LOW} <= set(by_sigma.values())


@pytest.mark.parametrize("mode, resampler", MODES)
def test_every_model_call_the_two_passes_share_is_made_by_the_same_expert(mode, resampler):
    """What makes the roundtrip exact through the switch: the resampler inverts each unsampling step with
    the call the unsampler made, at the same sigma, so it must come from the same expert."""
    chosen = unsample_mode(mode, 4)
    unsampling = experts_by_sigma(UP, "unsample", chosen.solver, chosen.exact_iterations)
    resampling = experts_by_sigma(DOWN, "resample", resampler, 0)
    shared = set(unsampling) & set(resampling)
    assert len(shared) >= len(DOWN) - 3
    assert all(unsampling[sigma] == resampling[sigma] for sigma in shared)


def test_the_path_splits_once_into_contiguous_segments_that_share_the_switch_level():
    segments = split_path(DOWN, "resample", "bdia", 0, BOUNDARY)
    assert [s.expert for s in segments] == [HIGH, LOW]
    high, low = segments
    assert (high.start, low.stop) == (0, len(DOWN) - 1) and high.stop == low.start
    assert high.levels(DOWN)[-1] == low.levels(DOWN)[0] == DOWN[high.stop]
    assert DOWN[high.stop - 1] >= BOUNDARY > DOWN[high.stop]


def test_unsampling_bdia_runs_its_exact_first_step_where_the_resampler_makes_its_last_call():
    """BDIA's first step from the clean latent is the exact inverse of an euler step from path[1]."""
    assert evaluation_sigmas([0.0, 0.2, 0.5, 1.0], "unsample", "bdia", 4) == [0.2, 0.2, 0.5]
    assert evaluation_sigmas([0.0, 0.2, 0.5, 1.0], "unsample", "bdia", 0) == [0.0, 0.2, 0.5]
    assert evaluation_sigmas([0.0, 0.2, 0.5, 1.0], "unsample", "euler", 4) == [0.2, 0.5, 1.0]
    assert evaluation_sigmas([0.0, 0.2, 0.5, 1.0], "unsample", "dpmpp_2m", 0) == [0.0, 0.2, 0.5]
    assert evaluation_sigmas([1.0, 0.5, 0.2, 0.0], "resample", "heun", 0) == [1.0, 0.5, 0.2]


def test_one_model_is_one_low_segment_and_a_path_on_one_side_of_the_boundary_says_which_expert_idles():
    assert split_path(DOWN, "resample", "bdia", 0, None) == (Segment(LOW, 0, len(DOWN) - 1),)
    partial = [s for s in DOWN if s < 0.7]
    only_low = split_path(partial, "resample", "bdia", 0, BOUNDARY)
    assert only_low == (Segment(LOW, 0, len(partial) - 1),)
    assert "high-noise expert does not run" in idle_expert_note(only_low, BOUNDARY)
    only_high = split_path(DOWN, "resample", "bdia", 0, 1e-6)
    assert [s.expert for s in only_high] == [HIGH] and "low-noise expert does not run" in idle_expert_note(only_high, 1e-6)
    assert idle_expert_note(split_path(DOWN, "resample", "bdia", 0, BOUNDARY), BOUNDARY) is None


@pytest.mark.parametrize("boundary", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_a_boundary_outside_zero_to_one_is_refused_with_wan_s_own_values(boundary):
    with pytest.raises(ValueError, match=r"^'boundary' is .*strictly between 0 and 1.*0.875 for text-to-video, 0.9 "):
        HighNoiseExpert(object(), boundary)


@pytest.mark.parametrize("unsampled, resampling, says", [
    (None, 0.875, "unsampled with one model"), (0.875, None, "connect the same high_noise_expert to the resampler"),
    (0.875, 0.9, "switching at sigma 0.875, but this high_noise_expert switches at 0.9")])
def test_a_resampler_whose_experts_differ_from_the_unsamplers_is_refused_before_it_runs(unsampled, resampling, says):
    assert expert_mismatch(0.875, 0.875) is None and expert_mismatch(None, None) is None
    assert says in expert_mismatch(unsampled, resampling)
    unsampled_state = state.UnsampledState(tuple(UP), "bdia", True, "flow", (1, 16, 5, 8, 8), boundary=unsampled)
    with pytest.raises(ValueError, match=says):
        plan_resample(unsampled_state, (1, 16, 5, 8, 8), "match unsampler", "flow", None, boundary=resampling)


def test_the_resample_plan_splits_its_own_path_at_the_boundary():
    unsampled_state = state.UnsampledState(tuple(UP), "bdia", True, "flow", (1, 4), boundary=BOUNDARY)
    plan = plan_resample(unsampled_state, (1, 4), "match unsampler", "flow", None, boundary=BOUNDARY)
    assert plan.segments == split_path(DOWN, "resample", "bdia", 0, BOUNDARY)


def test_each_experts_cfg_is_part_of_the_guidance():
    positive = [[torch.ones(1, 2, 4), {}]]
    one = state.guidance_fingerprint(positive, [], 1.0, 1.0)
    assert one == state.guidance_fingerprint(positive, [[torch.zeros(1, 2, 4), {}]], 1.0, 1.0)  # no negative at cfg 1
    assert one != state.guidance_fingerprint(positive, [], 1.0, 4.0) != state.guidance_fingerprint(positive, [], 4.0, 1.0)
    assert state.guidance_fingerprint(positive, [], 1.0) != one  # one model is not two experts


def experts_denoiser(calls):
    """Two closed-form 'experts' that really differ (each the exact denoiser of other data), noting who ran at which sigma."""
    high_data, low_data = reference.GaussianMixture(means=(0.5,), stds=(0.8,), weights=(1.0,)), reference.MIXTURE

    def by_expert(expert, data):
        def denoise(x, sigma):
            calls.append((expert, sigma))
            return data.denoise(x, sigma, "flow")
        return denoise

    return {HIGH: by_expert(HIGH, high_data), LOW: by_expert(LOW, low_data)}


def run_split(direction, denoisers, x, path, segments, **options):
    """One pass segment by segment, as comfy_glue.sampler.run_pass runs it, each continuing from the last's carry."""
    result = None
    for segment in segments:
        run = loop.unsample if direction == "unsample" else loop.resample
        part = run(denoisers[segment.expert], x, segment.levels(path), family="flow",
                   carry=result.carry if result is not None else None, **options)
        result = part if result is None else result.then(part)
    return result


@pytest.mark.parametrize("mode, resampler", MODES + [("euler", "euler"), ("dpmpp_2m", "dpmpp_2m"), ("heun", "heun")])
def test_a_pass_split_at_the_switch_is_the_unsplit_pass_bit_for_bit(mode, resampler):
    """With one model behind both experts, splitting changes nothing: the carry holds all the solver keeps."""
    chosen = unsample_mode(mode, 4)
    data = reference.MIXTURE
    same = {HIGH: lambda x, s: data.denoise(x, s, "flow"), LOW: lambda x, s: data.denoise(x, s, "flow")}
    x0 = data.sample((2, 4, 8, 8), torch.Generator().manual_seed(0))
    options = dict(solver=chosen.solver, exact_iterations=chosen.exact_iterations, record=lambda x: x.clone())
    whole_up = loop.unsample(same[LOW], x0, UP, family="flow", **options)
    split_up = run_split("unsample", same, x0, UP,
                         split_path(UP, "unsample", chosen.solver, chosen.exact_iterations, BOUNDARY), **options)
    assert torch.equal(whole_up.x, split_up.x) and whole_up.evaluations == split_up.evaluations
    assert whole_up.trajectory.keys() == split_up.trajectory.keys()
    assert all(torch.equal(whole_up.trajectory[s], split_up.trajectory[s]) for s in whole_up.trajectory)
    assert (whole_up.previous is None and split_up.previous is None) or torch.equal(whole_up.previous, split_up.previous)
    back = dict(solver=resampler, previous=whole_up.previous)
    whole_down = loop.resample(same[LOW], whole_up.x, DOWN, family="flow", **back)
    split_down = run_split("resample", same, whole_up.x, DOWN, split_path(DOWN, "resample", resampler, 0, BOUNDARY), **back)
    assert torch.equal(whole_down.x, split_down.x) and whole_down.evaluations == split_down.evaluations


@pytest.mark.parametrize("mode, resampler", MODES)
def test_two_experts_that_differ_roundtrip_exactly_through_the_switch_each_on_its_own_side(mode, resampler):
    chosen = unsample_mode(mode, 4)
    calls = []
    denoisers = experts_denoiser(calls)
    x0 = reference.MIXTURE.sample((2, 4, 8, 8), torch.Generator().manual_seed(0))
    up = run_split("unsample", denoisers, x0, UP, split_path(UP, "unsample", chosen.solver, chosen.exact_iterations,
                                                              BOUNDARY), solver=chosen.solver,
                   exact_iterations=chosen.exact_iterations)
    back = run_split("resample", denoisers, up.x, DOWN, split_path(DOWN, "resample", resampler, 0, BOUNDARY),
                     solver=resampler, previous=up.previous)
    minimum_psnr = 100.0 if mode == "bdia" else 60.0  # the exact modes' fixed point stops short of float64's floor
    assert reference.latent_psnr(x0, back.x) >= minimum_psnr
    assert {expert for expert, _ in calls} == {HIGH, LOW}
    if mode != "exact_heun":  # heun's second call belongs to its step's expert, on whichever side it falls
        assert all((sigma >= BOUNDARY) == (expert == HIGH) for expert, sigma in calls)
