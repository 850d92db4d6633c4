"""The sampling core inside ComfyUI: a SAMPLER that runs Rewind's loop inside ComfyUI's guider, so CFG
batching, ControlNet, LoRA hooks, AnimateDiff-Evolved and context handlers all apply; and the host copies
of the unsampler's trajectory."""
from __future__ import annotations

import logging
import math

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..samplers import loop
from ..samplers.checks import check_finite
from ..samplers.hooks import LoopInfo
from ..schedules.paths import CLEAN_SIGMA_FLOOR, resample_path, unsample_path
from .model_types import family_of, temporal_compression
from .memory import free_memory

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
        info = LoopInfo(self.direction, tuple(path), frame_axis, family,
                        {s: t.to(x.device) for s, t in self.trajectory.items()}, compression)
        hook = self.hook_factory(info) if self.hook_factory else None
        hooks = [hook] if hook is not None else []
        if self.direction == "unsample":
            self.result = loop.unsample(denoise, x, path, self.solver, family, self.exact_iterations, hooks, info,
                                        callback, self.record)
        else:
            previous = self.previous.to(x.device) if self.previous is not None else None
            if self.noise_rounding is not None:
                x = x.to(self.noise_rounding.dtype) + self.noise_rounding.to(x.device)
            self.result = loop.resample(denoise, x, path, self.solver, family, hooks, info, callback, previous,
                                        self.coupling)
        check_finite(self.result.x, f"{where}: the result",
                     "the model returned non-finite values; lower cfg, or load the model in fp32 or bf16 instead of fp16.")
        return self.result.x


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
