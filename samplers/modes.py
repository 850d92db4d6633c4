"""What the unsampler's solver options mean, and how the resampler retraces the unsampler.

The nodes offer *modes*; a mode names the solver whose steps are taken and whether each step is
solved exactly (fixed-point iterations) or explicitly. The resampler reads what the unsampler left in
the LATENT (`UnsampledState`) and decides, in `plan_resample`, which path and solver it runs and
whether it retraces the unsampler's coupled states. Pure decisions: no model, no ComfyUI.
"""
from __future__ import annotations

from dataclasses import dataclass

from .experts import Segment, expert_mismatch, split_path
from .solvers import COUPLED_SOLVERS, SOLVERS
from .state import UnsampledState

EXACT = "exact"
BDIA = "bdia"
# Exact modes and the one-step solver whose resampling steps each one inverts.
EXACT_MODES = {EXACT: "euler", "exact_heun": "heun"}
MATCH = "match unsampler"
UNSAMPLE_SOLVERS = [BDIA, *EXACT_MODES, *(name for name in SOLVERS if name != BDIA)]
# A SAMPLER's output is one tensor: a coupled solver's second state cannot travel through SamplerCustom.
SAMPLER_UNSAMPLE_SOLVERS = [name for name in UNSAMPLE_SOLVERS if name not in COUPLED_SOLVERS]
RESAMPLE_SOLVERS = [MATCH, *SOLVERS]
# How far (relative) a connected schedule's top may sit from where the unsampler stopped.
PATH_MATCH_RTOL = 1e-4


@dataclass(frozen=True)
class UnsampleMode:
    solver: str  # the solver whose steps the unsampler takes backwards
    exact_iterations: int  # fixed-point iterations per exact step; 0: every step explicit


def unsample_mode(mode: str, exact_iterations: int) -> UnsampleMode:
    """An exact mode retraces its one-step solver with fixed-point iterations; BDIA solves only its first
    step that way (the others invert algebraically); the remaining solvers step explicitly."""
    exact = mode in EXACT_MODES or mode in COUPLED_SOLVERS
    return UnsampleMode(EXACT_MODES.get(mode, mode), exact_iterations if exact else 0)


@dataclass(frozen=True)
class ResamplePlan:
    path: tuple[float, ...]  # noise -> clean
    solver: str
    state: UnsampledState | None  # what the unsampler left, when it still fits the latent
    retrace: bool  # start from the unsampler's last two coupled states, not from the noise alone
    coupling: float = 1.0  # weight of the unsampler's coupled corrections when retracing (UnsampledState.coupling_for)
    notes: tuple[str, ...] = ()  # worth a warning: the run is not the exact roundtrip the user may expect
    segments: tuple[Segment, ...] = ()  # the path's steps by expert (samplers/experts.py)

    @property
    def trajectory(self):
        return self.state.trajectory if self.state is not None else None

    @property
    def previous(self):
        return self.state.previous if self.retrace else None

    @property
    def noise_rounding(self):
        """Added back to the latent whenever it is still the unsampler's (see UnsampledState)."""
        return self.state.noise_rounding if self.state is not None else None


def plan_resample(state: UnsampledState | None, shape: tuple[int, ...], solver: str, family: str,
                  sigmas_path: list[float] | None, guidance: str = "", boundary: float | None = None) -> ResamplePlan:
    """The resampler's run for a latent carrying `state` (None: a plain latent), given the solver option,
    the model's family, the connected schedule (None: unconnected), noise -> clean, the resampler's
    guidance_fingerprint and its experts' boundary (None: one model): a coupled path is retraced exactly
    under the unsampler's own guidance and with damped corrections for an edit; two experts switch where
    the unsampler's did, or not at all."""
    state, dropped = usable_state(state, shape, sigmas_path is not None)
    notes = [dropped] if dropped else []
    if state is None and sigmas_path is None:
        raise ValueError("this latent did not come from RewindUnsampler, so there is no schedule to retrace. "
                         "Connect its 'latent' to a RewindUnsampler output, or connect 'sigmas'.")
    if state is not None and state.family != family:
        raise ValueError(f"the latent was unsampled with a {state.family} model but this is a {family} model. "
                         "Use the same model family for both passes.")
    mismatch = expert_mismatch(state.boundary, boundary) if state is not None else None
    if mismatch:
        raise ValueError(mismatch)
    path = tuple(sigmas_path) if sigmas_path is not None else tuple(state.resample_path())
    if state is not None and sigmas_path is not None and not starts_where_unsampled(path, state):
        notes.append(f"'sigmas' starts at {path[0]:.4g} but the latent was unsampled to {state.path[-1]:.4g}; the "
                     "roundtrip will not be exact. Disconnect 'sigmas' to use the unsampler's schedule.")
    chosen = (state.solver if state is not None else "euler") if solver == MATCH else solver
    if state is not None and state.exact and chosen != state.solver:
        notes.append(f"the latent was unsampled to retrace {state.solver} steps exactly; {chosen} will not land back "
                     "on the input. Pick 'match unsampler' for an exact roundtrip.")
    retrace = retraces(state, chosen, sigmas_path is not None)
    coupling = state.coupling_for(guidance) if retrace else 1.0
    return ResamplePlan(path, chosen, state, retrace, coupling, tuple(notes),
                        split_path(path, "resample", chosen, 0, boundary))


def retraces(state: UnsampledState | None, solver: str, sigmas_connected: bool) -> bool:
    """A coupled path (BDIA) is retraced from its last two states when the resampler runs the same solver
    along the unsampler's own schedule; otherwise it starts from the noise alone."""
    return state is not None and not sigmas_connected and solver == state.solver and state.previous is not None


def usable_state(state: UnsampledState | None, shape: tuple[int, ...],
                 sigmas_connected: bool) -> tuple[UnsampledState | None, str | None]:
    """`state` if it still describes a latent of `shape`, else None and why. A changed latent is refused
    unless a connected schedule can take over."""
    if state is None:
        return None, ("the latent was not unsampled by RewindUnsampler (or a node in between dropped its state); "
                      "falling back to plain zero-noise resampling.")
    if tuple(shape) == state.shape:
        return state, None
    changed = (f"the latent's shape {tuple(shape)} differs from the {state.shape} RewindUnsampler produced (sliced, "
               "resized or re-batched in between), so the unsampler's schedule and trajectory no longer match it")
    if not sigmas_connected:
        raise ValueError(f"{changed}. Slice or resize before unsampling, not between the two passes.")
    return None, f"{changed}; resampling with the connected 'sigmas' instead."


def starts_where_unsampled(path: tuple[float, ...], state: UnsampledState) -> bool:
    return abs(path[0] - state.path[-1]) <= PATH_MATCH_RTOL * max(1.0, path[0])
