"""Unit tests of samplers/modes.py: what each unsample mode runs, and how the resampler reconciles the
unsampler's state with its own inputs (no model: the decisions are pure)."""
import dataclasses

import pytest
import torch

from rewind.samplers import modes
from rewind.samplers.solvers import COUPLED_SOLVERS, SOLVERS
from rewind.samplers.state import EDIT_COUPLING, UnsampledState

PATH = (0.0, 0.5, 2.0, 14.6)
SHAPE = (4, 4, 8, 8)


def state(solver="bdia", exact=True, family="eps", shape=SHAPE, coupled=True) -> UnsampledState:
    previous = torch.zeros(SHAPE) if coupled else None
    return UnsampledState(PATH, solver, exact, family, shape, {}, previous, torch.zeros(SHAPE))


@pytest.mark.parametrize("mode, solver, iterations", [
    ("exact", "euler", 3), ("exact_heun", "heun", 3), ("bdia", "bdia", 3), ("euler", "euler", 0), ("heun", "heun", 0),
    ("dpmpp_2m", "dpmpp_2m", 0),
])
def test_each_unsample_mode_names_its_solver_and_whether_steps_are_solved_exactly(mode, solver, iterations):
    assert modes.unsample_mode(mode, 3) == modes.UnsampleMode(solver, iterations)


def test_the_offered_modes_cover_every_solver_and_the_sampler_leaves_out_coupled_ones():
    assert set(modes.UNSAMPLE_SOLVERS) == {*SOLVERS, *modes.EXACT_MODES} and modes.UNSAMPLE_SOLVERS[0] == modes.BDIA
    assert not set(modes.SAMPLER_UNSAMPLE_SOLVERS) & set(COUPLED_SOLVERS)
    assert modes.RESAMPLE_SOLVERS == [modes.MATCH, *SOLVERS]


def test_matching_the_unsampler_retraces_its_path_solver_and_coupled_states():
    unsampled = state()
    plan = modes.plan_resample(unsampled, SHAPE, modes.MATCH, "eps", None)
    assert plan.path == PATH[::-1] and plan.solver == "bdia" and plan.retrace and plan.notes == ()
    assert plan.previous is unsampled.previous and plan.noise_rounding is unsampled.noise_rounding
    assert plan.trajectory is unsampled.trajectory


@pytest.mark.parametrize("solver, sigmas, retraced", [
    (modes.MATCH, None, True),
    ("euler", None, False),  # another solver starts from the noise alone
    (modes.MATCH, list(PATH[::-1]), False),  # a connected schedule is not the unsampler's own
])
def test_the_retrace_decision(solver, sigmas, retraced):
    plan = modes.plan_resample(state(), SHAPE, solver, "eps", sigmas)
    assert plan.retrace is retraced and (plan.previous is not None) is retraced


def test_an_uncoupled_path_is_never_retraced_from_two_states():
    assert not modes.plan_resample(state("euler", coupled=False), SHAPE, modes.MATCH, "eps", None).retrace


@pytest.mark.parametrize("coupled, solver, sigmas", [
    (True, modes.MATCH, None), (False, modes.MATCH, None), (True, "euler", None), (True, modes.MATCH, list(PATH[::-1])),
])
def test_the_noise_rounding_is_added_back_whenever_the_state_is_used(coupled, solver, sigmas):
    """A float16 LATENT (--fp16-intermediates) rounds the noise off by ~1e-3, for every solver."""
    unsampled = state("bdia" if coupled else "euler", coupled=coupled)
    assert modes.plan_resample(unsampled, SHAPE, solver, "eps", sigmas).noise_rounding is unsampled.noise_rounding
    resized = modes.plan_resample(unsampled, (2, *SHAPE[1:]), solver, "eps", [14.6, 1.0, 0.0])
    assert resized.state is None and resized.noise_rounding is None


def test_a_plain_latent_needs_sigmas_and_resamples_with_euler_by_default():
    with pytest.raises(ValueError, match="did not come from RewindUnsampler.*connect 'sigmas'"):
        modes.plan_resample(None, SHAPE, modes.MATCH, "eps", None)
    plan = modes.plan_resample(None, SHAPE, modes.MATCH, "eps", [14.6, 1.0, 0.0])
    assert plan.solver == "euler" and plan.state is None and plan.trajectory is None
    assert "falling back to plain zero-noise resampling" in plan.notes[0]


def test_a_model_of_the_other_family_is_refused():
    with pytest.raises(ValueError, match="unsampled with a eps model but this is a flow model"):
        modes.plan_resample(state(), SHAPE, modes.MATCH, "flow", None)


def test_a_latent_reshaped_between_the_passes_is_refused_unless_sigmas_take_over():
    sliced = (2, 4, 8, 8)
    with pytest.raises(ValueError, match=r"shape \(2, 4, 8, 8\) differs from the \(4, 4, 8, 8\).*Slice or resize before"):
        modes.plan_resample(state(), sliced, modes.MATCH, "eps", None)
    plan = modes.plan_resample(state(), sliced, modes.MATCH, "eps", [14.6, 1.0, 0.0])
    assert plan.state is None and plan.solver == "euler" and "resampling with the connected 'sigmas'" in plan.notes[0]


def test_what_spoils_an_exact_roundtrip_is_noted():
    plan = modes.plan_resample(state("euler", coupled=False), SHAPE, "heun", "eps", [10.0, 1.0, 0.0])
    assert len(plan.notes) == 2
    assert "'sigmas' starts at 10 but the latent was unsampled to 14.6" in plan.notes[0]
    assert "retrace euler steps exactly; heun will not land back" in plan.notes[1]
    assert modes.plan_resample(state("euler", coupled=False), SHAPE, modes.MATCH, "eps", list(PATH[::-1])).notes == ()


@pytest.mark.parametrize("guidance, sigmas, coupling", [
    ("unsampler's", None, 1.0),  # the same guidance: every correction, the exact roundtrip
    ("another prompt", None, EDIT_COUPLING["eps"]),  # an edit: damped corrections (README, Edit quality)
    ("another prompt", [14.6, 2.0, 0.5, 0.0], 1.0),  # not retraced at all: no coupled corrections to weigh
])
def test_a_retraced_edit_carries_damped_corrections(guidance, sigmas, coupling):
    unsampled = dataclasses.replace(state(), guidance="unsampler's")
    plan = modes.plan_resample(unsampled, SHAPE, modes.MATCH, "eps", sigmas, guidance)
    assert plan.coupling == coupling
