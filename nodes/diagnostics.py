"""Weight-free reference model and codec: real ComfyUI MODEL/VAE objects whose denoiser is the exact
posterior mean of a known data distribution. With them, a workflow runs anywhere (no downloads) and
every roundtrip error is the sampler's own, so users can check their sampler settings."""
from __future__ import annotations

import math

import torch

import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models

from ..samplers.reference import DATA, GaussianMixture, ReferenceCodec
from .comfy_api import io

FAMILIES = {
    # family: (model config, model type, text-embedding width, codec)
    "SD1.5": (comfy.supported_models.SD15, comfy.model_base.ModelType.EPS, 768, ReferenceCodec(4, gain=2.5)),
    "SDXL": (comfy.supported_models.SDXL, comfy.model_base.ModelType.EPS, 2048, ReferenceCodec(4, gain=2.5)),
    "Wan2.1": (comfy.supported_models.WAN21_T2V, comfy.model_base.ModelType.FLOW, 4096,
               ReferenceCodec(16, temporal=4, gain=1.0)),
}


class ExactDenoiserNet(torch.nn.Module):
    """Stands in for the UNet/DiT: returns the network output whose calculate_denoised is the exact
    posterior mean. It reads the exact sigma from transformer_options (the timestep it gets is rounded)."""

    def __init__(self, data: GaussianMixture, family: str, video_channels: int | None = None):
        super().__init__()
        self.data, self.family = data, family
        self.dtype = torch.float32
        if video_channels:  # WAN21.concat_cond reads the input width of the first layer
            self.patch_embedding = torch.nn.Conv3d(video_channels, 1, 1)

    def forward(self, xc, timesteps, context=None, control=None, transformer_options={}, **kwargs):
        sigma = transformer_options["sigmas"].to(torch.float64)
        sigma = sigma.repeat(xc.shape[0] // sigma.shape[0]).reshape(-1, *([1] * (xc.ndim - 1)))
        x = xc.double() * torch.sqrt(sigma**2 + 1.0) if self.family == "eps" else xc.double()
        denoised = self.data.denoise(x, sigma.flatten(), self.family).double()
        return ((x - denoised) / sigma).to(xc.dtype)  # eps for EPS models, velocity for flow models


def reference_model(family: str, data: str) -> comfy.model_patcher.ModelPatcher:
    """A ComfyUI model of `family` (its latent format, sampling and conditioning) with an exact denoiser."""
    config_cls, model_type, _, _ = FAMILIES[family]
    config = config_cls({"disable_unet_model_creation": True, **config_cls.unet_config})
    config.set_inference_dtype(torch.float32, None)
    model_base_cls = {"SD1.5": comfy.model_base.BaseModel, "SDXL": comfy.model_base.SDXL,
                      "Wan2.1": comfy.model_base.WAN21}[family]
    model = model_base_cls(config, model_type=model_type, device=comfy.model_management.get_torch_device())
    flow = model_type == comfy.model_base.ModelType.FLOW
    model.diffusion_model = ExactDenoiserNet(DATA[data], "flow" if flow else "eps",
                                             FAMILIES[family][3].channels if family == "Wan2.1" else None)
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


def neutral_conditioning(family: str) -> list:
    width = FAMILIES[family][2]
    extras = {"pooled_output": torch.zeros(1, 1280)} if family == "SDXL" else {}
    return [[torch.zeros(1, 1, width), extras]]


class RewindReferenceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindReferenceModel",
            display_name="Rewind Reference Model (exact, no weights)",
            category="Rewind/diagnostics",
            description="A weight-free model whose denoiser is the exact posterior mean of Gaussian or mixture-of-"
                        "Gaussians data, plus a deterministic codec shaped like the family's VAE. Unsample -> "
                        "resample through it: any difference from the input is the sampler's error.",
            inputs=[
                io.Combo.Input("family", options=list(FAMILIES), default="SD1.5",
                               tooltip="Latent format, noise parameterisation and conditioning of this model family."),
                io.Combo.Input("data", options=list(DATA), default="mixture",
                               tooltip="The data distribution the exact denoiser assumes. 'mixture' is the harder, "
                                       "more image-like test."),
            ],
            outputs=[io.Model.Output(), io.Vae.Output(), io.Conditioning.Output(display_name="conditioning")],
        )

    @classmethod
    def execute(cls, family, data) -> io.NodeOutput:
        return io.NodeOutput(reference_model(family, data), ReferenceVAE(FAMILIES[family][3]), neutral_conditioning(family))


def latent_psnr(reference: torch.Tensor, result: torch.Tensor) -> float:
    """PSNR with the reference latent's value range as the peak."""
    reference, result = reference.double(), result.double().to(reference.device)
    peak = float(reference.max() - reference.min()) or 1.0
    mse = float(((reference - result) ** 2).mean())
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak**2 / mse)


class RewindRoundtripReport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindRoundtripReport",
            display_name="Rewind Roundtrip Report",
            category="Rewind/diagnostics",
            description="Compares a resampled latent with the latent it was unsampled from and shows the PSNR: "
                        "above ~60 dB the roundtrip is exact for practical purposes.",
            inputs=[io.Latent.Input("reference", tooltip="The latent before unsampling (VAE Encode output)."),
                    io.Latent.Input("result", tooltip="The resampled latent.")],
            outputs=[io.Float.Output(display_name="psnr_db")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, reference, result) -> io.NodeOutput:
        a, b = reference["samples"], result["samples"]
        if a.shape != b.shape:
            raise ValueError(f"RewindRoundtripReport: shapes differ ({tuple(a.shape)} vs {tuple(b.shape)}); compare the "
                             "VAE Encode output with the resampler output of the same clip.")
        psnr = latent_psnr(a, b)
        text = f"roundtrip PSNR: {psnr:.2f} dB over {tuple(a.shape)}"
        return io.NodeOutput(psnr, ui={"text": [text]})


NODES = [RewindReferenceModel, RewindRoundtripReport]
