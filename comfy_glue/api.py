"""The one place the pack imports ComfyUI's V3 node API from, and checks it.

No ``comfy_api`` version is frozen today: ``v0_0_2`` (0.3.52 to current releases) re-exports
``latest``'s ``io`` and ``ComfyExtension``, and ComfyUI's migration guide says it still changes without
warning. So preferring it pins nothing yet; it is preferred so that the pack stays on it if ComfyUI
freezes it once a newer version becomes ``latest``. What guards the nodes is the check: the first
version offering every piece the nodes use (``API_PIECES``) is loaded, and a ComfyUI where none does
fails at import with the missing pieces named, instead of an AttributeError inside some node's schema.
"""
from __future__ import annotations

import functools
import importlib
from types import ModuleType

VERSIONS = ("v0_0_2", "latest")  # preferred first
# Every member of `io` the pack uses (tests/unit/test_packaging.py holds the pack to this list).
API_PIECES = (
    "ComfyNode", "Schema", "NodeOutput", "Input", "Custom", "Hidden.prompt", "Hidden.extra_pnginfo",
    "UploadType.video", "Boolean.Input", "Int.Input", "Int.Output", "Float.Input", "Float.Output", "String.Input",
    "String.Output", "Combo.Input", "Image.Input", "Image.Output", "Latent.Input", "Latent.Output", "Model.Input",
    "Model.Output", "Mask.Input", "Conditioning.Input", "Conditioning.Output", "Clip.Output", "Vae.Input", "Vae.Output",
    "Sigmas.Input", "Sigmas.Output", "Sampler.Output", "Audio.Input", "Audio.Output", "Video.Input", "Video.Output",
)


def missing_pieces(api: ModuleType) -> list[str]:
    """What of ``ComfyExtension`` and ``io.<API_PIECES>`` this comfy_api version lacks."""
    missing = [] if hasattr(api, "ComfyExtension") else ["ComfyExtension"]
    io = getattr(api, "io", None)
    return missing + [f"io.{piece}" for piece in API_PIECES if not _has(io, piece)]


def _has(module, dotted: str) -> bool:
    try:
        functools.reduce(getattr, dotted.split("."), module)
    except AttributeError:
        return False
    return True


def load_api(versions: tuple[str, ...] = VERSIONS) -> ModuleType:
    """The first of ``versions`` this ComfyUI ships with every piece the nodes use; any other import
    error is a real failure."""
    problems = []
    for version in versions:
        try:
            api = importlib.import_module(f"comfy_api.{version}")
        except ModuleNotFoundError as error:
            if error.name != f"comfy_api.{version}":
                raise
            problems.append(f"no comfy_api.{version}")
            continue
        missing = missing_pieces(api)
        if not missing:
            return api
        problems.append(f"comfy_api.{version} lacks {', '.join(missing)}")
    raise ImportError(f"Rewind: this ComfyUI's V3 node API lacks what Rewind's nodes use ({'; '.join(problems)}). "
                      "Update ComfyUI to 0.3.52 or later, or report this ComfyUI version to Rewind if it is newer.")


api = load_api()
API_VERSION = api.__name__.rpartition(".")[2]
io = api.io
ComfyExtension = api.ComfyExtension
