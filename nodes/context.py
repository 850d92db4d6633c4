"""Long-video nodes: context windows shared by unsampler and resampler, latent coherence, colour match.

The window planning, fusing, guidance and colour maths live in `samplers/context.py` and
`coherence/`; this module holds the ComfyUI side: node schemas and the context handler that runs
Rewind's windows inside ComfyUI's `calc_cond_batch`.

The handler owns the whole window evaluation and subclasses nothing from `comfy.context_windows`,
whose classes change shape between ComfyUI releases (window constructors, `get_tensor` and
`evaluate_context_windows` signatures, a causal anchor frame on by default). What it relies on is
the slot itself: `calc_cond_batch` asks `model_options["context_handler"]` `should_use_context(model,
conds, x, timestep, model_options)` and then calls its `execute(calc_cond_batch, model, conds, x,
timestep, model_options)`, the same from ComfyUI 0.3.64 to current releases (pinned by
tests/integration/test_context_core_compat.py).
"""
from __future__ import annotations

import copy
import functools
import math
import weakref

import torch

import comfy.model_management
import comfy.patcher_extension

from ..coherence.color import color_match
from ..coherence.guidance import MODES, Coherence
from ..samplers.context import (
    FUSE_METHODS,
    LAYOUT_AUTO,
    LAYOUT_TEMPORAL,
    LAYOUTS,
    SCHEDULES,
    ContextOptions,
    frames_that_fit,
    fuse_windows,
    latent_window,
    pixel_to_latent_frames,
    plan_context,
    render_plan,
    resolve_frame_axis,
)
from .comfy_api import io
from .validation import check_finite, checked_inputs, reported_by

ContextOptionsType = io.Custom("REWIND_CONTEXT_OPTIONS")
CoherenceType = io.Custom("REWIND_COHERENCE")


class RewindContextWindow:
    """The window being evaluated, as `transformer_options["context_window"]`.

    Model patches and step caches read `index_list` (and some `get_tensor`) from there, as they do
    with core's windows, so a cache keyed on the window never mixes two windows.
    """

    def __init__(self, index_list: tuple[int, ...], dim: int, total_frames: int):
        self.index_list = list(index_list)
        self.context_length = len(index_list)
        self.dim = dim
        self.total_frames = total_frames

    def get_tensor(self, full: torch.Tensor, device=None, dim=None) -> torch.Tensor:
        """This window's frames of `full` along `dim` (default: the window's axis)."""
        dim = self.dim if dim is None else dim
        index = torch.tensor(self.index_list, device=full.device)
        return full.index_select(dim, index).to(device if device is not None else full.device)


