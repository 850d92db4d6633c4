"""The model types Rewind serves, in one table: how each mixes signal and noise, what its VAE does to
pixels and frames, and which option names the nodes show for it.

Vocabulary: a *model type* is SD1.5, SDXL, Wan2.1...; its *family* (eps or flow, samplers/families.py)
is all the sampling core needs to know. The option names (`ays_option`, `load_preset`) are kept as
saved workflows spell them; the schedule, loader and context nodes read everything else from here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelType:
    name: str
    family: str  # "eps" or "flow"
    latent_channels: int
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


SD15 = ModelType("SD1.5", "eps", 4, ays_table="SD1", ays_option="SD1", load_preset="SD1.5 (8 px)")
SDXL = ModelType("SDXL", "eps", 4, ays_table="SDXL", ays_option="SDXL", load_preset="SDXL (8 px)")
SVD = ModelType("SVD", "eps", 4, ays_table="SVD", ays_option="SVD")
# SD1.5 with a motion module: SD1.5's latents and schedule, at the rate the motion modules learned.
ANIMATEDIFF = ModelType("AnimateDiff", "eps", 4, fps=8.0, load_preset="AnimateDiff (8 px, 8 fps)")
WAN21 = ModelType("Wan2.1", "flow", 16, temporal_compression=4, size_multiple=16, fps=16.0, ays_table="SD1",
                  ays_option="Wan2.1", load_preset="Wan2.1 (16 fps, 4n+1 frames, 16 px)")

MODEL_TYPES = {model.name: model for model in (SD15, SDXL, SVD, ANIMATEDIFF, WAN21)}
AYS_OPTIONS = {model.ays_option: model for model in MODEL_TYPES.values() if model.ays_option}
LOAD_PRESETS = {model.load_preset: model for model in MODEL_TYPES.values() if model.load_preset}
