"""Diagnostics: the weight-free reference model, the roundtrip PSNR, temporal consistency along the
source's motion, and a before/after contact sheet."""
from __future__ import annotations

import math

from .. import video_io
from ..coherence.consistency import estimate_motion, warp_error
from ..comfy_glue.api import io
from ..comfy_glue.reference_model import COMFY_MODELS, reference_outputs
from ..comfy_glue.saving import save_location, saving_errors, workflow_metadata
from ..reference import DATA, latent_psnr
from ..samplers.checks import check_finite
from .checked import checked


class RewindReferenceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RewindReferenceModel",
            display_name="Rewind Reference Model (exact, no weights)",
            category="Rewind/diagnostics",
            description="A weight-free model whose denoiser is the exact posterior mean of Gaussian or mixture-of-"
                        "Gaussians data, plus a deterministic codec shaped like the model type's VAE and a text encoder "
                        "whose look words (sepia, noir, neon, night, pastel, comic, ...) reshape the data's colour "
                        "statistics. Unsample -> resample with the same prompt: any difference from the input is the "
                        "sampler's error; with another prompt: the video restyled, its motion kept.",
            inputs=[
                io.Combo.Input("model_type", options=list(COMFY_MODELS), default="SD1.5",
                               tooltip="Latent format, noise parameterisation and conditioning of this model type."),
                io.Combo.Input("data", options=list(DATA), default="mixture",
                               tooltip="The data distribution the exact denoiser assumes. 'mixture' is the harder, "
                                       "more image-like test."),
            ],
            outputs=[io.Model.Output(), io.Vae.Output(), io.Conditioning.Output(display_name="conditioning"),
                     io.Clip.Output(tooltip="Text encoder for CLIP Text Encode: look words in the prompt restyle.")],
        )

    @classmethod
    @checked
    def execute(cls, model_type, data) -> io.NodeOutput:
        return io.NodeOutput(*reference_outputs(model_type, data))


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
    @checked
    def execute(cls, reference, result) -> io.NodeOutput:
        a, b = reference["samples"], result["samples"]
        if a.shape != b.shape:
            raise ValueError(f"shapes differ ({tuple(a.shape)} vs {tuple(b.shape)}); compare the VAE Encode output with "
                             "the resampler output of the same clip.")
        check_finite(a, "'reference'", "check the node feeding 'reference' (VAE Encode).")
        check_finite(b, "'result'", "the resampler, or a node between it and this report, "
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
    @checked
    def execute(cls, source, result, baseline=None) -> io.NodeOutput:
        videos = {"result": result, **({"baseline": baseline} if baseline is not None else {})}
        for name, video in videos.items():
            if video.shape[:3] != source.shape[:3]:
                raise ValueError(f"'{name}' is {tuple(video.shape[:3])} (frames, height, width) but "
                                 f"'source' is {tuple(source.shape[:3])}; connect frames of the same clip at the same size.")
        motion = estimate_motion(source[..., :3].cpu())
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
    @checked
    def execute(cls, before, after, columns, filename_prefix) -> io.NodeOutput:
        video_io.check_filename_prefix(filename_prefix)
        if before.shape != after.shape:
            raise ValueError(f"'before' is {tuple(before.shape)} and 'after' {tuple(after.shape)}; connect the source "
                             "frames and the restyled frames of the same clip at the same size.")
        height, width = before.shape[1:3]
        rows = [images[..., :3].cpu().numpy() for images in (before, after)]
        metadata = workflow_metadata(cls.hidden.prompt if cls.hidden else None, cls.hidden.extra_pnginfo if cls.hidden else None)
        with saving_errors(filename_prefix):
            location = save_location(filename_prefix, "output", width, height)
            path = video_io.write_contact_sheet(location.named(".png"), rows, columns, metadata)
        return io.NodeOutput(ui={"images": [location.entry(path, "image/png")]})


NODES = [RewindReferenceModel, RewindRoundtripReport, RewindTemporalConsistency, RewindContactSheet]