class RewindContextHandler:
    """Evaluates the model window by window with Rewind's plan and fuses the results.

    Windows come from `plan_context` (frame count and options only): no sigma-to-step lookup, so
    solvers that evaluate off the schedule work, and the unsampler and resampler see identical
    windows. Per-frame conditioning, masks and ControlNet hints are sliced with each window.
    """

    def __init__(self, options: ContextOptions, frame_axis: int):
        self.options = options
        self.dim = frame_axis
        self.context_length, self.context_overlap = latent_window(options, frame_axis)
        self._window_controls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def should_use_context(self, model, conds, x_in: torch.Tensor, timestep, model_options) -> bool:
        if resolve_frame_axis(self.options.layout, x_in.ndim) != self.dim:
            raise ValueError(
                f"Rewind context windows were set up for time on axis {self.dim} but the latent is {x_in.ndim}-D: "
                "use layout 'auto' in RewindContextOptions, or the layout that matches the model."
            )
        return x_in.size(self.dim) > self.context_length

    def execute(self, calc_cond_batch, model, conds, x_in: torch.Tensor, timestep: torch.Tensor, model_options) -> list[torch.Tensor]:
        num_frames = x_in.size(self.dim)
        plan = plan_context(num_frames, self.options, self.dim)
        transformer_options = model_options.get("transformer_options", {})

        def evaluate(w, index):
            comfy.model_management.throw_exception_if_processing_interrupted()
            window = RewindContextWindow(plan.windows[w], self.dim, num_frames)
            window_options = {**model_options, "transformer_options": {**transformer_options, "context_window": window}}
            window_conds = [None if cond is None else [self._window_cond(c, window, x_in) for c in cond] for cond in conds]
            return calc_cond_batch(model, window_conds, x_in.index_select(self.dim, index),
                                   self._window_timestep(timestep, index, num_frames), window_options)

        return fuse_windows(plan, self.dim, x_in, evaluate)

    def _window_timestep(self, timestep: torch.Tensor, index: torch.Tensor, num_frames: int) -> torch.Tensor:
        """A frame batch carries one sigma per frame; a video latent's sigmas are per clip and stay whole."""
        if self.dim == 0 and timestep.ndim == 1 and timestep.size(0) == num_frames:
            return timestep.index_select(0, index.to(timestep.device))
        return timestep

    def _is_per_frame(self, tensor: torch.Tensor, x_in: torch.Tensor) -> bool:
        num_frames = x_in.size(self.dim)
        if self.dim == 0:
            return tensor.ndim >= 1 and tensor.size(0) == num_frames
        return tensor.ndim == x_in.ndim and tensor.size(self.dim) == num_frames

    def _window_cond(self, cond: dict, window: RewindContextWindow, x_in: torch.Tensor) -> dict:
        """One conditioning entry cut to the window: per-frame tensors, model conds and ControlNet hints."""
        sliced = dict(cond)
        for key, value in cond.items():
            if isinstance(value, torch.Tensor) and self._is_per_frame(value, x_in):  # e.g. a per-frame mask
                sliced[key] = window.get_tensor(value)
            elif key == "model_conds":
                sliced[key] = {name: self._window_model_cond(c, window, x_in) for name, c in value.items()}
            elif key == "control" and self.dim == 0:
                sliced[key] = self._window_control(value, window)
        return sliced

    def _window_model_cond(self, value, window: RewindContextWindow, x_in: torch.Tensor):
        tensor = getattr(value, "cond", None)  # comfy.conds.CONDRegular and kin
        if isinstance(tensor, torch.Tensor) and self._is_per_frame(tensor, x_in):
            return value._copy_with(window.get_tensor(tensor))
        return value

    def _window_control(self, control, window: RewindContextWindow):
        """The ControlNet chain with this window's hint frames; made once per window and reused every step."""
        per_window = self._window_controls.setdefault(control, {})
        key = tuple(window.index_list)
        if key not in per_window:
            per_window[key] = control_for_frames(control, key, window.total_frames)
        return per_window[key]

    def forget_window_controls(self):
        """Drops the per-window ControlNet views (and their resized hints) once sampling is over."""
        self._window_controls = weakref.WeakKeyDictionary()


def control_for_frames(control, frames: tuple[int, ...], num_frames: int):
    """`control` (and its chain) seeing only `frames` of a per-frame hint.

    A shallow copy shares everything `pre_run` set up (model sampling, a ControlLoRA's built model)
    and gets its own hint; the hint cache derived from it (`cond_hint`, whose reset also drops a T2I
    adapter's features) starts empty so it is rebuilt from the window's frames. Controls whose hint
    is one image for the whole clip are returned as they are.
    """
    previous = control.previous_controlnet
    window_previous = control_for_frames(previous, frames, num_frames) if previous is not None else None
    hint = control.cond_hint_original
    per_frame = isinstance(hint, torch.Tensor) and hint.size(0) == num_frames
    if not per_frame and window_previous is previous:
        return control
    view = copy.copy(control)
    view.previous_controlnet = window_previous
    if per_frame:
        view.cond_hint_original = hint[list(frames)]
        view.cond_hint = None
    return view


# What the clip holds at once besides the model: the loop's state, the model's estimate and the next
# state, plus the handler's fused output per cond (cond, uncond), and one copy of headroom for the
# window slices and a multistep solver's extra state.
MIN_STATE_COPIES = 6


def apply_context_windows(model_patcher, options: ContextOptions):
    """A clone of `model_patcher` whose model calls run in Rewind's context windows.

    Installed as `model_options["context_handler"]`, the slot ComfyUI's `calc_cond_batch` hands
    its model calls to, so CALC_COND_BATCH wrappers (caches, ControlNet batching) see one window
    at a time. Before sampling, a clip whose latent state cannot fit in memory fails with the number
    of frames that would; the model's memory is then budgeted for one window, not the whole clip.
    """
    latent_ndim = 5 if getattr(model_patcher.model.latent_format, "latent_dimensions", 2) == 3 else 4
    handler = RewindContextHandler(options, resolve_frame_axis(options.layout, latent_ndim))
    clone = model_patcher.clone()
    clone.model_options["context_handler"] = handler
    clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, "Rewind_context_windows",
                               functools.partial(_prepare_sampling_for_one_window, handler))
    clone.add_callback_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, "Rewind_window_controls",
                                lambda patcher: handler.forget_window_controls())
    return clone


