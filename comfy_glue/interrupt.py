"""ComfyUI's Cancel, as video_io polls it and as a node reports it."""
from __future__ import annotations

import comfy.model_management


def stop_requested() -> bool:
    """ComfyUI's Cancel flag, read without clearing it (video_io polls it from a watchdog thread)."""
    return comfy.model_management.processing_interrupted()


def interrupted() -> Exception:
    """What a node raises once the core stopped for Cancel: ComfyUI's own interrupt, flag cleared."""
    comfy.model_management.throw_exception_if_processing_interrupted()
    return comfy.model_management.InterruptProcessingException()
