"""ComfyUI registration: every Rewind node module contributes its NODES list."""
from typing_extensions import override

from ..comfy_glue.api import ComfyExtension, io
from ..comfy_glue.folders import install_sample_clip
from . import context, diagnostics, sampling, video


class RewindExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*sampling.NODES, *context.NODES, *video.NODES, *diagnostics.NODES]


async def comfy_entrypoint() -> RewindExtension:
    install_sample_clip()
    return RewindExtension()
