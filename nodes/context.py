"""Long-video nodes: context windows shared by unsampler and resampler, latent coherence, colour match.

The window planning, guidance and colour maths live in `samplers/context.py` and `coherence/`;
this module holds the ComfyUI side: node schemas and a context handler that plugs Rewind's
step-independent windows into ComfyUI's `calc_cond_batch`.
"""
from __future__ import annotations

import math
import weakref

import torch

import comfy.context_windows as core_windows
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
    latent_window,
    pixel_to_latent_frames,
    plan_context,
    render_plan,
    resolve_frame_axis,
)
from .comfy_api import io

ContextOptionsType = io.Custom("REWIND_CONTEXT_OPTIONS")
CoherenceType = io.Custom("REWIND_COHERENCE")


class RewindContextWindow(core_windows.IndexListContextWindow):
    """Core's window with tuple indexing (a list of slices as an index changes meaning in torch 2.9)."""

    def get_tensor(self, full: torch.Tensor, device=None, dim=None) -> torch.Tensor:
        dim = self.dim if dim is None else dim
        if dim == 0 and full.shape[0] == 1:
            return full
        return full[(slice(None),) * dim + (self.index_list,)].to(device)

    def add_window(self, full: torch.Tensor, to_add: torch.Tensor, dim=None) -> torch.Tensor:
        dim = self.dim if dim is None else dim
        full[(slice(None),) * dim + (self.index_list,)] += to_add
        return full


class RewindContextHandler(core_windows.IndexListContextHandler):
    """ComfyUI's index-list handler with Rewind's windows and weights.

    Differences from core: windows come from `plan_context` (frame count and options only), so
    there is no sigma-to-step lookup and solvers that evaluate off the schedule work; fuse weights
    are normalised per frame; per-frame conditioning and ControlNet hints are sliced per window.
    """

    def __init__(self, options: ContextOptions, frame_axis: int):
        length, overlap = latent_window(options, frame_axis)
        super().__init__(
            context_schedule=core_windows.ContextSchedule(f"rewind-{options.schedule}", self._schedule),
            fuse_method=core_windows.ContextFuseMethod(f"rewind-{options.fuse_method}", self._fuse_weights),
            context_length=length,
            context_overlap=overlap,
            context_stride=options.stride,
            closed_loop=options.closed_loop,
            dim=frame_axis,
        )
        self.options = options
        self._window_controls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._current_window = None  # the window being evaluated, for prepare_control_objects
        self._current_frames = 0

    def set_step(self, timestep, model_options):
        """Windows never depend on the step, so there is nothing to look up (core raises off-schedule)."""

    def should_use_context(self, model, conds, x_in, timestep, model_options) -> bool:
        if resolve_frame_axis(self.options.layout, x_in.ndim) != self.dim:
            raise ValueError(
                f"Rewind context windows were set up for time on axis {self.dim} but the latent is {x_in.ndim}-D: "
                "use layout 'auto' in RewindContextOptions, or the layout that matches the model."
            )
        return x_in.size(self.dim) > self.context_length

    def get_context_windows(self, model, x_in, model_options) -> list[RewindContextWindow]:
        windows = self._schedule(x_in.size(self.dim), self, model_options)
        return [RewindContextWindow(window, dim=self.dim) for window in windows]

    def _schedule(self, num_frames: int, handler, model_options) -> list[list[int]]:
        return [list(window) for window in plan_context(num_frames, self.options, self.dim).windows]

    def _fuse_weights(self, length: int, full_length: int, idxs: list[int], **kwargs) -> list[float]:
        plan = plan_context(full_length, self.options, self.dim)
        return plan.weights[plan.windows.index(tuple(idxs)), idxs].tolist()

    def get_resized_cond(self, cond_in, x_in, window, device=None):
        """Core's slicing plus per-frame model conds along the frame axis (core skips them)."""
        resized = super().get_resized_cond(cond_in, x_in, window, device)
        if resized is None:
            return None
        num_frames = x_in.size(self.dim)
        for cond in resized:
            model_conds = cond.get("model_conds")
            if isinstance(model_conds, dict):
                cond["model_conds"] = {
                    key: self._slice_model_cond(value, x_in, num_frames, window, device) for key, value in model_conds.items()
                }
        return resized

    def _slice_model_cond(self, value, x_in, num_frames, window, device):
        tensor = getattr(value, "cond", None)
        if not isinstance(tensor, torch.Tensor) or not self._is_per_frame(tensor, x_in, num_frames):
            return value
        return value._copy_with(window.get_tensor(tensor, device))

    def _is_per_frame(self, tensor: torch.Tensor, x_in: torch.Tensor, num_frames: int) -> bool:
        if self.dim == 0:
            return tensor.ndim >= 1 and tensor.size(0) == num_frames
        return tensor.ndim == x_in.ndim and tensor.size(self.dim) == num_frames

    def prepare_control_objects(self, control, device=None):
        """Core hands every window the first frames' hints; give each window its own frames' hints."""
        window = self._current_window
        if self.dim != 0 or window is None:
            return control
        hint = control.cond_hint_original
        per_window = self._window_controls.setdefault(control, {})
        key = tuple(window.index_list)
        if key not in per_window:
            copy = control.copy()
            copy.timestep_range = control.timestep_range
            if isinstance(hint, torch.Tensor) and hint.size(0) == self._current_frames:
                copy.cond_hint_original = hint[list(key)]
            if control.previous_controlnet is not None:
                copy.previous_controlnet = self.prepare_control_objects(control.previous_controlnet, device)
            per_window[key] = copy
        return per_window[key]

    def forget_window_controls(self):
        """Drops the per-window ControlNet copies (and their resized hints) once sampling is over."""
        self._window_controls = weakref.WeakKeyDictionary()

    def evaluate_context_windows(self, calc_cond_batch, model, x_in, conds, timestep, enumerated_context_windows, model_options, device=None, first_device=None):
        results = []
        for window_idx, window in enumerated_context_windows:
            self._current_window, self._current_frames = window, x_in.size(self.dim)
            try:
                results += super().evaluate_context_windows(
                    calc_cond_batch, model, x_in, conds, timestep, [(window_idx, window)], model_options, device, first_device
                )
            finally:
                self._current_window = None
        return results


