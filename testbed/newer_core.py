"""Stand-ins with the shapes of ComfyUI releases newer than any package installs here (0.4.0 to current).

Only the surface that changed upstream under the pack is reproduced, from upstream's code, with the
same keys, signatures, defaults and attribute reads (not ComfyUI's code):
  - PR #10975: the window takes `total_frames` (and `context_overlap`) and computes a
    `center_ratio` from it, so a window built the 0.3.x way (no total_frames) divides by zero;
    `get_tensor(..., retain_index_list=)`.
  - PR #13325: `evaluate_context_windows(..., model_options, window_state, total_windows, ...)`.
  - PR #13563: `causal_window_fix=True` by default: each window but the first gets the frame before
    it prepended as an anchor (`causal_anchor_index`) and stripped from the output.
  - The wrappers core's context-window nodes put on the model (0.3.51: PREPARE_SAMPLING, which reads
    the handler's `dim` and `context_length`; 0.4.0, PR #10975: SAMPLER_SAMPLE when FreeNoise is on,
    which reads `handler.freenoise` and, since 0.26.0, calls `handler._apply_freenoise(noise, conds,
    seed)`), with upstream's keys and signatures, and the nodes that install them
    (`context_windows_manual`, `wan_context_windows`: upstream's node `execute`s, reduced to what
    they put on the model).
  - 0.12.0's `ModelPatcher.get_free_memory(device)` (dynamic VRAM counts evictable weights as free).
  - 0.18.0's --fp16-intermediates: `comfy.sample.sample_custom` casts its result to float16.
  - 0.18.0's model-owned cond slicing (`resize_cond_for_context_window`, `slice_cond`), PR #12645.
  - 0.23.0's multi-GPU ControlNets (`multigpu_clones`, `get_instance_for_device`), PR #7063.
Every construction and every wrapper run is counted, so a test can prove Rewind never builds core's
windows or handlers and whether core's wrappers ran.
"""
from __future__ import annotations

import types
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch

constructed: Counter = Counter()
ran: Counter = Counter()

# comfy.patcher_extension.WrappersMP members and the keys core's context-window nodes register under.
PREPARE_SAMPLING, SAMPLER_SAMPLE = "prepare_sampling", "sampler_sample"
PREPARE_SAMPLING_KEY, SAMPLER_SAMPLE_KEY = "ContextWindows_prepare_sampling", "ContextWindows_sampler_sample"