def _prepare_sampling_for_one_window(handler: RewindContextHandler, executor, model, noise_shape, *args, **kwargs):
    """Checks the whole clip's state fits, then lets ComfyUI load the model for one window's worth of frames."""
    ensure_clip_fits(tuple(noise_shape), 4, MIN_STATE_COPIES, handler.dim, model.load_device)
    window_shape = list(noise_shape)
    window_shape[handler.dim] = min(window_shape[handler.dim], handler.context_length)
    return executor(model, window_shape, *args, **kwargs)


def ensure_clip_fits(shape: tuple[int, ...], bytes_per_element: int, state_copies: int, frame_axis: int, device=None) -> None:
    """Fails before sampling when `state_copies` copies of a latent of `shape` exceed free memory.

    With context windows the model's activations scale with the window, so what grows with the clip
    is the latent itself and the state the sampler holds for it.
    """
    device = device if device is not None else comfy.model_management.get_torch_device()
    num_frames = shape[frame_axis]
    bytes_per_frame = math.prod(shape) * bytes_per_element // max(1, num_frames)
    available = comfy.model_management.get_free_memory(device)
    fit = frames_that_fit(bytes_per_frame, state_copies, available)
    if fit < num_frames:
        gib = 1024**3
        raise MemoryError(
            f"Rewind: {num_frames} latent frames need about {num_frames * bytes_per_frame * state_copies / gib:.1f} GiB "
            f"({state_copies} copies of the latent for the sampler's state) but {device} has {available / gib:.1f} GiB free: "
            f"at most {fit} frames fit. Split the clip (e.g. VideoHelperSuite's frame_load_cap and skip_first_frames), "
            "lower the resolution, or pick a solver that keeps fewer states."
        )


