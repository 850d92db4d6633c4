"""Unsampler, resampler, schedules and SAMPLER objects: thin nodes over samplers/ and schedules/."""
from __future__ import annotations

import torch

from ..comfy_glue.api import io
from ..comfy_glue.context_handler import apply_context_windows, core_windows_note
from ..comfy_glue.flowedit import FlowEditSampler, edit_mask, run_flowedit
from ..comfy_glue.model_checks import (check_expert_pair, check_latent, check_schedule, model_sigma_max,
                                       short_of_model_noise)
from ..comfy_glue.model_types import model_family
from ..comfy_glue.sampler import Expert, RewindSampler, as_path, ensure_trajectory_fits, noise_rounding, offload, run_pass
from ..samplers.experts import (HIGH, I2V_BOUNDARY, LOW, T2V_BOUNDARY, HighNoiseExpert, Segment, idle_expert_note,
                                split_path)
from ..samplers.flowedit import check_edit_span, split_edit
from ..samplers.loop import DEFAULT_EXACT_ITERATIONS
from ..samplers.modes import (BDIA, EXACT, MATCH, RESAMPLE_SOLVERS, SAMPLER_UNSAMPLE_SOLVERS, UNSAMPLE_SOLVERS,
                              plan_resample, unsample_mode)
from ..samplers.solvers import SOLVERS
from ..samplers.state import LATENT_KEY, UnsampledState, guidance_fingerprint
from ..schedules import ays, paths
from .checked import checked, warn
from .types import CoherenceType, ContextOptionsType, HighNoiseExpertType

# RewindFlowEdit's defaults (README, FlowEdit or unsampling).
FLOWEDIT_SOURCE_CFG = 1.0
FLOWEDIT_TARGET_CFG = 3.0
FLOWEDIT_N_MAX = 12
FLOWEDIT_NOISE_CORRELATION = 0.0


def unsample_sampler(mode: str, exact_iterations: int, record_trajectory: bool = False) -> RewindSampler:
    chosen = unsample_mode(mode, exact_iterations)
    return RewindSampler("unsample", chosen.solver, chosen.exact_iterations, record_trajectory=record_trajectory)


def _model_inputs(cfg_default: float, cfg_tooltip: str) -> list:
    return [
        io.Model.Input("model", tooltip="The diffusion model (SD1.5, SDXL, AnimateDiff/Hotshot-patched, Wan2.1/2.2, "
                                        "HunyuanVideo, LTX-Video, Mochi, Cosmos Predict2)."),
        io.Conditioning.Input("positive", tooltip="Prompt conditioning."),
        io.Conditioning.Input("negative", tooltip="Negative conditioning (unused at cfg 1)."),
        io.Latent.Input("latent", tooltip="The latent to carry along the path."),
        io.Float.Input("cfg", default=cfg_default, min=0.0, max=30.0, step=0.1, round=0.01, tooltip=cfg_tooltip),
    ]


def _context_input():
    return ContextOptionsType.Input(
        "context_options", optional=True,
        tooltip="Sliding context windows (RewindContextOptions). Connect the same options to the unsampler and the "
                "resampler: both then see identical windows.",
    )


def _windowed(node: type[io.ComfyNode], model, options):
    """`model` in Rewind's context windows when `options` are connected, warning when they replace core's."""
    if options is None:
        return model
    note = core_windows_note(model)
    if note is not None:
        warn(node, note)
    return apply_context_windows(model, options)


def _expert_input(tooltip: str = "Wan 2.2 A14B: the high-noise expert (RewindHighNoiseExpert), which takes the steps at "
                                  "and above its boundary; 'model' and 'cfg' are then the low-noise expert's. Connect "
                                  "one to both passes, with the same boundary, so the resampler switches where the "
                                  "unsampler did."):
    return HighNoiseExpertType.Input("high_noise_expert", optional=True, tooltip=tooltip)


def _experts(node: type[io.ComfyNode], model, cfg: float, high: HighNoiseExpert | None, options) -> dict[str, Expert]:
    """The pass's models by expert, each in Rewind's windows when connected; the pair checked before either loads."""
    if high is not None:
        check_expert_pair(model, high.model)
    experts = {LOW: Expert(model, cfg), **({HIGH: Expert(high.model, high.cfg)} if high is not None else {})}
    return {name: Expert(_windowed(node, expert.model, options), expert.cfg) for name, expert in experts.items()}


def _boundary(high: HighNoiseExpert | None) -> float | None:
    """Where a pass's experts switch; None with one model."""
    return high.boundary if high is not None else None


