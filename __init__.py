"""Rewind: temporally consistent video style transfer by unsampling (ComfyUI custom nodes).

Registration only. The entry point is resolved lazily so that importing the package outside
ComfyUI (pytest collecting the repo, tools reading metadata) does not import ComfyUI.
"""


def __getattr__(name):
    if name == "comfy_entrypoint":
        from .nodes import comfy_entrypoint

        return comfy_entrypoint
    raise AttributeError(name)
