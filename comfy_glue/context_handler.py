"""Rewind's context windows inside ComfyUI's `calc_cond_batch`.

The window planning, fusing and maths live in `samplers/context.py`; this module is the handler
that runs them where ComfyUI evaluates the model.

The handler owns the whole window evaluation and subclasses nothing from `comfy.context_windows`,
whose classes change shape between ComfyUI releases (window constructors, `get_tensor` and
`evaluate_context_windows` signatures, a causal anchor frame on by default). What it relies on is
the slot itself: `calc_cond_batch` asks `model_options["context_handler"]` `should_use_context(model,
conds, x, timestep, model_options)` and then calls its `execute(calc_cond_batch, model, conds, x,
timestep, model_options)`, the same from ComfyUI 0.3.64 to current releases (pinned by
tests/integration/test_context_core_compat.py).

Core's context-window nodes also put wrappers on the model that read whatever handler sits in the slot
(`dim`, `context_length`, and since 0.4.0 `freenoise`): Rewind's handler carries those, and where it
replaces a core handler, Rewind's clone drops core's wrappers.
"""
from __future__ import annotations

import copy
import functools
import math
import weakref

import torch

import comfy.model_management
import comfy.patcher_extension

from ..samplers.context import ContextOptions, frames_that_fit, fuse_windows, latent_window, plan_context, resolve_frame_axis
from .model_types import frames_per_latent
from .memory import free_memory


class RewindContextWindow:
    """The window being evaluated, as `transformer_options["context_window"]`.

    Model patches and step caches read `index_list` (and some `get_tensor`) from there, as they do
    with core's windows, so a cache keyed on the window never mixes two windows. A model slicing its
    own conditioning (`resize_cond_for_context_window`, ComfyUI 0.18+) reads what core's
    `slice_cond` reads: `index_list`, `dim`, `context_length`, `total_frames`, `get_tensor` and no
    `causal_anchor_index` (Rewind prepends no anchor frame).
    """

    def __init__(self, index_list: tuple[int, ...], dim: int, total_frames: int):
        self.index_list = list(index_list)
        self.context_length = len(index_list)
        self.dim = dim
        self.total_frames = total_frames

    def get_tensor(self, full: torch.Tensor, device=None, dim=None, retain_index_list=()) -> torch.Tensor:
        """This window's frames of `full` along `dim` (default: the window's axis); the window's positions
        in `retain_index_list` hold `full`'s frames at those indices instead, as in core's windows."""
        dim = self.dim if dim is None else dim
        window = full.index_select(dim, torch.tensor(self.index_list, device=full.device))
        if retain_index_list:
            retained = torch.tensor(list(retain_index_list), device=full.device)
            window = window.index_copy(dim, retained, full.index_select(dim, retained))
        return window.to(device if device is not None else full.device)