# What the clip holds at once besides the model: the loop's state, the model's estimate and the next
# state, plus the handler's fused output per cond (cond, uncond) and its weight counts.
MIN_STATE_COPIES = 6


def apply_context_windows(model_patcher, options: ContextOptions):
    """A clone of `model_patcher` whose model calls run in Rewind's context windows.

    Installed as `model_options["context_handler"]`, so ComfyUI slices conds and ControlNet hints per
    window, and memory is estimated for one window rather than the whole clip. Before sampling, a
    clip whose latent state cannot fit in memory fails with the number of frames that would.
    """
    latent_ndim = 5 if getattr(model_patcher.model.latent_format, "latent_dimensions", 2) == 3 else 4
    frame_axis = resolve_frame_axis(options.layout, latent_ndim)
    clone = model_patcher.clone()
    clone.model_options["context_handler"] = RewindContextHandler(options, frame_axis)
    clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, "Rewind_clip_fits", _check_clip_fits)
    core_windows.create_prepare_sampling_wrapper(clone)  # after ours: it shrinks noise_shape to one window
    clone.add_callback_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, "Rewind_window_controls", _forget_window_controls)
    return clone


def _forget_window_controls(patcher):
    handler = patcher.model_options.get("context_handler")
    if isinstance(handler, RewindContextHandler):
        handler.forget_window_controls()


def _check_clip_fits(executor, model, noise_shape, *args, **kwargs):
    handler = kwargs["model_options"]["context_handler"]
    ensure_clip_fits(tuple(noise_shape), 4, MIN_STATE_COPIES, handler.dim, model.load_device)
    return executor(model, noise_shape, *args, **kwargs)


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
    def execute(cls, context_schedule, context_length, context_overlap, context_stride, closed_loop, fuse_method, layout) -> io.NodeOutput:
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
                        "that window's share of the frame after fusing.",
            inputs=[
                ContextOptionsType.Input("context_options", tooltip="From Rewind Context Options."),
                io.Int.Input("frames", default=64, min=1, max=100000,
                             tooltip="Clip length in pixel frames (converted to latent frames for the Wan2.1 layout; "
                                     "'auto' previews the frame batch layout)."),
            ],
            outputs=[io.Image.Output(tooltip="The window layout; connect to Preview Image.")],
        )

    @classmethod
    def execute(cls, context_options: ContextOptions, frames: int) -> io.NodeOutput:
        temporal = context_options.layout == LAYOUT_TEMPORAL
        num_frames = pixel_to_latent_frames(frames) if temporal else frames
        plan = plan_context(num_frames, context_options, frame_axis=2 if temporal else 0)
        cell_width = max(1, 1024 // num_frames)
        return io.NodeOutput(render_plan(plan, cell_width=cell_width).unsqueeze(0))


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
    def execute(cls, mode, strength, start_percent, end_percent, low_pass, context_options=None) -> io.NodeOutput:
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
    def execute(cls, images, strength, reference=None) -> io.NodeOutput:
        return io.NodeOutput(color_match(images, images[:1] if reference is None else reference, strength))


NODES = [RewindContextOptions, RewindContextPreview, RewindLatentCoherence, RewindColorMatch]
