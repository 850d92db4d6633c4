"""Free memory as ComfyUI counts it, for the up-front "does it fit" checks; and one model taken off the device."""
from __future__ import annotations

import torch

import comfy.model_management


def free_memory(patcher, device) -> int:
    """Bytes free on `device` for sampling `patcher`'s model.

    On the model's accelerator ComfyUI 0.12+ asks the model (`ModelPatcher.get_free_memory(device)`):
    under dynamic VRAM, on by default since 0.16, that adds the weight memory core would evict for the
    run, so torch's free memory alone would refuse runs core itself runs. Host memory is the host's:
    asked about the CPU, the model's count would add the first GPU's evictable VRAM. Older releases
    count the device's free memory.
    """
    counted_by_model = getattr(patcher, "get_free_memory", None)
    if counted_by_model is None or torch.device(device).type == "cpu":
        return comfy.model_management.get_free_memory(device)
    return counted_by_model(device)


def unload(patcher) -> None:
    """Takes `patcher`'s weights (and those of its clones: the same weights, other patches) off the device now,
    as core's own eviction does (`LoadedModel.model_unload`), instead of when the next model happens to need
    the room: two 14B experts are two models core would keep side by side wherever they fit."""
    loaded = comfy.model_management.current_loaded_models
    for entry in [entry for entry in loaded if entry.model is not None and entry.model.is_clone(patcher)]:
        entry.model_unload()
        loaded.remove(entry)
    comfy.model_management.soft_empty_cache()