class RewindContextHandler:
    """Evaluates the model window by window with Rewind's plan and fuses the results.

    Windows come from `plan_context` (frame count and options only): no sigma-to-step lookup, so
    solvers that evaluate off the schedule work, and the unsampler and resampler see identical
    windows. Per-frame conditioning, masks and ControlNet hints are sliced with each window.
    """

    # Core's FreeNoise wrapper (0.4.0+, on a model that went through a core context-window node) reads
    # this on every run. FreeNoise shuffles the initial noise so overlapping windows start alike; a Rewind
    # pass starts from the latent itself and adds no noise, so there is nothing to shuffle.
    freenoise = False

    def __init__(self, options: ContextOptions, frame_axis: int, temporal_compression: int):
        self.options = options
        self.dim = frame_axis
        self.temporal_compression = temporal_compression  # pixel frames per latent frame along `dim`
        self.context_length, self.context_overlap = latent_window(options, temporal_compression)
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
        plan = plan_context(num_frames, self.options, self.temporal_compression)
        transformer_options = model_options.get("transformer_options", {})

        def evaluate(w, index):
            comfy.model_management.throw_exception_if_processing_interrupted()
            window = RewindContextWindow(plan.windows[w], self.dim, num_frames)
            window_options = {**model_options, "transformer_options": {**transformer_options, "context_window": window}}
            window_conds = [None if cond is None else [self._window_cond(model, c, window, x_in) for c in cond]
                            for cond in conds]
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

    def _window_cond(self, model, cond: dict, window: RewindContextWindow, x_in: torch.Tensor) -> dict:
        """One conditioning entry cut to the window: per-frame tensors, model conds and ControlNet hints."""
        sliced = dict(cond)
        for key, value in cond.items():
            if isinstance(value, torch.Tensor) and self._is_per_frame(value, x_in):  # e.g. a per-frame mask
                sliced[key] = window.get_tensor(value)
            elif key == "model_conds":
                sliced[key] = {name: self._window_model_cond(model, name, c, window, x_in) for name, c in value.items()}
            elif key == "control" and self.dim == 0:
                sliced[key] = self._window_control(value, window)
        return sliced

    def _window_model_cond(self, model, name: str, value, window: RewindContextWindow, x_in: torch.Tensor):
        """The model's own slice where it has one (ComfyUI 0.18+: Wan VACE's `vace_context` has time on
        axis 3, S2V and HuMo audio on axis 1, LTXAV splits guide frames), else per-frame conds on the
        window's axis."""
        resize = getattr(model, "resize_cond_for_context_window", None)
        resized = resize(name, value, window, x_in, x_in.device, retain_index_list=[]) if resize is not None else None
        if resized is not None:
            return resized
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


def control_for_frames(control, frames: tuple[int, ...], num_frames: int, made: dict | None = None):
    """`control` (and its chain) seeing only `frames` of a per-frame hint.

    A shallow copy shares everything `pre_run` set up (model sampling, a ControlLoRA's built model)
    and gets its own hint; the hint cache derived from it (`cond_hint`, whose reset also drops a T2I
    adapter's features) starts empty so it is rebuilt from the window's frames. Under ComfyUI's
    multi-GPU sampling (0.23+) each GPU runs `get_instance_for_device(device)`, a copy of the control
    kept in `multigpu_clones`: the view carries those copies' own views, and as core links each copy
    to the previous control's copy for its device, `made` (a view per control already made) links the
    views the same way. Controls whose hint is one image for the whole clip are returned as they are.
    """
    made = {} if made is None else made
    if id(control) not in made:
        made[id(control)] = _control_view(control, frames, num_frames, made)
    return made[id(control)]


def _control_view(control, frames: tuple[int, ...], num_frames: int, made: dict):
    previous = control.previous_controlnet
    window_previous = control_for_frames(previous, frames, num_frames, made) if previous is not None else None
    device_copies = getattr(control, "multigpu_clones", None) or {}
    window_copies = {device: control_for_frames(c, frames, num_frames, made) for device, c in device_copies.items()}
    hint = control.cond_hint_original
    per_frame = isinstance(hint, torch.Tensor) and hint.size(0) == num_frames
    unchanged = window_previous is previous and all(window_copies[d] is c for d, c in device_copies.items())
    if not per_frame and unchanged:
        return control
    view = copy.copy(control)
    view.previous_controlnet = window_previous
    if device_copies:
        view.multigpu_clones = window_copies
    if per_frame:
        view.cond_hint_original = hint[list(frames)]
        view.cond_hint = None
    return view


# What the clip holds at once besides the model: the loop's state, the model's estimate and the next
# state, plus the handler's fused output per cond (cond, uncond), and one copy of headroom for the
# window slices and a multistep solver's extra state.
MIN_STATE_COPIES = 6


def time_axis(model_patcher, layout: str) -> tuple[int, int]:
    """(frame axis, pixel frames per latent frame) of the latents `model_patcher` takes, in `layout`."""
    latent_format = model_patcher.get_model_object("latent_format")
    frame_axis = resolve_frame_axis(layout, 5 if getattr(latent_format, "latent_dimensions", 2) == 3 else 4)
    return frame_axis, frames_per_latent(latent_format, frame_axis)


