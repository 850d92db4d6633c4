"""ComfyUI registration: every Rewind node module contributes its NODES list."""
from typing_extensions import override

from . import context, diagnostics, sampling, video
from .comfy_api import ComfyExtension, io


class RewindExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*sampling.NODES, *context.NODES, *video.NODES, *diagnostics.NODES]


async def comfy_entrypoint() -> RewindExtension:
    video.install_sample_clip()
    return RewindExtension()
