"""The sampling core inside ComfyUI: a SAMPLER that runs Rewind's loop inside ComfyUI's guider, so CFG
batching, ControlNet, LoRA hooks, AnimateDiff-Evolved and context handlers all apply; a pass run one
expert at a time (Wan 2.2 A14B); and the host copies of the unsampler's trajectory."""
from __future__ import annotations

import copy
import logging
import math
from typing import Any, Callable, NamedTuple, Sequence

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..samplers import loop
from ..samplers.checks import check_finite
from ..samplers.experts import Segment
from ..samplers.hooks import LoopInfo, StepHook
from ..schedules.paths import CLEAN_SIGMA_FLOOR, resample_path, unsample_path
from .model_types import family_of, temporal_compression
from .memory import free_memory, unload

log = logging.getLogger("rewind")


class RewindSampler(comfy.samplers.Sampler):
    """Runs one Rewind pass (unsample or resample) where ComfyUI's KSAMPLER would.

    Unlike KSAMPLER it never rescales the start latent by the noise level (add_noise stays off) and
    never divides the result by (1 - sigma): both break flow models on a path that ends at sigma 1.
    """

    def __init__(self, direction: str, solver: str, exact_iterations: int = 0, hook_factory=None,
                 record_trajectory: bool = False, trajectory=None, previous: torch.Tensor | None = None,
                 noise_rounding: torch.Tensor | None = None, coupling: float = 1.0):
        self.direction, self.solver, self.exact_iterations = direction, solver, exact_iterations
        self.hook_factory = hook_factory
        # Resampling a coupled (BDIA) path: the unsampler's state below the noise, the rounding to add back,
        # and the weight on the unsampler's corrections (loop.resample).
        self.previous, self.noise_rounding, self.coupling = previous, noise_rounding, coupling
        self.record = offload if record_trajectory else None
        self.trajectory = trajectory or {}
        self.result: loop.PathResult | None = None
        # A part of a longer path (one expert's segment): the whole path, which hooks see, where this part
        # starts in it, and what the part before it left (loop.Carry). None, 0, None: the run is the whole path.
        self.path: Sequence[float] | None = None
        self.first_step, self.carry = 0, None

    def part(self, path: Sequence[float], first_step: int, carry: loop.Carry | None) -> RewindSampler:
        """This pass's sampler for the part of `path` from step `first_step` on, continuing from `carry`."""
        part = copy.copy(self)
        part.path, part.first_step, part.carry, part.result = path, first_step, carry, None
        return part

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        # Read once per run, before the loop: the loop itself never syncs.
        where = f"Rewind {self.direction} sampler"
        path = as_path(sigmas, self.direction, f"{where} 'sigmas'")
        family = family_of(model_wrap.inner_model.model_sampling)
        x = full_precision(latent_image if latent_image is not None else noise)
        cfg = getattr(model_wrap, "cfg", 1.0)
        if not math.isfinite(cfg):
            raise ValueError(f"{where}: cfg is {cfg}; set a finite cfg on the sampling node (e.g. SamplerCustom).")
        check_finite(x, f"{where}: the latent", "check the node feeding the sampler's latent (latent_image).")
        if latent_image is not None and bool(noise.any()):  # once per run, before the loop
            log.warning("Rewind %s sampler: add_noise is on, but Rewind starts from the latent itself and ignores "
                        "the noise. Turn add_noise off in SamplerCustom.", self.direction)
        model_k = comfy.samplers.KSamplerX0Inpaint(model_wrap, sigmas)
        model_k.latent_image, model_k.noise = latent_image, noise
        extra_args["denoise_mask"] = denoise_mask
        ones = x.new_ones([x.shape[0]])

        def denoise(x, sigma):
            comfy.model_management.throw_exception_if_processing_interrupted()
            return model_k(x, ones * sigma, **extra_args)

        frame_axis = 2 if x.ndim == 5 else 0
        compression = temporal_compression(model_wrap.inner_model.latent_format) if frame_axis else 1
        info = LoopInfo(self.direction, tuple(self.path or path), frame_axis, family,
                        {s: t.to(x.device) for s, t in self.trajectory.items()}, compression)
        hook = self.hook_factory(info) if self.hook_factory else None
        hooks = [from_step(hook, self.first_step)] if hook is not None else []
        if self.direction == "unsample":
            self.result = loop.unsample(denoise, x, path, self.solver, family, self.exact_iterations, hooks, info,
                                        callback, self.record, self.carry)
        else:
            previous = self.previous.to(x.device) if self.previous is not None else None
            if self.noise_rounding is not None:  # back to the state the unsampler ended on, at its precision
                x = x.to(self.noise_rounding.dtype)  # (also after the switch, where the model sees that dtype too)
                if self.carry is None:
                    x = x + self.noise_rounding.to(x.device)
            self.result = loop.resample(denoise, x, path, self.solver, family, hooks, info, callback, previous,
                                        self.coupling, self.carry)
        check_finite(self.result.x, f"{where}: the result",
                     "the model returned non-finite values; lower cfg, or load the model in fp32 or bf16 instead of fp16.")
        return self.result.x


def from_step(hook: StepHook, first_step: int) -> StepHook:
    """`hook` for a part of the path that starts at step `first_step` of the whole, which the hook plans over."""
    if not first_step:
        return hook
    return lambda x, denoised, step, info: hook(x, denoised, first_step + step, info)