# The wrappers core's context-window nodes register (comfy/context_windows.py): the memory budget for
# one window (0.3.51+) and FreeNoise (0.4.0+, only when on). Both read the handler in the slot.
CORE_WINDOW_WRAPPERS = (
    (comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, "ContextWindows_prepare_sampling"),
    (comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, "ContextWindows_sampler_sample"),
)


def apply_context_windows(model_patcher, options: ContextOptions):
    """A clone of `model_patcher` whose model calls run in Rewind's context windows.

    Installed as `model_options["context_handler"]`, the slot ComfyUI's `calc_cond_batch` hands
    its model calls to, so CALC_COND_BATCH wrappers (caches, ControlNet batching) see one window
    at a time. Before sampling, a clip whose latent state cannot fit in memory fails with the number
    of frames that would; the model's memory is then budgeted for one window, not the whole clip.
    A core context-window node's handler and wrappers are replaced on the clone only.
    """
    handler = RewindContextHandler(options, *time_axis(model_patcher, options.layout))
    clone = model_patcher.clone()
    clone.model_options["context_handler"] = handler
    for wrapper_type, key in CORE_WINDOW_WRAPPERS:
        clone.remove_wrappers_with_key(wrapper_type, key)
    clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, "Rewind_context_windows",
                               functools.partial(_prepare_sampling_for_one_window, handler))
    clone.add_callback_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, "Rewind_window_controls",
                                lambda patcher: handler.forget_window_controls())
    return clone


def core_windows_note(model_patcher) -> str | None:
    """Why a user should know Rewind's windows replace the model's own context handler, or None."""
    handler = model_patcher.model_options.get("context_handler")
    if handler is None or isinstance(handler, RewindContextHandler):
        return None
    return (f"the model already has context windows ({type(handler).__name__}, from a core node such as Context "
            "Windows (Manual), Wan Context Windows or LTXV Context Windows); Rewind Context Options replaces them "
            "for this pass, FreeNoise included. Connect only one of the two: Rewind's context_options on both "
            "passes keep the windows identical in both directions.")


def _prepare_sampling_for_one_window(handler: RewindContextHandler, executor, model, noise_shape, *args, **kwargs):
    """Checks the whole clip's state fits, then lets ComfyUI load the model for one window's worth of frames."""
    ensure_clip_fits(model, tuple(noise_shape), 4, MIN_STATE_COPIES, handler.dim)
    window_shape = list(noise_shape)
    window_shape[handler.dim] = min(window_shape[handler.dim], handler.context_length)
    return executor(model, window_shape, *args, **kwargs)


def ensure_clip_fits(patcher, shape: tuple[int, ...], bytes_per_element: int, state_copies: int, frame_axis: int) -> None:
    """Fails before sampling when `state_copies` copies of a latent of `shape` exceed the memory free for
    `patcher`'s model on its device.

    With context windows the model's activations scale with the window, so what grows with the clip
    is the latent itself and the state the sampler holds for it.
    """
    device = patcher.load_device
    num_frames = shape[frame_axis]
    bytes_per_frame = math.prod(shape) * bytes_per_element // max(1, num_frames)
    available = free_memory(patcher, device)
    fit = frames_that_fit(bytes_per_frame, state_copies, available)
    if fit < num_frames:
        gib = 1024**3
        raise MemoryError(
            f"{num_frames} latent frames need about {num_frames * bytes_per_frame * state_copies / gib:.1f} GiB "
            f"({state_copies} copies of the latent for the sampler's state) but {device} has {available / gib:.1f} GiB free: "
            f"at most {fit} frames fit. Split the clip (e.g. VideoHelperSuite's frame_load_cap and skip_first_frames), "
            "lower the resolution, or pick a solver that keeps fewer states."
        )
