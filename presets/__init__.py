"""Model types: what the pack knows about each model it serves, in one table (no ComfyUI)."""
from .model_types import AYS_OPTIONS, BY_LATENT_FORMAT, LOAD_PRESETS, MODEL_TYPES, WAN21, ModelType

__all__ = ["AYS_OPTIONS", "BY_LATENT_FORMAT", "LOAD_PRESETS", "MODEL_TYPES", "WAN21", "ModelType"]
