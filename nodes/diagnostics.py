"""Weight-free reference model, codec and text encoder: real ComfyUI MODEL/VAE/CLIP objects whose
denoiser is the exact posterior mean of a known data distribution, which the prompt's look words
reshape. With them, a workflow runs anywhere (no downloads), restyles visibly, and every roundtrip
error is the sampler's own, so users can check their sampler settings."""
from __future__ import annotations

import logging
import math
import os

import folder_paths
import torch

import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models

from .. import video_io
from ..coherence.consistency import estimate_motion, warp_error
from ..reference import DATA, GaussianMixture, ReferenceCodec, latent_psnr
from ..reference.looks import CODE_LENGTH, VOCABULARY, ColourFrame, look_from_prompt
from .comfy_api import io
from .validation import RewindInputError, check_finite, checked_inputs
from .video import check_filename_prefix, workflow_metadata

log = logging.getLogger("rewind")

FAMILIES = {
    # family: (model config, model type, text-embedding width, codec)
    "SD1.5": (comfy.supported_models.SD15, comfy.model_base.ModelType.EPS, 768, ReferenceCodec(4, gain=2.5)),
    "SDXL": (comfy.supported_models.SDXL, comfy.model_base.ModelType.EPS, 2048, ReferenceCodec(4, gain=2.5)),
    "Wan2.1": (comfy.supported_models.WAN21_T2V, comfy.model_base.ModelType.FLOW, 4096,
               ReferenceCodec(16, temporal=4, gain=1.0)),
}


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

    def forward(self, xc, timesteps, context=None, control=None, transformer_options={}, **kwargs):
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


def colour_frame(family: str, latent_format) -> ColourFrame:
    """Which latent directions the codec gives each colour axis, after the family's latent scaling."""
    return FAMILIES[family][3].colour_frame(latent_format.process_in)