def _guidance(positive, negative, cfg: float, high: HighNoiseExpert | None) -> str:
    """The pass's guidance_fingerprint: the prompts and every expert's cfg."""
    return guidance_fingerprint(positive, negative, cfg, high.cfg if high is not None else None)


def _expert_notes(segments: tuple[Segment, ...], high: HighNoiseExpert | None) -> list[str]:
    note = idle_expert_note(segments, high.boundary) if high is not None else None
    return [note] if note else []


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
                *_model_inputs(1.0, "Guidance while unsampling. Keep 1.0 (no negative pass, the fastest): the prompt's pull is "
                                    "the resampler's cfg minus this one, so equal cfgs give the input back and a higher "
                                    "unsampler cfg pulls away from the prompt (README, How to get good results)."),
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
                _expert_input(),
            ],
            outputs=[io.Latent.Output(display_name="noise",
                                      tooltip="The unsampled noise, carrying what the resampler needs to retrace it.")],
        )

    @classmethod
    @checked
    def execute(cls, model, positive, negative, latent, cfg, sigmas, solver, exact_iterations=DEFAULT_EXACT_ITERATIONS,
                context_options=None, high_noise_expert=None) -> io.NodeOutput:
        check_latent(model, latent["samples"])
        experts = _experts(cls, model, cfg, high_noise_expert, context_options)
        path = as_path(sigmas, "unsample")
        notes = check_schedule(model, path)
        ensure_trajectory_fits(model, latent["samples"], path)
        sampler = unsample_sampler(solver, exact_iterations, record_trajectory=True)
        boundary = _boundary(high_noise_expert)
        segments = split_path(path, "unsample", sampler.solver, sampler.exact_iterations, boundary)
        for note in [*notes, *short_of_model_noise(model, path), *_expert_notes(segments, high_noise_expert)]:
            warn(cls, note)
        samples, result = run_pass(experts, positive, negative, latent, sampler, path, segments)
        # The trajectory is already in host memory (RewindSampler offloads it as it goes).
        guidance = _guidance(positive, negative, cfg, high_noise_expert)
        state = UnsampledState(tuple(path), sampler.solver, sampler.exact_iterations > 0, model_family(model),
                               tuple(samples.shape), result.trajectory,
                               offload(result.previous) if result.previous is not None else None,
                               noise_rounding(model, result.x, samples), guidance, boundary)
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
                CoherenceType.Input("coherence", optional=True,
                                    tooltip="Latent-coherence guidance (RewindLatentCoherence) against drift and flicker."),
                _expert_input(),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    @checked
    def execute(cls, model, positive, negative, latent, cfg, solver, sigmas=None, context_options=None,
                coherence=None, high_noise_expert=None) -> io.NodeOutput:
        check_latent(model, latent["samples"])
        experts = _experts(cls, model, cfg, high_noise_expert, context_options)
        plan = plan_resample(latent.get(LATENT_KEY), tuple(latent["samples"].shape), solver, model_family(model),
                             as_path(sigmas, "resample") if sigmas is not None else None,
                             _guidance(positive, negative, cfg, high_noise_expert), _boundary(high_noise_expert))
        for note in [*plan.notes, *check_schedule(model, list(plan.path)), *_expert_notes(plan.segments, high_noise_expert)]:
            warn(cls, note)
        sampler = RewindSampler("resample", plan.solver, hook_factory=coherence.make_hook if coherence is not None else None,
                                trajectory=plan.trajectory, previous=plan.previous, noise_rounding=plan.noise_rounding,
                                coupling=plan.coupling)
        clean = {k: v for k, v in latent.items() if k != LATENT_KEY}
        samples, _ = run_pass(experts, positive, negative, clean, sampler, list(plan.path), plan.segments)
        return io.NodeOutput({**clean, "samples": samples})


