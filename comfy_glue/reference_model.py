"""The weight-free reference model as ComfyUI objects: a MODEL whose denoiser is the exact posterior mean
of known data (reshaped by the prompt's look words), a VAE over the reference codec, and a CLIP whose
embedding carries the look. With them a workflow runs anywhere (no downloads), restyles visibly, and
every roundtrip error is the sampler's own. The maths is in reference/; this module dresses it."""
from __future__ import annotations

import logging
from typing import NamedTuple

import torch

import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models

from ..presets import MODEL_TYPES
from ..reference import DATA, GaussianMixture, ReferenceCodec
from ..reference.looks import CODE_LENGTH, VOCABULARY, ColourFrame, look_from_prompt

log = logging.getLogger("rewind")


class ComfyModel(NamedTuple):
    config: type  # comfy.supported_models entry: latent format, sampling and conditioning
    model_class: type  # comfy.model_base class
    text_width: int  # width of the text embedding the model is conditioned on
    pooled_width: int | None  # SDXL's pooled text embedding
    codec_gain: float  # raw latent units per unit of (2 * rgb - 1), to land near the real VAE's scale


# The model types with a reference model, and what ComfyUI builds them from.
COMFY_MODELS = {
    "SD1.5": ComfyModel(comfy.supported_models.SD15, comfy.model_base.BaseModel, 768, None, 2.5),
    "SDXL": ComfyModel(comfy.supported_models.SDXL, comfy.model_base.SDXL, 2048, 1280, 2.5),
    "Wan2.1": ComfyModel(comfy.supported_models.WAN21_T2V, comfy.model_base.WAN21, 4096, None, 1.0),
    # Wan 2.2 TI2V-5B: its own VAE's 48 channels at 16x; the umT5 text encoder of Wan2.1.
    "Wan2.2 TI2V-5B": ComfyModel(comfy.supported_models.WAN22_T2V, comfy.model_base.WAN22, 4096, None, 1.0),
}


def codec(model_type: str) -> ReferenceCodec:
    """The reference VAE's codec, shaped like the model type's own VAE."""
    preset = MODEL_TYPES[model_type]
    return ReferenceCodec(preset.latent_channels, preset.spatial_compression, preset.temporal_compression,
                          gain=COMFY_MODELS[model_type].codec_gain)


