"""Lets a bench script import the pack as `rewind` and, when asked, the real ComfyUI on the CPU
(or the GPU with --gpu), the same way tests/conftest.py does; and call core nodes of any ComfyUI."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_pack() -> None:
    alias = types.ModuleType("rewind")
    alias.__path__ = [str(ROOT)]
    sys.modules.setdefault("rewind", alias)


def import_comfyui(cpu: bool = True) -> Path:
    path = Path(os.environ.get("COMFYUI_PATH") or ROOT / ".cache" / "comfyui-0.3.75")
    if not (path / "main.py").is_file():
        sys.exit(f"No ComfyUI at {path}: run scripts/setup_env.sh or set COMFYUI_PATH.")
    sys.path.insert(0, str(path))
    from comfy.cli_args import args

    args.cpu = cpu
    import comfy.model_management  # noqa: F401
    import comfy.utils

    comfy.utils.PROGRESS_BAR_ENABLED = False  # tqdm bars would drown the tables
    import_pack()
    return path


def run_core(node_class, *args) -> tuple:
    """A core node's outputs, whether this ComfyUI ships it as a V3 node (0.3.75: ``execute`` returns
    a NodeOutput) or a V1 node (0.3.52 and 0.3.64's custom-sampling nodes: ``FUNCTION`` returns a tuple)."""
    if hasattr(node_class, "execute"):
        return node_class.execute(*args).result
    return getattr(node_class(), node_class.FUNCTION)(*args)


class ModelCallCounter:
    """Counts model calls through the model's apply wrapper (CFG's cond/uncond batch is one call) and
    notes the sigma of each (one host read per call: for tests and benches, not for sampling)."""

    def __init__(self, model):
        self.sigmas: list[float] = []
        model.set_model_unet_function_wrapper(self)

    @property
    def calls(self) -> int:
        return len(self.sigmas)

    def reset(self) -> None:
        self.sigmas = []

    def __call__(self, apply_model, args):
        self.sigmas.append(float(args["timestep"].flatten()[0]))
        return apply_model(args["input"], args["timestep"], **args["c"])
