"""What a ComfyUI MODEL says about the latents and schedules it can take, checked before it is loaded."""
from __future__ import annotations

import torch

from ..samplers.checks import check_finite
from .model_types import model_family

# A schedule this much below the model's sigma_max is taken as a full unsample that stops short.
SHORT_OF_NOISE_RATIO = 1.02


def model_sigma_max(model) -> float:
    """The noise level the model samples from, after any patch (AnimateDiff-Evolved's beta_schedule)."""
    return float(model.get_model_object("model_sampling").sigma_max)


def check_latent(model, samples: torch.Tensor) -> None:
    """Catches a latent from the wrong VAE, or holding NaN/inf, before the model is loaded."""
    latent_format = model.get_model_object("latent_format")
    channels, dims = latent_format.latent_channels, getattr(latent_format, "latent_dimensions", 2)
    if samples.ndim != 2 + dims or samples.shape[1] != channels:
        kind = "video latent (batch, channels, frames, height, width)" if dims == 3 else "frame batch (frames, channels, height, width)"
        raise ValueError(
            f"the latent has shape {tuple(samples.shape)}, but this model takes a {kind} with {channels} channels. "
            "Encode the frames with the VAE that belongs to this model."
        )
    check_finite(samples, "'latent'", "check the node feeding 'latent'.")


def check_schedule(model, path: list[float]) -> list[str]:
    """Refuses schedules made for another model family, which would silently give garbage; returns
    what is only suspicious, for a warning."""
    family, top, model_max = model_family(model), max(path), model_sigma_max(model)
    if family == "flow" and top > 1.0 + 1e-6:
        raise ValueError(
            f"the schedule reaches sigma {top:.3g}, but flow models (Wan2.1, HunyuanVideo, LTX-Video, Mochi) live in "
            "[0, 1]. Use RewindAYSScheduler with model_type 'Wan2.1' (it serves every flow model), or BasicScheduler "
            "with this model."
        )
    if family == "eps" and top > 1.5 * model_max:
        raise ValueError(
            f"the schedule reaches sigma {top:.3g}, far above this model's {model_max:.3g}. "
            "Use RewindAYSScheduler with the model_type of this model (SD1, SDXL, SVD) and this model connected."
        )
    if family == "eps" and top <= 1.0 and model_max > 5.0:
        return [f"the schedule tops out at sigma {top:.3g}; this model goes to {model_max:.3g}. If this is a flow-model "
                "schedule, pick an SD-type one (SD1, SDXL, SVD) with this model connected instead (partial denoise is "
                "fine)."]
    return []


def short_of_model_noise(model, path: list[float]) -> list[str]:
    """A full unsample that stops below the model's sigma_max leaves the input in the 'noise' (the AYS
    tables top out at 14.6; AnimateDiff-Evolved's sqrt_linear models start from 25.2): a warning."""
    model_max, top = model_sigma_max(model), max(path)
    if model_family(model) == "eps" and top < model_max / SHORT_OF_NOISE_RATIO:
        return [f"the schedule stops at sigma {top:.4g} but this model's noise level is {model_max:.4g}, so the noise "
                "still carries part of the input. Connect the model to RewindAYSScheduler's 'model' input to unsample "
                "all the way (ignore this if you meant a partial unsample, denoise < 1)."]
    return []


def check_expert_pair(model, high_noise_model) -> None:
    """Two experts share one path, so they must read the same latents the same way: one flow family (the
    boundary is a flow sigma) and one latent format. Checked before either is loaded."""
    low_family, high_family = model_family(model), model_family(high_noise_model)
    if low_family != "flow" or high_family != "flow":
        raise ValueError(
            f"'high_noise_expert' holds a {high_family} model and 'model' is a {low_family} model; two experts "
            "switch at a flow sigma (Wan 2.2 A14B), so both must be flow models. Connect Wan 2.2's high-noise "
            "expert there and its low-noise expert to 'model', or disconnect 'high_noise_expert'.")
    low_format, high_format = (type(m.get_model_object("latent_format")).__name__ for m in (model, high_noise_model))
    if low_format != high_format:
        raise ValueError(
            f"'high_noise_expert' takes {high_format} latents but 'model' takes {low_format} latents; both experts "
            "must read the same VAE's latents. Connect the high- and low-noise experts of one model (Wan 2.2 "
            "A14B: wan2.2_t2v_high_noise_14B and wan2.2_t2v_low_noise_14B).")