class ContextWindowABC(ABC):
    @abstractmethod
    def get_tensor(self, full: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def add_window(self, full: torch.Tensor, to_add: torch.Tensor) -> torch.Tensor: ...


class ContextHandlerABC(ABC):
    @abstractmethod
    def should_use_context(self, model, conds, x_in, timestep, model_options) -> bool: ...

    @abstractmethod
    def get_resized_cond(self, cond_in, x_in, window, device=None) -> list: ...

    @abstractmethod
    def execute(self, calc_cond_batch, model, conds, x_in, timestep, model_options): ...


class IndexListContextWindow(ContextWindowABC):
    def __init__(self, index_list, dim=0, total_frames=0, modality_windows=None, context_overlap=0):
        constructed["window"] += 1
        self.index_list = index_list
        self.context_length = len(index_list)
        self.context_overlap = context_overlap
        self.dim = dim
        self.total_frames = total_frames
        self.center_ratio = (min(index_list) + max(index_list)) / (2 * total_frames)  # issue 12's ZeroDivisionError
        self.modality_windows = modality_windows

    def get_tensor(self, full, device=None, dim=None, retain_index_list=[]):
        dim = self.dim if dim is None else dim
        anchor = getattr(self, "causal_anchor_index", None)
        indices = ([anchor] if anchor is not None and anchor >= 0 else []) + list(self.index_list)
        window = full[(slice(None),) * dim + (indices,)]
        if retain_index_list:
            window[(slice(None),) * dim + (retain_index_list,)] = full[(slice(None),) * dim + (retain_index_list,)]
        return window.to(device)

    def add_window(self, full, to_add, dim=None):
        dim = self.dim if dim is None else dim
        full[(slice(None),) * dim + (self.index_list,)] += to_add
        return full


@dataclass
class ContextSchedule:
    name: str
    func: Callable


@dataclass
class ContextFuseMethod:
    name: str
    func: Callable


class IndexListContextHandler(ContextHandlerABC):
    def __init__(self, context_schedule, fuse_method, context_length=1, context_overlap=0, context_stride=1,
                 closed_loop=False, dim=0, freenoise=False, cond_retain_index_list=[], split_conds_to_windows=False,
                 latent_retain_index_list=[], causal_window_fix=True):
        constructed["handler"] += 1
        self.context_schedule, self.fuse_method = context_schedule, fuse_method
        self.context_length, self.context_overlap, self.context_stride = context_length, context_overlap, context_stride
        self.closed_loop, self.dim, self.freenoise = closed_loop, dim, freenoise
        self.causal_window_fix = causal_window_fix
        self.callbacks = {}

    def should_use_context(self, model, conds, x_in, timestep, model_options):
        return x_in.size(self.dim) > self.context_length

    def get_resized_cond(self, cond_in, x_in, window, device=None):
        raise NotImplementedError("stand-in: only the signature is reproduced")

    def _apply_freenoise(self, noise, conds, seed):
        """0.26.0+: FreeNoise on the video frames (no guide frames or extra modalities here)."""
        return apply_freenoise(noise, self.dim, self.context_length, self.context_overlap, seed)

    def get_context_windows(self, model, x_in, model_options):
        full_length = x_in.size(self.dim)
        return [IndexListContextWindow(w, dim=self.dim, total_frames=full_length, context_overlap=self.context_overlap)
                for w in self.context_schedule.func(full_length, self, model_options)]

    def execute(self, calc_cond_batch, model, conds, x_in, timestep, model_options):
        windows = self.get_context_windows(model, x_in, model_options)
        for item in enumerate(windows):
            self.evaluate_context_windows(calc_cond_batch, model, x_in, conds, timestep, [item], model_options,
                                          window_state=None, total_windows=len(windows))
        raise NotImplementedError("stand-in: core's fusing is not reproduced")

    def evaluate_context_windows(self, calc_cond_batch, model, x_in, conds, timestep, enumerated_context_windows,
                                 model_options, window_state, total_windows=None, device=None, first_device=None):
        raise NotImplementedError("stand-in: only the signature is reproduced")


def apply_freenoise(noise, dim, context_length, context_overlap, seed):
    """Shuffles each window's new frames from the frames one stride earlier, in place (seeded on the CPU)."""
    ran["freenoise"] += 1
    generator = torch.Generator(device="cpu").manual_seed(seed)
    delta = context_length - context_overlap
    for start in range(0, noise.shape[dim] - context_length, delta):
        place = start + context_length
        count = min(delta, noise.shape[dim] - place)
        if count <= 0:
            break
        source = torch.randperm(count, generator=generator) + start
        noise[(slice(None),) * dim + (slice(place, place + count),)] = noise[(slice(None),) * dim + (source,)]
    return noise


def _prepare_sampling_wrapper(executor, model, noise_shape, conds, *args, **kwargs):
    """Budgets the model's memory for one window: reads the handler's `dim` and `context_length`."""
    ran["prepare_sampling"] += 1
    handler = kwargs["model_options"].get("context_handler", None)
    if handler is not None:
        noise_shape = list(noise_shape)
        if handler.dim < len(noise_shape) and noise_shape[handler.dim] > handler.context_length:
            noise_shape[handler.dim] = handler.context_length
    return executor(model, noise_shape, conds, *args, **kwargs)


def _sampler_sample_wrapper(executor, guider, sigmas, extra_args, callback, noise, *args, **kwargs):
    """FreeNoise: reads `handler.freenoise` on every run and, when set, shuffles the initial noise."""
    handler = extra_args["model_options"].get("context_handler", None)
    if handler is None:
        raise Exception("context_handler not found in sampler_sample_wrapper; this should never happen, something went wrong.")
    if handler.freenoise:
        conds = [guider.conds.get("positive", guider.conds.get("negative", []))]
        noise = handler._apply_freenoise(noise, conds, extra_args["seed"])
    return executor(guider, sigmas, extra_args, callback, noise, *args, **kwargs)


def create_prepare_sampling_wrapper(model):
    constructed["prepare_sampling_wrapper"] += 1
    model.add_wrapper_with_key(PREPARE_SAMPLING, PREPARE_SAMPLING_KEY, _prepare_sampling_wrapper)


def create_sampler_sample_wrapper(model):
    model.add_wrapper_with_key(SAMPLER_SAMPLE, SAMPLER_SAMPLE_KEY, _sampler_sample_wrapper)


def context_windows_manual(model, context_length=16, context_overlap=4, dim=0, freenoise=False):
    """Upstream's "Context Windows (Manual)" node: a clone with core's handler and its wrappers. The
    stand-in handler evaluates nothing: chain Rewind's context windows after it, which replace it."""
    model = model.clone()
    model.model_options["context_handler"] = IndexListContextHandler(
        ContextSchedule("standard_static", None), ContextFuseMethod("pyramid", None), context_length=context_length,
        context_overlap=context_overlap, dim=dim, freenoise=freenoise)
    create_prepare_sampling_wrapper(model)
    if freenoise:
        create_sampler_sample_wrapper(model)
    return model


def wan_context_windows(model, context_length=81, context_overlap=30, freenoise=True):
    """Upstream's "Wan Context Windows" node (FreeNoise on by default): pixel frames to latent frames, time on axis 2."""
    return context_windows_manual(model, max((context_length - 1) // 4 + 1, 1), max(context_overlap // 4, 0), dim=2,
                                  freenoise=freenoise)


def with_freenoise(model):
    """`model`, carrying a 0.3.x core handler, as 0.4.0+'s node leaves it with FreeNoise on."""
    handler = model.model_options["context_handler"]
    handler.freenoise = True
    handler._apply_freenoise = types.MethodType(IndexListContextHandler._apply_freenoise, handler)
    create_sampler_sample_wrapper(model)
    return model


def counting_free_memory(patcher, free_bytes: int):
    """`patcher` as 0.12+'s ModelPatcher counts memory: `get_free_memory(device)`, which under dynamic VRAM
    (default since 0.16) adds the weights core would evict; here `free_bytes`. Clones keep it (they are
    built from `self.__class__`)."""

    class DynamicVRAMPatcher(type(patcher)):
        def get_free_memory(self, device):
            return free_bytes

    patcher.__class__ = DynamicVRAMPatcher
    return patcher


def _multigpu(control):
    """`control` with 0.23+'s per-device surface: `multigpu_clones` and `get_instance_for_device`."""

    class MultiGPUControl(type(control)):
        def get_instance_for_device(self, device):
            return self.multigpu_clones.get(device, self)

    control.__class__ = MultiGPUControl
    control.multigpu_clones = {}
    return control


def with_device_clones(control, devices):
    """`control` and its chain as 0.23+'s multi-GPU preparation leaves them: each holds a copy of itself
    per extra device in `multigpu_clones` (`deepclone_multigpu(device, autoregister=True)`), and each
    copy is chained to the previous control's copy for the same device."""
    chain = []
    while control is not None:
        chain.append(_multigpu(control))
        control = control.previous_controlnet
    for control in reversed(chain):
        for device in devices:
            clone = _multigpu(control.copy())
            control.multigpu_clones[device] = clone
            previous = control.previous_controlnet
            clone.set_previous_controlnet(previous.get_instance_for_device(device) if previous is not None else None)
    return chain[0]


def slice_cond(cond_value, window, x_in, device, temporal_dim, temporal_scale=1, temporal_offset=0, retain_index_list=[]):
    """0.18.0+'s helper models slice a cond for a window with; the plain case (no scale or offset) only."""
    tensor = getattr(cond_value, "cond", None)
    if not isinstance(tensor, torch.Tensor) or temporal_dim >= tensor.ndim or tensor.size(temporal_dim) != x_in.size(window.dim):
        return None
    return cond_value._copy_with(window.get_tensor(tensor, device, dim=temporal_dim, retain_index_list=retain_index_list))


class VaceModel:
    """A model with 0.18.0+'s `BaseModel.resize_cond_for_context_window` as `WAN21_Vace` overrides it:
    `vace_context` sliced on its temporal axis 3, anything else left to the handler (None)."""

    def __init__(self):
        self.asked: list[str] = []

    def resize_cond_for_context_window(self, cond_key, cond_value, window, x_in, device, retain_index_list=[]):
        self.asked.append(cond_key)
        if cond_key == "vace_context":
            return slice_cond(cond_value, window, x_in, device, temporal_dim=3, retain_index_list=retain_index_list)
        return None


def fp16_intermediates(sample_custom):
    """`comfy.sample.sample_custom` as 0.18.0+ runs it under --fp16-intermediates: its result cast to float16."""

    def cast(*args, **kwargs):
        return sample_custom(*args, **kwargs).to(torch.float16)

    return cast


def module() -> types.ModuleType:
    """A `comfy.context_windows` module made of these stand-ins."""
    stand_in = types.ModuleType("comfy.context_windows")
    for name in ("ContextWindowABC", "ContextHandlerABC", "IndexListContextWindow", "IndexListContextHandler",
                 "ContextSchedule", "ContextFuseMethod", "create_prepare_sampling_wrapper",
                 "create_sampler_sample_wrapper", "apply_freenoise"):
        setattr(stand_in, name, globals()[name])
    return stand_in
