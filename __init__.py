"""Rewind: temporally consistent video style transfer by unsampling (ComfyUI custom nodes)."""
from .nodes import comfy_entrypoint

__all__ = ["comfy_entrypoint"]