class ExactDenoiserNet(torch.nn.Module):
    """Stands in for the UNet/DiT: returns the network output whose calculate_denoised is the exact
    posterior mean. It reads the exact sigma from transformer_options (the timestep it gets is rounded)
    and the look from the text embedding: no look is `data`, a look is its colour-axis mixture."""

    def __init__(self, data: GaussianMixture, family: str, colours: ColourFrame, video_channels: int | None = None):
        super().__init__()
        self.data, self.family, self.colours = data, family, colours
        self.dtype = torch.float32
        if video_channels:  # WAN21.concat_cond reads the input width of the first layer
            self.patch_embedding = torch.nn.Conv3d(video_channels, 1, 1)

    def forward(self, xc, timesteps, context=None, control=None, *, transformer_options, **kwargs):
        per_item = (-1, *([1] * (xc.ndim - 1)))
        sigma = transformer_options["sigmas"].to(torch.float64)
        sigma = sigma.repeat(xc.shape[0] // sigma.shape[0]).flatten()
        x = xc.double() * torch.sqrt(sigma**2 + 1.0).reshape(per_item) if self.family == "eps" else xc.double()
        codes = look_codes(context, xc.shape[0], xc.device)
        styled = codes.abs().sum(1) > 0
        denoised = self.data.denoise(x, sigma, self.family).double() if not styled.all() else None
        if styled.any():
            looked = self.colours.denoise(x, sigma, self.family, codes)
            denoised = looked if denoised is None else torch.where(styled.reshape(per_item), looked, denoised)
        return ((x - denoised) / sigma.reshape(per_item)).to(xc.dtype)  # eps (EPS) or velocity (flow)


def look_codes(context: torch.Tensor | None, batch: int, device) -> torch.Tensor:
    """The look each batch item's text embedding carries (its first token's first values)."""
    if context is None:
        return torch.zeros(batch, CODE_LENGTH, dtype=torch.float64, device=device)
    codes = context[:, 0, :CODE_LENGTH].to(device, torch.float64)
    return codes.repeat(batch // codes.shape[0], 1) if codes.shape[0] != batch else codes


def reference_model(model_type: str, data: str) -> comfy.model_patcher.ModelPatcher:
    """A ComfyUI model of `model_type` (its latent format, sampling and conditioning) with an exact denoiser."""
    preset = MODEL_TYPES[model_type]
    comfy_model = COMFY_MODELS[model_type]
    config = comfy_model.config({"disable_unet_model_creation": True, **comfy_model.config.unet_config})
    config.set_inference_dtype(torch.float32, None)
    parameterisation = comfy.model_base.ModelType.FLOW if preset.family == "flow" else comfy.model_base.ModelType.EPS
    model = comfy_model.model_class(config, model_type=parameterisation, device=comfy.model_management.get_torch_device())
    colours = codec(model_type).colour_frame(model.latent_format.process_in)
    video_channels = preset.latent_channels if preset.temporal_compression > 1 else None
    model.diffusion_model = ExactDenoiserNet(DATA[data], preset.family, colours, video_channels)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


class ReferenceVAE:
    """Duck-types comfy.sd.VAE for VAEEncode / VAEDecode and Rewind's video nodes."""

    def __init__(self, codec: ReferenceCodec):
        self.codec = codec
        self.latent_channels = codec.channels
        self.output_channels = 3
        self.latent_dim = 3 if codec.temporal > 1 else 2
        self.downscale_ratio = self.upscale_ratio = codec.spatial

    def encode(self, pixels):
        return self.codec.encode(pixels[..., :3])

    def decode(self, samples):
        return self.codec.decode(samples)

    def spacial_compression_encode(self):
        return self.codec.spatial

    spacial_compression_decode = spacial_compression_encode

    def temporal_compression_decode(self):
        return self.codec.temporal if self.codec.temporal > 1 else None


def conditioning(model_type: str, code: torch.Tensor | None = None) -> list:
    """A CONDITIONING whose embedding carries `code` (a look; None is no look) in the model type's width."""
    comfy_model = COMFY_MODELS[model_type]
    embedding = torch.zeros(1, 1, comfy_model.text_width)
    if code is not None:
        embedding[0, 0, :CODE_LENGTH] = code.float()
    extras = {"pooled_output": torch.zeros(1, comfy_model.pooled_width)} if comfy_model.pooled_width else {}
    return [[embedding, extras]]


class ReferenceTextEncoder:
    """Duck-types comfy.sd.CLIP for CLIP Text Encode: the embedding is the look the prompt's words name
    (see reference/looks.py); a prompt without look words is no look, the model's plain data."""

    def __init__(self, model_type: str):
        self.model_type = model_type

    def tokenize(self, text: str, **kwargs) -> str:
        return text

    def encode_from_tokens_scheduled(self, tokens: str, unprojected=False, add_dict: dict | None = None, show_pbar=True) -> list:
        look, words = look_from_prompt(tokens)
        if tokens.strip() and not words:
            log.info("Rewind reference text encoder: %r names no look (no change); look words: %s",
                     tokens[:80], ", ".join(VOCABULARY))
        [[embedding, extras]] = conditioning(self.model_type, look.code() if words else None)
        return [[embedding, {**extras, **(add_dict or {})}]]


def reference_outputs(model_type: str, data: str) -> tuple:
    """RewindReferenceModel's outputs: MODEL, VAE, an empty CONDITIONING and the look-word CLIP."""
    return (reference_model(model_type, data), ReferenceVAE(codec(model_type)), conditioning(model_type),
            ReferenceTextEncoder(model_type))
