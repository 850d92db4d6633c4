"""The unsampler's guidance fingerprint, and the coupling the resampler reads from it: exact
retracing only when the resampler steers the model exactly as the unsampler did."""
import copy
import dataclasses

import torch

from rewind.samplers.state import EDIT_COUPLING, UnsampledState, guidance_fingerprint


def conditioning(seed, **options):
    """A ComfyUI CONDITIONING: [[embedding, {options}]]."""
    return [[torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(seed)), {"pooled_output": None, **options}]]


def test_equal_values_give_equal_fingerprints_whoever_built_them():
    """Two text-encode nodes with the same prompt give equal tensors in distinct objects."""
    assert guidance_fingerprint(conditioning(1), conditioning(2), 3.0) == \
        guidance_fingerprint(copy.deepcopy(conditioning(1)), conditioning(2), 3.0)


def test_prompt_negative_cfg_and_options_each_change_the_fingerprint():
    base = guidance_fingerprint(conditioning(1), conditioning(2), 3.0)
    assert guidance_fingerprint(conditioning(3), conditioning(2), 3.0) != base
    assert guidance_fingerprint(conditioning(1), conditioning(3), 3.0) != base
    assert guidance_fingerprint(conditioning(1), conditioning(2), 3.5) != base
    assert guidance_fingerprint(conditioning(1, strength=0.5), conditioning(2), 3.0) != base
    half = [[conditioning(1)[0][0].half(), conditioning(1)[0][1]]]
    assert guidance_fingerprint(half, conditioning(2), 3.0) != base


def test_the_negative_does_not_count_at_cfg_1_where_comfyui_skips_it():
    assert guidance_fingerprint(conditioning(1), conditioning(2), 1.0) == guidance_fingerprint(conditioning(1), [], 1.0)


def test_objects_in_the_conditioning_count_by_identity():
    control, other = object(), object()
    with_control = guidance_fingerprint(conditioning(1, control=control), conditioning(2), 3.0)
    assert guidance_fingerprint(conditioning(1, control=control), conditioning(2), 3.0) == with_control
    assert guidance_fingerprint(conditioning(1, control=other), conditioning(2), 3.0) != with_control


def test_bfloat16_conditioning_fingerprints():
    bf16 = [[conditioning(1)[0][0].bfloat16(), {}]]
    assert guidance_fingerprint(bf16, [], 1.0) == guidance_fingerprint(copy.deepcopy(bf16), [], 1.0)


def test_coupling_is_whole_for_the_unsamplers_guidance_and_damped_for_an_edit():
    unsampled = guidance_fingerprint(conditioning(1), conditioning(2), 1.0)
    state = UnsampledState((0.0, 1.0), "bdia", True, "eps", (1, 4, 8, 8), guidance=unsampled)
    assert state.coupling_for(unsampled) == 1.0
    assert state.coupling_for(guidance_fingerprint(conditioning(1), conditioning(2), 3.0)) == EDIT_COUPLING["eps"] < 1.0
    flow = dataclasses.replace(state, family="flow")
    assert flow.coupling_for(guidance_fingerprint(conditioning(1), conditioning(2), 3.0)) == EDIT_COUPLING["flow"] < 1.0
