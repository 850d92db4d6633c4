"""FlowEdit inside ComfyUI: one guider holding the source and the target prompt over one model, and a
SAMPLER running samplers/flowedit.py inside it, so both guidances go through ComfyUI's own CFG
(ControlNet, LoRA hooks, CFG patches) and through any context handler on the model.

The two guidances evaluate the model at different latents (the noisy source, and the edit at the same
noise level), which ComfyUI's `calc_cond_batch` cannot put in one batch: it runs every prompt on one
input. So an edit step costs two guided evaluations, each one model call (CFG batches a prompt with
its negative).

With two experts (Wan 2.2 A14B) each expert's steps are one sampling run of their own, as in
sampler.run_pass: ComfyUI loads one model per run, so calling the other expert inside it would run
weights that are not loaded. The edit's state crosses between the runs (samplers/flowedit.py).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..samplers import flowedit
from ..samplers.checks import check_finite
from ..samplers.experts import LOW, Segment
from ..samplers.loop import Carry
from .model_types import spatial_compression, temporal_compression
from .sampler import Expert, full_precision, run_segments

SOURCE_KEY = "source_positive"  # the source prompt's entry among the guider's conds


class FlowEditGuider(comfy.samplers.CFGGuider):
    """ComfyUI's CFG guider with a second positive prompt. The target is its own positive (it predicts as
    a plain CFGGuider would); the source rides along under SOURCE_KEY, so ComfyUI prepares both prompts
    (areas, model conds, ControlNet, hooks) in the one sampling run."""

    def __init__(self, model_patcher, source_positive, target_positive, negative, source_cfg: float, target_cfg: float):
        super().__init__(model_patcher)
        self.inner_set_conds({"positive": target_positive, "negative": negative, SOURCE_KEY: source_positive})
        self.set_cfg(target_cfg)
        self.source_cfg = source_cfg

    def predict_source(self, x, timestep, model_options=None, seed=None):
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, self.conds.get("negative"),
                                                self.conds[SOURCE_KEY], self.source_cfg,
                                                model_options=model_options or {}, seed=seed)


class FlowEditSampler(comfy.samplers.Sampler):
    """Runs samplers/flowedit.py from the clean source (the guider's latent_image) along `path`: the whole
    edit, or one expert's part of it (part)."""

    def __init__(self, path: list[float], n_max: int, n_min: int, n_avg: int, correlation: float, seed: int,
                 mask: torch.Tensor | None = None):
        self.path, self.n_max, self.n_min, self.n_avg = path, n_max, n_min, n_avg
        self.correlation, self.seed, self.mask = correlation, seed, mask
        self.result = None
        # A part of the edit (one expert's segment) and what the part before it left; None, None: all of it.
        self.steps: range | None = None
        self.carry: Carry | None = None

    def part(self, segment: Segment, carry: Carry | None) -> FlowEditSampler:
        """This edit's sampler for `segment`'s steps, continuing from `carry`."""
        part = copy.copy(self)
        part.steps, part.carry, part.result = range(segment.start, segment.stop), carry, None
        return part

    def sample(self, guider: FlowEditGuider, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        x_src = full_precision(latent_image)
        ones = x_src.new_ones([x_src.shape[0]])

        def guided(predict):
            def denoise(x, sigma):
                comfy.model_management.throw_exception_if_processing_interrupted()
                return predict(x, ones * sigma, **extra_args)
            return denoise

        mask = self.mask.to(x_src) if self.mask is not None else None
        self.result = flowedit.flowedit(guided(guider.predict_source), guided(guider.predict_noise), x_src, self.path,
                                        flowedit.seeded_normal(x_src, self.seed), self.n_max, self.n_min, self.n_avg,
                                        self.correlation, mask, callback, self.steps, self.carry)
        check_finite(self.result.x, "the edit",
                     "the model returned non-finite values; lower target_cfg, or load the model in fp32 or bf16.")
        return self.result.x


def edit_mask(model, mask: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """`mask` (a MASK or a LATENT's noise_mask) checked against the source latent and shaped for the loop,
    with the pixel and frame sizes of the model's own VAE."""
    latent_format = model.get_model_object("latent_format")
    frames_per_latent = temporal_compression(latent_format) or 1
    return flowedit.latent_mask(mask, tuple(samples.shape), spatial_compression(latent_format), frames_per_latent)


def run_flowedit(experts: dict[str, Expert], source_positive, target_positive, negative, latent: dict,
                 source_cfg: float, sampler: FlowEditSampler, segments: Sequence[Segment]) -> torch.Tensor:
    """The edited samples (on ComfyUI's intermediate device), each segment through a FlowEditGuider on its
    expert, whose cfg is the target's (the source's is `source_cfg` on both: see RewindFlowEdit).
    No segments (n_max 0): the source itself."""
    samples = full_precision(comfy.sample.fix_empty_latent_channels(experts[LOW].model, latent["samples"]))
    if not segments:
        return samples

    def run_part(expert: Expert, segment: Segment, carry: Carry | None):
        part = sampler.part(segment, carry)
        guider = FlowEditGuider(expert.model, source_positive, target_positive, negative, source_cfg, expert.cfg)
        callback = latent_preview.prepare_callback(expert.model, len(sampler.path) - 1)
        # The whole schedule as sigmas in every part: core's hooks and context handler place a step by it.
        edited = guider.sample(torch.zeros_like(samples), samples, part, torch.tensor(sampler.path),
                               callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=sampler.seed)
        return edited, part.result

    edited, _ = run_segments(experts, segments, run_part)
    edited = edited.to(comfy.model_management.intermediate_device())
    if sampler.mask is None:
        return edited
    # The loop keeps the unmasked source exactly in the model's space; scaling it back to the LATENT's
    # rounds, so the kept region is taken from the input itself.
    return torch.where(sampler.mask.to(edited.device) == 0, samples.to(edited), edited)
