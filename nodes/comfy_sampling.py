"""ComfyUI glue for the sampling core: a SAMPLER that runs Rewind's loop inside ComfyUI's guider,
so CFG batching, ControlNet, LoRA hooks, AnimateDiff-Evolved and context handlers all apply."""
from __future__ import annotations

import logging
import math

import torch

import comfy.model_management
import comfy.model_sampling
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..samplers import loop
from ..samplers.hooks import LoopInfo
from ..schedules.paths import CLEAN_SIGMA_FLOOR, ScheduleError, resample_path, unsample_path
from .validation import RewindInputError, check_finite

log = logging.getLogger("rewind")
# A schedule this much below the model's sigma_max is taken as a full unsample that stops short.
SHORT_OF_NOISE_RATIO = 1.02


def family_of(model_sampling) -> str:
    """'flow' for rectified-flow models (Wan2.1, SD3, Flux), else 'eps' (k-diffusion form)."""
    return "flow" if isinstance(model_sampling, comfy.model_sampling.CONST) else "eps"


def model_family(model) -> str:
    return family_of(model.get_model_object("model_sampling"))


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
        path = as_path(sigmas, self.direction, where)
        family = family_of(model_wrap.inner_model.model_sampling)
        x = latent_image if latent_image is not None else noise
        cfg = getattr(model_wrap, "cfg", 1.0)
        if not math.isfinite(cfg):
            raise RewindInputError(f"{where}: cfg is {cfg}; set a finite cfg on the sampling node (e.g. SamplerCustom).")
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

        info = LoopInfo(self.direction, tuple(path), frame_axis=2 if x.ndim == 5 else 0, family=family,
                        trajectory={s: t.to(x.device) for s, t in self.trajectory.items()})
        hook = self.hook_factory(info) if self.hook_factory else None
        hooks = [hook] if hook is not None else []
        if self.direction == "unsample":
            self.result = loop.unsample(denoise, x, path, self.solver, family, self.exact_iterations, hooks, info,
                                        callback, self.record)
        else:
            previous = self.previous.to(x.device) if self.previous is not None else None
            if self.noise_rounding is not None:
                x = x.to(loop.coupling_dtype(x)) + self.noise_rounding.to(x.device)
            self.result = loop.resample(denoise, x, path, self.solver, family, hooks, info, callback, previous,
                                        self.coupling)
        check_finite(self.result.x, f"{where}: the result",
                     "the model returned non-finite values; lower cfg, or load the model in fp32 or bf16 instead of fp16.")
        return self.result.x


def noise_rounding(model, exact: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """What turning the unsampler's exact end state into the float32 LATENT `samples` rounded off, as
    the resampler will read them back (ComfyUI scales LATENTs in and out of the model's space)."""
    read_back = model.model.process_latent_in(samples.to(exact.device)).to(exact.dtype)
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


def check_latent(model, samples: torch.Tensor, node: str) -> None:
    """Catches a latent from the wrong VAE, or holding NaN/inf, before the model is loaded."""
    latent_format = model.get_model_object("latent_format")
    channels, dims = latent_format.latent_channels, getattr(latent_format, "latent_dimensions", 2)
    expected_ndim = 2 + dims
    if samples.ndim != expected_ndim or samples.shape[1] != channels:
        kind = "video latent (batch, channels, frames, height, width)" if dims == 3 else "frame batch (frames, channels, height, width)"
        raise RewindInputError(
            f"{node}: the latent has shape {tuple(samples.shape)}, but this model takes a {kind} with "
            f"{channels} channels. Encode the frames with the VAE that belongs to this model."
        )
    check_finite(samples, f"{node}: 'latent'", "check the node feeding 'latent'.")


def check_schedule(model, path: list[float], node: str) -> None:
    """Refuses schedules made for another model family, which would silently give garbage."""
    family = model_family(model)
    top = max(path)
    if family == "flow" and top > 1.0 + 1e-6:
        raise RewindInputError(
            f"{node}: the schedule reaches sigma {top:.3g}, but flow models (Wan2.1) live in [0, 1]. "
            "Use RewindAYSScheduler with model_type 'Wan2.1', or BasicScheduler with this model."
        )
    model_max = float(model.get_model_object("model_sampling").sigma_max)
    if family == "eps" and top > 1.5 * model_max:
        raise RewindInputError(
            f"{node}: the schedule reaches sigma {top:.3g}, far above this model's {model_max:.3g}. "
            "Use RewindAYSScheduler with the model_type of this model (SD1, SDXL)."
        )
    if family == "eps" and top <= 1.0 and model_max > 5.0:
        log.warning("%s: the schedule tops out at sigma %.3g; this model goes to %.3g. If this is a flow-model "
                    "schedule, pick the SD1/SDXL one instead (partial denoise is fine).", node, top, model_max)


def ensure_trajectory_fits(samples: torch.Tensor, path: list[float], node: str) -> None:
    """The unsampler keeps its state at every level in host memory (the resampler retraces it, coherence
    anchors read it): refuse up front what would exhaust that memory instead of being killed mid-run."""
    device = comfy.model_management.intermediate_device()
    needed = samples.numel() * samples.element_size() * len(path)
    available = comfy.model_management.get_free_memory(device)
    if needed > available:
        gib = 1024**3
        raise MemoryError(
            f"{node}: {len(path) - 1} steps keep {len(path)} copies of the {tuple(samples.shape)} latent, about "
            f"{needed / gib:.1f} GiB, but {device} has {available / gib:.1f} GiB free. Use fewer steps (16 AYS steps "
            "are plenty) or a shorter or smaller clip."
        )


def warn_if_short_of_model_noise(model, path: list[float], node: str) -> None:
    """A full unsample that stops below the model's sigma_max leaves the input in the 'noise' (the
    AYS tables top out at 14.6; AnimateDiff-Evolved's sqrt_linear models start from 25.2)."""
    model_max = float(model.get_model_object("model_sampling").sigma_max)
    top = max(path)
    if model_family(model) == "eps" and top < model_max / SHORT_OF_NOISE_RATIO:
        log.warning("%s: the schedule stops at sigma %.4g but this model's noise level is %.4g, so the noise still "
                    "carries part of the input. Connect the model to RewindAYSScheduler's 'model' input to unsample "
                    "all the way (ignore this if you meant a partial unsample, denoise < 1).", node, top, model_max)


def as_path(sigmas: torch.Tensor, direction: str, node: str) -> list[float]:
    try:
        values = sigmas.tolist()
        where = f"{node} 'sigmas'"
        return unsample_path(values, where) if direction == "unsample" else resample_path(values, where)
    except ScheduleError as error:
        raise RewindInputError(str(error)) from None


def run(model, positive, negative, latent: dict, cfg: float, sampler: RewindSampler, path: list[float], seed: int = 0):
    """Runs `sampler` on `latent` through ComfyUI's guider and returns the new samples (CPU, float32)."""
    samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    # An exact 0 start is handed over as core's floor: explicit solvers evaluate the model there, and
    # core's context handler looks every evaluated sigma up in the schedule.
    sigmas = torch.tensor([CLEAN_SIGMA_FLOOR if s == 0.0 and i == 0 else s for i, s in enumerate(path)])
    callback = latent_preview.prepare_callback(model, len(path) - 1)
    return comfy.sample.sample_custom(
        model, torch.zeros_like(samples), cfg, sampler, sigmas, positive, negative, samples,
        noise_mask=latent.get("noise_mask"), callback=callback,
        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed,
    )
