"""The model types Rewind serves, in one table: how each mixes signal and noise, what its VAE does to
pixels and frames, and which option names the nodes show for it.

Vocabulary: a *model type* is SD1.5, SDXL, Wan2.1...; its *family* (eps or flow, samplers/families.py)
is all the sampling core needs to know. The option names (`ays_option`, `load_preset`) are kept as
saved workflows spell them; the schedule, loader and context nodes read everything else from here.
A ComfyUI MODEL is matched to its row by its latent format (what its VAE makes): comfy_glue/model_checks.py.

The family is how ComfyUI *samples* the model, x = alpha(sigma) * x0 + sigma * eps, not how it was
trained: Cosmos-Predict2 is a rectified flow inside, but ComfyUI samples it in EDM sigmas (up to 80)
with x = x0 + sigma * eps, so for Rewind's samplers it is eps (comfy_glue/sampler.py reads it from
the model's own maths). Facts are from ComfyUI's latent formats and empty-latent nodes (channels,
compression, size steps) and the releases (rates; LTX-Video's is the frame_rate ComfyUI conditions
it on by default).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelType:
    name: str
    family: str  # "eps" or "flow"
    latent_channels: int
    latent_format: str  # ComfyUI's latent format class (comfy.latent_formats) of its VAE
    spatial_compression: int = 8  # pixels per latent pixel, along each side
    # Video VAEs: pixel frames per latent frame after the first, so clips of k * n + 1 frames encode
    # exactly (1: the latent is a frame batch, any frame count).
    temporal_compression: int = 1
    size_multiple: int = 8  # the width and height the model takes are multiples of this
    fps: float = 0.0  # the rate it was trained on; 0: any
    ays_table: str | None = None  # NVIDIA's AYS table its schedule interpolates (mapped to flow time for flow models)
    ays_option: str | None = None  # its RewindAYSScheduler model_type
    load_preset: str | None = None  # its loaders' model_preset

    @property
    def frame_group(self) -> int:
        """Frame counts the VAE takes are frame_group * n + 1 (1: any count)."""
        return self.temporal_compression


SD15 = ModelType("SD1.5", "eps", 4, "SD15", ays_table="SD1", ays_option="SD1", load_preset="SD1.5 (8 px)")
SDXL = ModelType("SDXL", "eps", 4, "SDXL", ays_table="SDXL", ays_option="SDXL", load_preset="SDXL (8 px)")
SVD = ModelType("SVD", "eps", 4, "SD15", ays_table="SVD", ays_option="SVD")
# SD1.5 with a motion module: SD1.5's latents and schedule, at the rate the motion modules learned.
ANIMATEDIFF = ModelType("AnimateDiff", "eps", 4, "SD15", fps=8.0, load_preset="AnimateDiff (8 px, 8 fps)")
WAN21 = ModelType("Wan2.1", "flow", 16, "Wan21", temporal_compression=4, size_multiple=16, fps=16.0, ays_table="SD1",
                  ays_option="Wan2.1", load_preset="Wan2.1 (16 fps, 4n+1 frames, 16 px)")
# The flow rows below take RewindAYSScheduler's Wan2.1 schedule: it lives in flow sigmas, which every
# flow model maps to its own timesteps, so one schedule serves them all.
# Wan 2.2 A14B (two experts: samplers/experts.py) takes Wan2.1's VAE, rate and sizes (its official 1280x720 and
# 832x480 are multiples of 16); a row of its own so the loader names it.
WAN22_A14B = ModelType("Wan2.2 A14B", "flow", 16, "Wan21", temporal_compression=4, size_multiple=16, fps=16.0,
                       load_preset="Wan2.2 A14B (16 fps, 4n+1 frames, 16 px)")
WAN22_5B = ModelType("Wan2.2 TI2V-5B", "flow", 48, "Wan22", spatial_compression=16, temporal_compression=4,
                     size_multiple=32, fps=24.0, load_preset="Wan2.2 TI2V-5B (24 fps, 4n+1 frames, 32 px)")
HUNYUAN_VIDEO = ModelType("HunyuanVideo", "flow", 16, "HunyuanVideo", temporal_compression=4, size_multiple=16,
                          fps=24.0, load_preset="HunyuanVideo (24 fps, 4n+1 frames, 16 px)")
HUNYUAN_VIDEO_15 = ModelType("HunyuanVideo 1.5", "flow", 32, "HunyuanVideo15", spatial_compression=16,
                             temporal_compression=4, size_multiple=16, fps=24.0,
                             load_preset="HunyuanVideo 1.5 (24 fps, 4n+1 frames, 16 px)")
LTXV = ModelType("LTX-Video", "flow", 128, "LTXV", spatial_compression=32, temporal_compression=8, size_multiple=32,
                 fps=25.0, load_preset="LTX-Video (25 fps, 8n+1 frames, 32 px)")
MOCHI = ModelType("Mochi", "flow", 12, "Mochi", temporal_compression=6, size_multiple=16, fps=30.0,
                  load_preset="Mochi (30 fps, 6n+1 frames, 16 px)")
# Wan2.1's VAE; schedules with the model connected to RewindAYSScheduler (an eps table, topped at its sigma 80).
COSMOS_PREDICT2 = ModelType("Cosmos Predict2", "eps", 16, "Wan21", temporal_compression=4, size_multiple=16, fps=16.0,
                            load_preset="Cosmos Predict2 (16 fps, 4n+1 frames, 16 px)")

MODEL_TYPES = {model.name: model for model in (SD15, SDXL, SVD, ANIMATEDIFF, WAN21, WAN22_A14B, WAN22_5B, HUNYUAN_VIDEO,
                                               HUNYUAN_VIDEO_15, LTXV, MOCHI, COSMOS_PREDICT2)}
AYS_OPTIONS = {model.ays_option: model for model in MODEL_TYPES.values() if model.ays_option}
LOAD_PRESETS = {model.load_preset: model for model in MODEL_TYPES.values() if model.load_preset}
# What a latent format's frames and channels are; the rows sharing a format agree on them.
BY_LATENT_FORMAT = {model.latent_format: model for model in MODEL_TYPES.values()}