class RewindContextOptions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindContextOptions",
            display_name="Rewind Context Options",
            category="Rewind/long video",
            description=(
                "Sliding context windows for long videos. Connect the same options to Rewind Unsampler and Rewind "
                "Resampler: windows depend only on the frame count, never on the step or sigma, so both directions "
                "see identical windows and every solver (heun, fixed-point inversion) works. 'uniform' here is a fixed "
                "uniform tiling (plus dilated windows for context_stride > 1), not a per-step shift."
            ),
            inputs=[
                io.Combo.Input("context_schedule", options=list(SCHEDULES), default="static",
                               tooltip="static: overlapping windows, last one pulled back to full length. uniform: the same plus "
                                       "dilated windows (every 2nd, 4th... frame) when context_stride > 1. looped: windows wrap "
                                       "from the end to the start. batched: non-overlapping chunks (overlap ignored)."),
                io.Int.Input("context_length", default=16, min=1, max=4096,
                             tooltip="Frames the model sees at once, in pixel frames. AnimateDiff: 16; Hotshot-XL: 8; Wan2.1: "
                                     "81 (4n+1 pixel frames map exactly to n+1 latent frames)."),
                io.Int.Input("context_overlap", default=4, min=0, max=4096,
                             tooltip="Pixel frames shared by neighbouring windows; must be smaller than context_length."),
                io.Int.Input("context_stride", default=1, min=1, max=8,
                             tooltip="uniform/looped only: number of dilation levels (1 = contiguous windows only; 2 adds "
                                     "windows over every 2nd frame; 3 every 4th...)."),
                io.Boolean.Input("closed_loop", default=False,
                                 tooltip="looped only: also blend the last frames with the first, for seamless loops."),
                io.Combo.Input("fuse_method", options=list(FUSE_METHODS), default="pyramid",
                               tooltip="How overlapping windows are blended: flat (plain average), pyramid (window centres "
                                       "count more), overlap-linear (linear crossfade over the overlap), relative (a tent that "
                                       "nearly ignores window edges). Weights are normalised to sum to one per frame."),
                io.Combo.Input("layout", options=list(LAYOUTS), default=LAYOUT_AUTO,
                               tooltip="Where time runs in the latent. auto: the model's latent decides (5-D video latents "
                                       "such as Wan2.1 use the temporal axis, lengths converted from pixel frames)."),
            ],
            outputs=[ContextOptionsType.Output(display_name="context_options",
                                               tooltip="Connect to context_options of Rewind Unsampler and Rewind Resampler.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, context_schedule, context_length, context_overlap, context_stride, closed_loop, fuse_method, layout) -> io.NodeOutput:
        with reported_by("RewindContextOptions"):
            options = ContextOptions(
                schedule=context_schedule, length=context_length, overlap=context_overlap, stride=context_stride,
                closed_loop=closed_loop, fuse_method=fuse_method, layout=layout,
            )
        return io.NodeOutput(options)


class RewindContextPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindContextPreview",
            display_name="Rewind Context Preview",
            category="Rewind/long video",
            description="Draws the context windows for a clip: frames left to right, one row per window, brightness = "
                        "that window's share of the frame after fusing. Long clips are drawn at most 1024 pixels wide "
                        "and 64 rows high, a row then standing for a run of consecutive windows.",
            inputs=[
                ContextOptionsType.Input("context_options", tooltip="From Rewind Context Options."),
                io.Int.Input("frames", default=64, min=1, max=100000,
                             tooltip="Clip length in pixel frames (converted to latent frames for the Wan2.1 layout; "
                                     "'auto' previews the frame batch layout)."),
            ],
            outputs=[io.Image.Output(tooltip="The window layout; connect to Preview Image.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, context_options: ContextOptions, frames: int) -> io.NodeOutput:
        temporal = context_options.layout == LAYOUT_TEMPORAL
        num_frames = pixel_to_latent_frames(frames) if temporal else frames
        with reported_by("RewindContextPreview"):
            plan = plan_context(num_frames, context_options, frame_axis=2 if temporal else 0)
        return io.NodeOutput(render_plan(plan).unsqueeze(0))


class RewindLatentCoherence(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindLatentCoherence",
            display_name="Rewind Latent Coherence",
            category="Rewind/long video",
            description=(
                "Guidance against flicker and drift: after each resampling step the latent is pulled toward a "
                "reference. temporal: each frame toward a running average of the frames before it. source anchor: "
                "toward the unsampled input at the same noise level, blurred so the style may change but the "
                "composition stays. window agreement: neighbouring context windows toward the same colour tone."
            ),
            inputs=[
                io.Combo.Input("mode", options=list(MODES), default="temporal",
                               tooltip="What the latent is pulled toward (see the node description)."),
                io.Float.Input("strength", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Fraction of the gap to the reference closed over the active range, whatever the "
                                       "step count or resolution. 0 disables, 1 copies the reference."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Where on the resampling path guidance starts (0 = the noisy start)."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Where guidance stops (1 = the clean end). Ending early leaves the last steps "
                                       "free to restore detail."),
                io.Float.Input("low_pass", default=0.0, min=0.0, max=0.5, step=0.005,
                               tooltip="Blur the pull, as a fraction of the frame size: only coarse structure (colour, "
                                       "layout) is pulled, detail is left to the model. Try 0.05 for source anchor; "
                                       "ignored by window agreement."),
                ContextOptionsType.Input("context_options", optional=True,
                                         tooltip="window agreement only: the RewindContextOptions given to the resampler."),
            ],
            outputs=[CoherenceType.Output(display_name="coherence", tooltip="Connect to coherence of Rewind Resampler.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, mode, strength, start_percent, end_percent, low_pass, context_options=None) -> io.NodeOutput:
        with reported_by("RewindLatentCoherence"):
            return io.NodeOutput(Coherence(mode, strength, start_percent, end_percent, low_pass, context_options))


class RewindColorMatch(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindColorMatch",
            display_name="Rewind Color Match",
            category="Rewind/long video",
            description="Matches decoded frames' colour (mean and spread of L, a, b) to the first frame or to a reference "
                        "clip, removing slow colour drift across a long video.",
            inputs=[
                io.Image.Input("images", tooltip="Decoded frames (VAE Decode output)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="0 leaves the frames unchanged, 1 matches the reference fully."),
                io.Image.Input("reference", optional=True,
                               tooltip="Optional. One image: every frame matches it. Same frame count: frame by frame "
                                       "(e.g. the source video). Other lengths: the whole clip's colours. Unconnected: "
                                       "the first frame of images."),
            ],
            outputs=[io.Image.Output(tooltip="The colour-matched frames.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, images, strength, reference=None) -> io.NodeOutput:
        check_finite(images, "RewindColorMatch: 'images'", "check the node feeding 'images'.")
        if reference is not None:
            check_finite(reference, "RewindColorMatch: 'reference'", "check the node feeding 'reference'.")
        return io.NodeOutput(color_match(images, images[:1] if reference is None else reference, strength))


NODES = [RewindContextOptions, RewindContextPreview, RewindLatentCoherence, RewindColorMatch]
