"""What a ComfyUI MODEL is, in Rewind's terms: its family (samplers/families.py), read from its own
sampling maths, and what its VAE does to frames, read from Rewind's model-type table (presets/)."""
from __future__ import annotations

import math

import torch

from ..presets import BY_LATENT_FORMAT
from ..samplers.families import FAMILIES, alpha

# Where the mixing is read: any sigma strictly between 0 and 1 tells the families apart.
PROBE_SIGMA = 0.5


def family_of(model_sampling) -> str:
    """The family whose mixing x = alpha(sigma) * x0 + sigma * eps the model's own `noise_scaling` follows.

    Read from the maths, not the class: ComfyUI gives flow models two sigma maps (CONST with
    ModelSamplingDiscreteFlow for Wan, HunyuanVideo, Mochi; with ModelSamplingFlux for LTX-Video and
    Flux), both with x = (1 - sigma) * x0 + sigma * eps, while Cosmos-Predict2's COSMOS_RFLOW is a
    rectified flow inside the model but samples in EDM sigmas up to 80 with x = x0 + sigma * eps: eps.
    """
    sigma = torch.tensor([PROBE_SIGMA])
    signal = float(model_sampling.noise_scaling(sigma, torch.zeros(1), torch.ones(1)))
    noise = float(model_sampling.noise_scaling(sigma, torch.ones(1), torch.zeros(1)))
    for family in FAMILIES:
        if math.isclose(signal, alpha(family, PROBE_SIGMA), abs_tol=1e-6) and math.isclose(noise, PROBE_SIGMA, abs_tol=1e-6):
            return family
    raise ValueError(
        f"this model mixes signal and noise as x = {signal:.4g} * x0 + {noise:.4g} * noise at sigma {PROBE_SIGMA} "
        f"({type(model_sampling).__name__}); Rewind's samplers take x0 + sigma * noise (SD-type) or "
        "(1 - sigma) * x0 + sigma * noise (flow models). Use ComfyUI's own samplers for this model."
    )


def model_family(model) -> str:
    return family_of(model.get_model_object("model_sampling"))


def temporal_compression(latent_format) -> int | None:
    """Pixel frames per latent frame (after the first) of the VAE behind `latent_format`: from Rewind's
    model-type table, else as newer ComfyUI states it on the format; None when neither knows."""
    model_type = BY_LATENT_FORMAT.get(type(latent_format).__name__)
    if model_type is not None:
        return model_type.temporal_compression
    return getattr(latent_format, "temporal_downscale_ratio", None)


# Every image VAE ComfyUI ships for a flow model outside Rewind's table (SD3, Flux, Lumina 2, HiDream) is 8x.
DEFAULT_SPATIAL_COMPRESSION = 8


def spatial_compression(latent_format) -> int:
    """Pixels per latent pixel along each side of the VAE behind `latent_format`: from Rewind's
    model-type table, else as newer ComfyUI states it on the format, else 8."""
    model_type = BY_LATENT_FORMAT.get(type(latent_format).__name__)
    if model_type is not None:
        return model_type.spatial_compression
    return getattr(latent_format, "spacial_downscale_ratio", DEFAULT_SPATIAL_COMPRESSION)


def frames_per_latent(latent_format, frame_axis: int) -> int:
    """What one latent frame along `frame_axis` holds in pixel frames: 1 in a frame batch, the VAE's
    temporal compression on a video latent's time axis."""
    if frame_axis == 0:
        return 1
    compression = temporal_compression(latent_format)
    if compression is None:
        raise ValueError(
            f"Rewind does not know how many pixel frames one latent frame of this model's VAE holds (latent format "
            f"{type(latent_format).__name__}), so context_length and context_overlap cannot be converted from pixel "
            "frames. Disconnect context_options for this model."
        )
    return compression
