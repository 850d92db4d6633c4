"""Unsampler, resampler, schedules and SAMPLER objects: thin nodes over samplers/ and schedules/."""
from __future__ import annotations

import logging

import torch

from ..samplers.loop import DEFAULT_EXACT_ITERATIONS
from ..samplers.solvers import COUPLED_SOLVERS, SOLVERS
from ..samplers.state import LATENT_KEY, UnsampledState, guidance_fingerprint
from ..schedules import ays, paths
from . import context
from .comfy_api import io
from .comfy_sampling import (RewindSampler, as_path, check_latent, check_schedule, ensure_trajectory_fits, model_family,
                             noise_rounding, offload, run, warn_if_short_of_model_noise)
from .validation import RewindInputError, checked_inputs

log = logging.getLogger("rewind")

EXACT = "exact"
BDIA = "bdia"
# Exact modes and the one-step solver whose resampling steps each one inverts.
EXACT_MODES = {EXACT: "euler", "exact_heun": "heun"}
MATCH = "match unsampler"
UNSAMPLE_SOLVERS = [BDIA, *EXACT_MODES, *(name for name in SOLVERS if name != BDIA)]
# A SAMPLER's output is one tensor: a coupled solver's second state cannot travel through SamplerCustom.
SAMPLER_UNSAMPLE_SOLVERS = [name for name in UNSAMPLE_SOLVERS if name not in COUPLED_SOLVERS]
RESAMPLE_SOLVERS = [MATCH, *SOLVERS]
ContextOptions = io.Custom("REWIND_CONTEXT_OPTIONS")
Coherence = io.Custom("REWIND_COHERENCE")


def unsample_sampler(solver: str, exact_iterations: int, record_trajectory: bool = False) -> RewindSampler:
    """An exact mode retraces its one-step solver with fixed-point iterations; BDIA solves only its first
    step that way (the others invert algebraically); the remaining solvers step explicitly."""
    exact = solver in EXACT_MODES or solver in COUPLED_SOLVERS
    return RewindSampler("unsample", EXACT_MODES.get(solver, solver), exact_iterations if exact else 0,
                         record_trajectory=record_trajectory)


def _model_inputs(cfg_default: float, cfg_tooltip: str) -> list:
    return [
        io.Model.Input("model", tooltip="The diffusion model (SD1.5, SDXL, AnimateDiff/Hotshot-patched, Wan2.1)."),
        io.Conditioning.Input("positive", tooltip="Prompt conditioning."),
        io.Conditioning.Input("negative", tooltip="Negative conditioning (unused at cfg 1)."),
        io.Latent.Input("latent", tooltip="The latent to carry along the path."),
        io.Float.Input("cfg", default=cfg_default, min=0.0, max=30.0, step=0.1, round=0.01, tooltip=cfg_tooltip),
    ]


def _context_input():
    return ContextOptions.Input(
        "context_options", optional=True,
        tooltip="Sliding context windows (RewindContextOptions). Connect the same options to the unsampler and the "
                "resampler: both then see identical windows.",
    )


def _windowed(model, options):
    return context.apply_context_windows(model, options) if options is not None else model


class RewindUnsampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindUnsampler",
            display_name="Rewind Unsampler",
            category="Rewind/sampling",
            description="Runs a deterministic sampler backwards, from the clean latent up to noise, so the noise keeps "
                        "the video's motion and composition. 'bdia' (default) takes steps the resampler inverts "
                        "exactly, at one model call per step and any CFG: same prompt in, the same video out; a new "
                        "prompt or CFG gets the best edits measured (README, Edit quality).",
            inputs=[
                *_model_inputs(1.0, "Guidance while unsampling. Higher keeps the restyled result closer to the input; "
                                    "1.0 skips the negative pass and is the fastest."),
                io.Sigmas.Input("sigmas", tooltip="The schedule (RewindAYSScheduler or any scheduler), either direction: "
                                                  "the unsampler always travels clean -> noise."),
                io.Combo.Input("solver", options=UNSAMPLE_SOLVERS, default=BDIA,
                               tooltip="'bdia' (default): bi-directional integration; the resampler ('match "
                                       "unsampler') inverts every step algebraically, so the roundtrip is exact on "
                                       "any model and CFG at one model call per step, and with a new prompt or CFG it "
                                       "damps the coupling, which edits as well as the best other mode (README, Edit "
                                       "quality). Use it for restyles and roundtrips alike. 'exact' / 'exact_heun' invert "
                                       "euler / heun steps by fixed-point iteration (several calls per step, less "
                                       "exact on trained models and at high CFG). The others run their explicit step "
                                       "backwards (one call per step, as FlipSigmas + SamplerCustom)."),
                io.Int.Input("exact_iterations", default=DEFAULT_EXACT_ITERATIONS, min=1, max=50,
                             tooltip="Fixed-point iterations (model calls) per step in exact modes; for 'bdia' only "
                                     "the first step from the clean latent uses them."),
                _context_input(),
            ],
            outputs=[io.Latent.Output(display_name="noise",
                                      tooltip="The unsampled noise, carrying what the resampler needs to retrace it.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model, positive, negative, latent, cfg, sigmas, solver, exact_iterations=DEFAULT_EXACT_ITERATIONS,
                context_options=None) -> io.NodeOutput:
        check_latent(model, latent["samples"], "RewindUnsampler")
        path = as_path(sigmas, "unsample", "RewindUnsampler")
        check_schedule(model, path, "RewindUnsampler")
        ensure_trajectory_fits(latent["samples"], path, "RewindUnsampler")
        warn_if_short_of_model_noise(model, path, "RewindUnsampler")
        sampler = unsample_sampler(solver, exact_iterations, record_trajectory=True)
        samples = run(_windowed(model, context_options), positive, negative, latent, cfg, sampler, path)
        # The trajectory is already in host memory (RewindSampler offloads it as it goes).
        result = sampler.result
        coupled = result.previous is not None
        state = UnsampledState(tuple(path), sampler.solver, sampler.exact_iterations > 0, model_family(model),
                               tuple(samples.shape), result.trajectory,
                               offload(result.previous) if coupled else None,
                               noise_rounding(model, result.x, samples) if coupled else None,
                               guidance_fingerprint(positive, negative, cfg))
        return io.NodeOutput({**latent, "samples": samples, LATENT_KEY: state})


class RewindResampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindResampler",
            display_name="Rewind Resampler",
            category="Rewind/sampling",
            description="Samples the unsampled noise back down to a clean latent with no noise added, usually with a new "
                        "prompt. It reads the schedule and solver from the unsampler's latent, so one LATENT wire is "
                        "all it needs.",
            inputs=[
                *_model_inputs(1.0, "Guidance while resampling. Above the unsampler's cfg it pulls the video toward "
                                    "the prompt (the style): 2-4 restyle and keep the structure; equal to the "
                                    "unsampler's gives the input back."),
                io.Combo.Input("solver", options=RESAMPLE_SOLVERS, default=MATCH,
                               tooltip="'match unsampler' retraces the unsampler's steps (needed for an exact "
                                       "roundtrip; for 'bdia', exact when prompt, negative and CFG are the "
                                       "unsampler's, damped for an edit); others trade exactness for a different "
                                       "solver."),
                io.Sigmas.Input("sigmas", optional=True,
                                tooltip="Only for latents that did not come from RewindUnsampler; otherwise the "
                                        "unsampler's schedule is used."),
                _context_input(),
                Coherence.Input("coherence", optional=True,
                                tooltip="Latent-coherence guidance (RewindLatentCoherence) against drift and flicker."),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model, positive, negative, latent, cfg, solver, sigmas=None, context_options=None,
                coherence=None) -> io.NodeOutput:
        samples = latent["samples"]
        check_latent(model, samples, "RewindResampler")
        state = _unsampled_state(latent, samples, sigmas_connected=sigmas is not None)
        if state is None and sigmas is None:
            raise RewindInputError(
                "RewindResampler: this latent did not come from RewindUnsampler, so there is no schedule to retrace. "
                "Connect its 'latent' to a RewindUnsampler output, or connect 'sigmas'."
            )
        if state is not None and state.family != model_family(model):
            raise RewindInputError(
                f"RewindResampler: the latent was unsampled with a {state.family} model but this is a "
                f"{model_family(model)} model. Use the same model family for both passes."
            )
        path = as_path(sigmas, "resample", "RewindResampler") if sigmas is not None else state.resample_path()
        if state is not None and sigmas is not None and abs(path[0] - state.path[-1]) > 1e-4 * max(1.0, path[0]):
            log.warning("RewindResampler: 'sigmas' starts at %.4g but the latent was unsampled to %.4g; the roundtrip "
                        "will not be exact. Disconnect 'sigmas' to use the unsampler's schedule.", path[0], state.path[-1])
        check_schedule(model, path, "RewindResampler")
        chosen = (state.solver if state is not None else "euler") if solver == MATCH else solver
        if state is not None and state.exact and chosen != state.solver:
            log.warning("RewindResampler: the latent was unsampled to retrace %s steps exactly; %s will not land "
                        "back on the input. Pick 'match unsampler' for an exact roundtrip.", state.solver, chosen)
        hook_factory = coherence.make_hook if coherence is not None else None
        # A coupled path is retraced from its last two states, when the schedule is the unsampler's own: exactly
        # when the guidance is the unsampler's too, with damped corrections for an edit (UnsampledState.coupling_for).
        retrace = state is not None and sigmas is None and chosen == state.solver and state.previous is not None
        coupling = state.coupling_for(guidance_fingerprint(positive, negative, cfg)) if retrace else 1.0
        sampler = RewindSampler("resample", chosen, hook_factory=hook_factory,
                                trajectory=state.trajectory if state is not None else None,
                                previous=state.previous if retrace else None,
                                noise_rounding=state.noise_rounding if retrace else None,
                                coupling=coupling)
        clean = {k: v for k, v in latent.items() if k != LATENT_KEY}
        samples = run(_windowed(model, context_options), positive, negative, clean, cfg, sampler, path)
        return io.NodeOutput({**clean, "samples": samples})


def _unsampled_state(latent: dict, samples: torch.Tensor, sigmas_connected: bool) -> UnsampledState | None:
    state = latent.get(LATENT_KEY)
    if state is None:
        log.warning("RewindResampler: the latent was not unsampled by RewindUnsampler (or a node in between dropped "
                    "its state); falling back to plain zero-noise resampling.")
        return None
    if tuple(samples.shape) != state.shape:
        changed = (f"RewindResampler: the latent's shape {tuple(samples.shape)} differs from the {state.shape} "
                   "RewindUnsampler produced (sliced, resized or re-batched in between), so the unsampler's "
                   "schedule and trajectory no longer match it")
        if not sigmas_connected:
            raise RewindInputError(f"{changed}. Slice or resize before unsampling, not between the two passes.")
        log.warning("%s; resampling with the connected 'sigmas' instead.", changed)
        return None
    return state


class RewindAYSScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindAYSScheduler",
            display_name="Rewind AYS Scheduler",
            category="Rewind/schedules",
            description="Align Your Steps noise levels (NVIDIA's SD1/SDXL/SVD tables, log-linear interpolation to any "
                        "step count) and a flow-model version for Wan2.1: AYS mapped to flow time at equal SNR with "
                        "the flow shift, topped at sigma 1.",
            inputs=[
                io.Combo.Input("model_type", options=list(ays.MODEL_TYPES), default="SD1",
                               tooltip="SD1 for SD1.5/AnimateDiff, SDXL for SDXL/Hotshot-XL, Wan2.1 for flow models."),
                io.Int.Input("steps", default=16, min=1, max=1000, tooltip="Number of steps."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the schedule to use, from the clean end; < 1 unsamples only part "
                                       "way, keeping more of the input."),
                io.Float.Input("flow_shift", default=ays.DEFAULT_FLOW_SHIFT, min=0.1, max=20.0, step=0.1,
                               tooltip="Wan2.1 only: noise-to-signal scale of the flow schedule. Lower spreads steps "
                                       "toward the clean end, which inverts more exactly (see README)."),
                io.Model.Input("model", optional=True,
                               tooltip="Optional: the model the schedule is for. Connected, the schedule tops out at "
                                       "this model's own sigma_max (e.g. 25.2 for AnimateDiff's sqrt_linear beta "
                                       "schedule instead of the table's 14.6), so unsampling reaches the model's noise "
                                       "level; a model_type from the wrong family (flow vs SD) is refused."),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model_type, steps, denoise, flow_shift=ays.DEFAULT_FLOW_SHIFT, model=None) -> io.NodeOutput:
        sigma_max = model_sigma_max(model, model_type) if model is not None else None
        try:
            sigmas = ays.ays_sigmas(model_type, steps, denoise, flow_shift, sigma_max)
        except ValueError as error:
            raise RewindInputError(f"RewindAYSScheduler: {error}") from None
        return io.NodeOutput(torch.tensor(sigmas, dtype=torch.float32))


def model_sigma_max(model, model_type: str) -> float:
    """The noise level the model samples from, after any patch (AnimateDiff-Evolved's beta_schedule)."""
    family = model_family(model)
    if (family == "flow") != (model_type in ays.FLOW_MODEL_TYPES):
        kind = "a flow model (Wan2.1)" if family == "flow" else "an SD-type model"
        choices = "Wan2.1" if family == "flow" else "SD1, SDXL or SVD"
        raise RewindInputError(f"RewindAYSScheduler: model_type {model_type} does not fit the connected model, which is "
                               f"{kind}. Pick {choices}, or disconnect 'model'.")
    return float(model.get_model_object("model_sampling").sigma_max)


class RewindFlipSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindFlipSigmas",
            display_name="Rewind Flip Sigmas",
            category="Rewind/schedules",
            description="Reverses a schedule for unsampling with SamplerCustom, checking it first. A leading 0 becomes "
                        "1e-4 as in core FlipSigmas; Rewind samplers read it back as exactly clean, and for flow "
                        "models they end at sigma 1 without the core path's division by (1 - sigma).",
            inputs=[io.Sigmas.Input("sigmas", tooltip="A descending schedule.")],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    @checked_inputs
    def execute(cls, sigmas) -> io.NodeOutput:
        try:
            paths.noise_levels(sigmas.tolist(), "RewindFlipSigmas 'sigmas'")
        except paths.ScheduleError as error:
            raise RewindInputError(str(error)) from None
        return io.NodeOutput(torch.tensor(paths.flip(sigmas.tolist()), dtype=sigmas.dtype))


class RewindUnsampleSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindUnsampleSampler",
            display_name="Rewind Unsample Sampler",
            category="Rewind/sampling",
            description="Rewind's unsampling as a SAMPLER for core SamplerCustom / SamplerCustomAdvanced (add_noise off, "
                        "any schedule direction). Safe for flow models, where core samplers end in inf.",
            inputs=[
                io.Combo.Input("solver", options=SAMPLER_UNSAMPLE_SOLVERS, default=EXACT,
                               tooltip="As in RewindUnsampler, less 'bdia': its second state cannot travel through "
                                       "SamplerCustom (use RewindUnsampler -> RewindResampler for it)."),
                io.Int.Input("exact_iterations", default=DEFAULT_EXACT_ITERATIONS, min=1, max=50,
                             tooltip="Model calls per step in exact mode."),
            ],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    @checked_inputs
    def execute(cls, solver, exact_iterations) -> io.NodeOutput:
        return io.NodeOutput(unsample_sampler(solver, exact_iterations))


class RewindResampleSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindResampleSampler",
            display_name="Rewind Resample Sampler",
            category="Rewind/sampling",
            description="Rewind's zero-noise resampling as a SAMPLER for core SamplerCustom (add_noise off). Pair "
                        "'euler' with an exact unsample for an exact roundtrip.",
            inputs=[io.Combo.Input("solver", options=list(SOLVERS), default="euler", tooltip="Deterministic solver.")],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    @checked_inputs
    def execute(cls, solver) -> io.NodeOutput:
        return io.NodeOutput(RewindSampler("resample", solver))


NODES = [RewindUnsampler, RewindResampler, RewindAYSScheduler, RewindFlipSigmas, RewindUnsampleSampler,
         RewindResampleSampler]