def full_precision_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for a 16-bit float dtype, else `dtype` itself."""
    return torch.float32 if dtype.is_floating_point and torch.finfo(dtype).bits < 32 else dtype


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """`x` in at least float32. Under --fp16-intermediates (ComfyUI 0.18+) LATENTs arrive in float16;
    inverting in float16 loses what an exact roundtrip keeps, and float16 noise levels misplace every step."""
    return x.to(full_precision_dtype(x.dtype))


def noise_rounding(model, exact: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """What storing the unsampler's exact end state as the LATENT `samples` rounded off (float32, or
    float16 under --fp16-intermediates), as the resampler will read them back: `run` widens them and
    ComfyUI scales them into the model's space. Kept at the state's own precision."""
    read_back = model.model.process_latent_in(full_precision(samples).to(exact.device)).to(exact.dtype)
    return offload(exact - read_back)


def offload(x: torch.Tensor) -> torch.Tensor:
    """Copies a state to host memory without stalling the device (pinned buffer, async copy), so a
    recorded trajectory costs RAM, not VRAM. The copies are complete once the sampler's result is
    moved to the host, before anyone reads them."""
    target = comfy.model_management.intermediate_device()
    if x.device == target:
        return x
    buffer = torch.empty(x.shape, dtype=x.dtype, device=target, pin_memory=x.device.type == "cuda")
    return buffer.copy_(x, non_blocking=True)


def ensure_trajectory_fits(model, samples: torch.Tensor, path: list[float]) -> None:
    """The unsampler keeps its state at every level in host memory (the resampler retraces it, coherence
    anchors read it): refuse up front what would exhaust that memory instead of being killed mid-run."""
    device = comfy.model_management.intermediate_device()
    needed = samples.numel() * full_precision_dtype(samples.dtype).itemsize * len(path)
    available = free_memory(model, device)
    if needed > available:
        gib = 1024**3
        raise MemoryError(
            f"{len(path) - 1} steps keep {len(path)} copies of the {tuple(samples.shape)} latent, about "
            f"{needed / gib:.1f} GiB, but {device} has {available / gib:.1f} GiB free. Use fewer steps (16 AYS steps "
            "are plenty) or a shorter or smaller clip."
        )


def as_path(sigmas: torch.Tensor, direction: str, where: str = "'sigmas'") -> list[float]:
    """A SIGMAS tensor as the validated host path of floats the loop takes, in the direction of travel."""
    values = sigmas.tolist()
    return unsample_path(values, where) if direction == "unsample" else resample_path(values, where)


class Expert(NamedTuple):
    """One model of a pass as it runs: the patcher (in Rewind's windows when they are connected) and its CFG."""

    model: Any
    cfg: float


# Runs one expert's segment continuing from a carry: (its samples, its PathResult).
RunPart = Callable[[Expert, Segment, "loop.Carry | None"], "tuple[torch.Tensor, loop.PathResult]"]


def run_pass(experts: dict[str, Expert], positive, negative, latent: dict, sampler: RewindSampler,
             path: list[float], segments: Sequence[Segment]) -> tuple[torch.Tensor, loop.PathResult]:
    """Runs `sampler` along `path`, each segment on its expert (samplers/experts.py), and returns the new
    samples and the whole path's result.

    The part after the switch continues from the exact state and solver memory the part before left
    (loop.Carry), never from the LATENT in between, which would round a coupled pair's float64 state.
    Every part reads the pass's own latent, so a noise mask keeps its meaning."""
    def run_part(expert: Expert, segment: Segment, carry: loop.Carry | None):
        part = sampler.part(path, segment.start, carry)
        return run(expert.model, positive, negative, latent, expert.cfg, part, list(segment.levels(path))), part.result

    return run_segments(experts, segments, run_part)


def run_segments(experts: dict[str, Expert], segments: Sequence[Segment], run_part: RunPart
                 ) -> tuple[torch.Tensor, loop.PathResult]:
    """Runs each segment on its expert with `run_part(expert, segment, carry)`, which returns the part's
    samples and result, each part continuing from the carry of the one before; returns the last part's
    samples and the whole path's result.

    ComfyUI's guider samples with one model, so each segment is one run of its own. Before an expert
    loads, the other is taken off the device (the one that ran before, or one an earlier run left there):
    one expert's weights at a time, where core would keep both wherever they fit."""
    samples, result = None, None
    for segment in segments:
        expert = experts[segment.expert]
        for name, idle in experts.items():
            if name != segment.expert:
                release(idle.model, expert.model)
        samples, part = run_part(expert, segment, result.carry if result is not None else None)
        result = part if result is None else result.then(part)
    return samples, result


def release(idle, incoming) -> None:
    """Unloads the `idle` expert before `incoming` runs, unless the two share their weights."""
    if not incoming.is_clone(idle):
        unload(idle)


def run(model, positive, negative, latent: dict, cfg: float, sampler: RewindSampler, path: list[float], seed: int = 0):
    """Runs `sampler` on `latent` through ComfyUI's guider and returns the new samples (on ComfyUI's
    intermediate device, float32, or float16 under --fp16-intermediates)."""
    samples = full_precision(comfy.sample.fix_empty_latent_channels(model, latent["samples"]))
    # An exact 0 start is handed over as core's floor: explicit solvers evaluate the model there, and
    # core's context handler looks every evaluated sigma up in the schedule.
    sigmas = torch.tensor([CLEAN_SIGMA_FLOOR if s == 0.0 and i == 0 else s for i, s in enumerate(path)])
    callback = latent_preview.prepare_callback(model, len(path) - 1)
    return comfy.sample.sample_custom(
        model, torch.zeros_like(samples), cfg, sampler, sigmas, positive, negative, samples,
        noise_mask=latent.get("noise_mask"), callback=callback,
        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed,
    )