def reference_model(family: str, data: str) -> comfy.model_patcher.ModelPatcher:
    """A ComfyUI model of `family` (its latent format, sampling and conditioning) with an exact denoiser."""
    config_cls, model_type, _, _ = FAMILIES[family]
    config = config_cls({"disable_unet_model_creation": True, **config_cls.unet_config})
    config.set_inference_dtype(torch.float32, None)
    model_base_cls = {"SD1.5": comfy.model_base.BaseModel, "SDXL": comfy.model_base.SDXL,
                      "Wan2.1": comfy.model_base.WAN21}[family]
    model = model_base_cls(config, model_type=model_type, device=comfy.model_management.get_torch_device())
    flow = model_type == comfy.model_base.ModelType.FLOW
    model.diffusion_model = ExactDenoiserNet(DATA[data], "flow" if flow else "eps", colour_frame(family, model.latent_format),
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


def conditioning(family: str, code: torch.Tensor | None = None) -> list:
    """A CONDITIONING whose embedding carries `code` (a look; None is no look) in the family's width."""
    embedding = torch.zeros(1, 1, FAMILIES[family][2])
    if code is not None:
        embedding[0, 0, :CODE_LENGTH] = code.float()
    extras = {"pooled_output": torch.zeros(1, 1280)} if family == "SDXL" else {}
    return [[embedding, extras]]


class ReferenceTextEncoder:
    """Duck-types comfy.sd.CLIP for CLIP Text Encode: the embedding is the look the prompt's words name
    (see samplers/looks.py); a prompt without look words is no look, the model's plain data."""

    def __init__(self, family: str):
        self.family = family

    def tokenize(self, text: str, **kwargs) -> str:
        return text

    def encode_from_tokens_scheduled(self, tokens: str, unprojected=False, add_dict: dict | None = None, show_pbar=True) -> list:
        look, words = look_from_prompt(tokens)
        if tokens.strip() and not words:
            log.info("Rewind reference text encoder: %r names no look (no change); look words: %s",
                     tokens[:80], ", ".join(VOCABULARY))
        [[embedding, extras]] = conditioning(self.family, look.code() if words else None)
        return [[embedding, {**extras, **(add_dict or {})}]]


class RewindReferenceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindReferenceModel",
            display_name="Rewind Reference Model (exact, no weights)",
            category="Rewind/diagnostics",
            description="A weight-free model whose denoiser is the exact posterior mean of Gaussian or mixture-of-"
                        "Gaussians data, plus a deterministic codec shaped like the family's VAE and a text encoder "
                        "whose look words (sepia, noir, neon, night, pastel, comic, ...) reshape the data's colour "
                        "statistics. Unsample -> resample with the same prompt: any difference from the input is the "
                        "sampler's error; with another prompt: the video restyled, its motion kept.",
            inputs=[
                io.Combo.Input("family", options=list(FAMILIES), default="SD1.5",
                               tooltip="Latent format, noise parameterisation and conditioning of this model family."),
                io.Combo.Input("data", options=list(DATA), default="mixture",
                               tooltip="The data distribution the exact denoiser assumes. 'mixture' is the harder, "
                                       "more image-like test."),
            ],
            outputs=[io.Model.Output(), io.Vae.Output(), io.Conditioning.Output(display_name="conditioning"),
                     io.Clip.Output(tooltip="Text encoder for CLIP Text Encode: look words in the prompt restyle.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, family, data) -> io.NodeOutput:
        return io.NodeOutput(reference_model(family, data), ReferenceVAE(FAMILIES[family][3]), conditioning(family),
                             ReferenceTextEncoder(family))


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
    @checked_inputs
    def execute(cls, reference, result) -> io.NodeOutput:
        a, b = reference["samples"], result["samples"]
        if a.shape != b.shape:
            raise RewindInputError(f"RewindRoundtripReport: shapes differ ({tuple(a.shape)} vs {tuple(b.shape)}); compare "
                                   "the VAE Encode output with the resampler output of the same clip.")
        check_finite(a, "RewindRoundtripReport: 'reference'", "check the node feeding 'reference' (VAE Encode).")
        check_finite(b, "RewindRoundtripReport: 'result'", "the resampler, or a node between it and this report, "
                     "produced non-finite values, so there is no roundtrip to measure.")
        psnr = latent_psnr(a, b)
        text = f"roundtrip PSNR: {psnr:.2f} dB over {tuple(a.shape)}"
        return io.NodeOutput(psnr, ui={"text": [text]})


class RewindTemporalConsistency(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindTemporalConsistency",
            display_name="Rewind Temporal Consistency",
            category="Rewind/diagnostics",
            description="Warp error along the source's motion (block matching on the source; mean absolute change of "
                        "each frame from the previous one moved with that motion): lower is steadier. Compare the "
                        "restyled result with a baseline, e.g. the same restyle per frame with fresh noise.",
            inputs=[io.Image.Input("source", tooltip="The input frames: their motion is the reference."),
                    io.Image.Input("result", tooltip="The restyled frames (same count and size)."),
                    io.Image.Input("baseline", optional=True, tooltip="Frames restyled another way, to compare.")],
            outputs=[io.Float.Output(display_name="result_warp_error"), io.Float.Output(display_name="baseline_warp_error")],
            is_output_node=True,
        )

    @classmethod
    @checked_inputs
    def execute(cls, source, result, baseline=None) -> io.NodeOutput:
        videos = {"result": result, **({"baseline": baseline} if baseline is not None else {})}
        for name, video in videos.items():
            if video.shape[:3] != source.shape[:3]:
                raise ValueError(f"RewindTemporalConsistency: {name} is {tuple(video.shape[:3])} (frames, height, width) but "
                                 f"source is {tuple(source.shape[:3])}; connect frames of the same clip at the same size.")
        try:
            motion = estimate_motion(source[..., :3].cpu())
        except ValueError as error:
            raise ValueError(f"RewindTemporalConsistency: source: {error}; connect a longer or larger clip.") from None
        errors = {name: warp_error(video[..., :3].cpu(), motion) for name, video in videos.items()}
        text = (f"temporal consistency (warp error along the source's motion, lower is steadier): source "
                f"{warp_error(source[..., :3].cpu(), motion):.4f}, result {errors['result']:.4f}")
        if baseline is not None:
            text += f", baseline {errors['baseline']:.4f} ({errors['baseline'] / max(errors['result'], 1e-12):.1f}x the result's)"
        return io.NodeOutput(errors["result"], errors.get("baseline", math.nan), ui={"text": [text]})


class RewindContactSheet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindContactSheet",
            display_name="Rewind Contact Sheet (before/after)",
            category="Rewind/diagnostics",
            description="Saves one PNG: evenly spaced source frames above the same moments of the restyled clip, so "
                        "a single picture shows the new look and the kept motion.",
            inputs=[io.Image.Input("before", tooltip="The source frames (top row)."),
                    io.Image.Input("after", tooltip="The restyled frames (bottom row), same count and size."),
                    io.Int.Input("columns", default=6, min=1, max=64, tooltip="Frames per row."),
                    io.String.Input("filename_prefix", default="Rewind/contact_sheet",
                                    tooltip="File name prefix in the output folder; may contain subfolders.")],
            outputs=[],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    @checked_inputs
    def execute(cls, before, after, columns, filename_prefix) -> io.NodeOutput:
        try:
            check_filename_prefix(filename_prefix)
        except video_io.VideoIOError as error:
            raise RewindInputError(f"RewindContactSheet: {error}") from None
        if before.shape != after.shape:
            raise ValueError(f"RewindContactSheet: before is {tuple(before.shape)} and after {tuple(after.shape)}; connect "
                             "the source frames and the restyled frames of the same clip at the same size.")
        height, width = before.shape[1:3]
        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory(), width, height)
        name = f"{filename}_{counter:05}_.png"
        rows = [images[..., :3].cpu().numpy() for images in (before, after)]
        metadata = workflow_metadata(cls.hidden.prompt if cls.hidden else None, cls.hidden.extra_pnginfo if cls.hidden else None)
        video_io.write_contact_sheet(os.path.join(folder, name), rows, columns, metadata)
        return io.NodeOutput(ui={"images": [{"filename": name, "subfolder": subfolder, "type": "output"}]})


NODES = [RewindReferenceModel, RewindRoundtripReport, RewindTemporalConsistency, RewindContactSheet]
