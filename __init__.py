"""Rewind: temporally consistent video style transfer by unsampling (ComfyUI custom nodes).

Registration only. The entry point is resolved lazily so that importing the package outside
ComfyUI (pytest collecting the repo, tools reading metadata) does not import ComfyUI.
"""

WEB_DIRECTORY = "./web"  # the frontend extension (web/rewind.js)


def __getattr__(name):
    if name == "comfy_entrypoint":
        from .nodes import comfy_entrypoint

        return comfy_entrypoint
    raise AttributeError(name)