class RewindHighNoiseExpert(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindHighNoiseExpert",
            display_name="Rewind High-Noise Expert (Wan 2.2)",
            category="Rewind/sampling",
            description="Wan 2.2 A14B's second model for Rewind Unsampler, Resampler and FlowEdit: the high-noise "
                        "expert takes every step that evaluates the model at or above the boundary, the sampler's own "
                        "model (the low-noise expert) the rest, in both passes, so the roundtrip stays exact through "
                        "the switch. Only one expert is on the GPU at a time.",
            inputs=[
                io.Model.Input("high_noise_model",
                               tooltip="Wan 2.2 A14B's high-noise expert (wan2.2_t2v_high_noise_14B or the i2v one); "
                                       "its low-noise twin goes into the sampler's 'model'."),
                io.Float.Input("boundary", default=T2V_BOUNDARY, min=0.0, max=1.0, step=0.005, round=0.001,
                               tooltip=f"The flow sigma where the experts switch: the high-noise expert at and above "
                                       f"it. Wan 2.2's own: {T2V_BOUNDARY} text-to-video, {I2V_BOUNDARY} "
                                       "image-to-video. Use the same on both passes."),
                io.Float.Input("cfg", default=1.0, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="The high-noise expert's guidance in the pass this feeds (the sampler's own "
                                       "cfg is the low-noise expert's). Unsampler: keep 1.0. Resampler: Wan 2.2 "
                                       "text-to-video guides its high-noise expert a little harder (4.0 against "
                                       "3.0). FlowEdit: the target guidance of its steps."),
            ],
            outputs=[HighNoiseExpertType.Output(display_name="high_noise_expert")],
        )

    @classmethod
    @checked
    def execute(cls, high_noise_model, boundary, cfg) -> io.NodeOutput:
        return io.NodeOutput(HighNoiseExpert(high_noise_model, boundary, cfg))


class RewindAYSScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindAYSScheduler",
            display_name="Rewind AYS Scheduler",
            category="Rewind/schedules",
            description="Align Your Steps noise levels (NVIDIA's SD1/SDXL/SVD tables, log-linear interpolation to any "
                        "step count) and a flow-model version (model_type Wan2.1, for every flow model): AYS mapped to "
                        "flow time at equal SNR with the flow shift, topped at sigma 1.",
            inputs=[
                io.Combo.Input("model_type", options=list(ays.MODEL_TYPES), default="SD1",
                               tooltip="SD1 for SD1.5/AnimateDiff, SDXL for SDXL/Hotshot-XL, Wan2.1 for every flow model "
                                       "(Wan 2.1, Wan 2.2 A14B and TI2V-5B, HunyuanVideo, LTX-Video, Mochi). Cosmos Predict2 samples in EDM sigmas up "
                                       "to 80: SVD (or SD1) with the model connected."),
                io.Int.Input("steps", default=16, min=1, max=1000, tooltip="Number of steps."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the schedule to use, from the clean end; < 1 unsamples only part "
                                       "way, keeping more of the input."),
                io.Float.Input("flow_shift", default=ays.DEFAULT_FLOW_SHIFT, min=0.1, max=20.0, step=0.1,
                               tooltip="Wan2.1 (flow models) only: noise-to-signal scale of the flow schedule. Lower spreads steps "
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
    @checked
    def execute(cls, model_type, steps, denoise, flow_shift=ays.DEFAULT_FLOW_SHIFT, model=None) -> io.NodeOutput:
        sigma_max = None
        if model is not None:
            ays.check_family(model_type, model_family(model))
            sigma_max = model_sigma_max(model)
        sigmas = ays.ays_sigmas(model_type, steps, denoise, flow_shift, sigma_max)
        return io.NodeOutput(torch.tensor(sigmas, dtype=torch.float32))


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
    @checked
    def execute(cls, sigmas) -> io.NodeOutput:
        paths.noise_levels(sigmas.tolist(), "'sigmas'")
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
    @checked
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
    @checked
    def execute(cls, solver) -> io.NodeOutput:
        return io.NodeOutput(RewindSampler("resample", solver))


class RewindFlowEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindFlowEdit",
            display_name="Rewind FlowEdit",
            category="Rewind/sampling",
            description="Inversion-free edit for flow models (FlowEdit, Kulikov et al. 2024): moves the clean source "
                        "from the source prompt to the target prompt by the difference of the two guided velocities "
                        "at the same noisy points, with no unsampling. For edits that keep the layout it was the "
                        "steadiest and most faithful editor measured on a learned Wan model; unsampling "
                        "(RewindUnsampler -> RewindResampler) lets a new prompt re-imagine more of the layout and "
                        "serves SD-type models (README, FlowEdit or unsampling). Two model calls per edit step.",
            inputs=[
                io.Model.Input("model", tooltip="A flow model (Wan2.1/2.2, HunyuanVideo, LTX-Video, Mochi, SD3, Flux). "
                                                "SD-type models: use RewindUnsampler -> RewindResampler."),
                io.Conditioning.Input("source_positive", tooltip="What the source shows (its description)."),
                io.Conditioning.Input("target_positive", tooltip="What the result should show."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning for both guidances (unused at cfg 1)."),
                io.Latent.Input("latent", tooltip="The clean source latent (VAE Encode, Rewind Load Video)."),
                io.Sigmas.Input("sigmas", tooltip="The full schedule, ending at 0 (RewindAYSScheduler model_type "
                                                  "Wan2.1, or BasicScheduler with this model)."),
                io.Float.Input("source_cfg", default=FLOWEDIT_SOURCE_CFG, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Guidance of the source prompt's velocity."),
                io.Float.Input("target_cfg", default=FLOWEDIT_TARGET_CFG, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Guidance of the target prompt's velocity: the edit's strength is the "
                                       "difference between the two guided velocities."),
                io.Int.Input("n_max", default=FLOWEDIT_N_MAX, min=0, max=1000,
                             tooltip="Edit steps, counted from the clean end of the schedule; the first steps - n_max "
                                     "are skipped. Higher edits more and keeps less of the source (at most the "
                                     "schedule's steps)."),
                io.Int.Input("n_min", default=0, min=0, max=1000,
                             tooltip="Of the n_max steps, the last n_min sample the target prompt alone (SDEdit-like): "
                                     "finer detail of the target, less of the source. 0 is pure FlowEdit."),
                io.Int.Input("n_avg", default=1, min=1, max=32,
                             tooltip="Noise draws averaged per edit step (2 model calls each): less noise in the edit, "
                                     "steadier video, at n_avg times the cost."),
                io.Float.Input("noise_correlation", default=FLOWEDIT_NOISE_CORRELATION, min=0.0, max=1.0, step=0.05,
                               tooltip="How much of each step's noise carries over to the next: 0 draws fresh noise "
                                       "every step (the paper), 1 one draw for the whole edit. Fresh noise averages "
                                       "out over the steps and was the steadiest measured (README, FlowEdit or "
                                       "unsampling)."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the noise (one tensor over the whole clip, so context windows agree)."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Optional: where to edit (1) and where to keep the source bit for bit (0); the "
                                      "source's size in pixels or latents, one mask or one per frame. Without it, "
                                      "the latent's noise mask (Set Latent Noise Mask) is used if it has one."),
                _context_input(),
                _expert_input("Wan 2.2 A14B: the high-noise expert (RewindHighNoiseExpert) edits the steps at and "
                              "above its boundary with its cfg as target_cfg; 'model' and target_cfg are then the "
                              "low-noise expert's, and source_cfg guides the source on both."),
            ],
            outputs=[io.Latent.Output(display_name="latent", tooltip="The edited latent.")],
        )

    @classmethod
    @checked
    def execute(cls, model, source_positive, target_positive, negative, latent, sigmas, source_cfg, target_cfg, n_max,
                n_min, n_avg, noise_correlation, seed, mask=None, context_options=None,
                high_noise_expert=None) -> io.NodeOutput:
        """With a high_noise_expert its cfg is the target guidance of the steps at and above its boundary,
        and source_cfg stays the source guidance on both sides. The source guidance only has to reproduce
        the source's own velocity, which does not change at the boundary, and the edit is the difference
        of the two: equal prompts and cfgs give the source back through the switch, and a harder-guided
        high-noise expert (Wan 2.2 text-to-video: 4.0 against 3.0) pushes the layout harder, as it does
        when generating."""
        if model_family(model) != "flow":
            raise ValueError("'model' is an SD-type model (x = x0 + sigma * noise); FlowEdit moves along a flow "
                             "model's straight paths. Use RewindUnsampler -> RewindResampler for this model.")
        experts = _experts(cls, model, target_cfg, high_noise_expert, context_options)
        if LATENT_KEY in latent:
            raise ValueError("'latent' is RewindUnsampler's noise; FlowEdit starts from the clean source. Connect "
                             "the latent the unsampler was given (VAE Encode, Rewind Load Video).")
        check_latent(model, latent["samples"])
        path = as_path(sigmas, "resample")
        check_edit_span(path, n_max, n_min, n_avg)
        for note in check_schedule(model, path):
            warn(cls, note)
        given_mask = mask if mask is not None else latent.get("noise_mask")
        shaped_mask = edit_mask(model, given_mask, latent["samples"]) if given_mask is not None else None
        segments = split_edit(path, n_max, _boundary(high_noise_expert))
        for note in _expert_notes(segments, high_noise_expert):
            warn(cls, note)
        sampler = FlowEditSampler(path, n_max, n_min, n_avg, noise_correlation, seed, shaped_mask)
        samples = run_flowedit(experts, source_positive, target_positive, negative, latent, source_cfg, sampler,
                               segments)
        return io.NodeOutput({**latent, "samples": samples})


NODES = [RewindUnsampler, RewindResampler, RewindHighNoiseExpert, RewindFlowEdit, RewindAYSScheduler, RewindFlipSigmas,
         RewindUnsampleSampler, RewindResampleSampler]
