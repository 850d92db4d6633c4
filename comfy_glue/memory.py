"""Free memory as ComfyUI counts it, for the up-front "does it fit" checks."""
from __future__ import annotations

import comfy.model_management


def free_memory(patcher, device) -> int:
    """Bytes free on `device` for sampling `patcher`'s model.

    ComfyUI 0.12+ asks the model (`ModelPatcher.get_free_memory(device)`): under dynamic VRAM, on by
    default since 0.16, that adds the weight memory core would evict for the run, so torch's free memory
    alone would refuse runs core itself runs. Older releases count the device's free memory.
    """
    counted_by_model = getattr(patcher, "get_free_memory", None)
    if counted_by_model is not None:
        return counted_by_model(device)
    return comfy.model_management.get_free_memory(device)
