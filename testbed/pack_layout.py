"""The pack's layers as folders, and the modules it ships: what the packaging and code-rule tests read."""
from pathlib import Path

from . import REPO_ROOT

CORE_DIRS = ["samplers", "schedules", "coherence", "video_io", "reference", "presets"]  # never import ComfyUI
GLUE_DIR, NODES_DIR = "comfy_glue", "nodes"
PACK_DIRS = [NODES_DIR, GLUE_DIR, *CORE_DIRS]
DEVELOPMENT_DIRS = ["/tests/", "/bench/", "/testbed/", "/scripts/", "/.ci/"]  # .comfyignore's patterns


def pack_modules() -> list[Path]:
    """Every module the pack ships (development folders aside)."""
    development = [REPO_ROOT / d.strip("/") for d in DEVELOPMENT_DIRS]
    return [path for path in REPO_ROOT.rglob("*.py") if not path.is_relative_to(REPO_ROOT / ".cache")
            and not any(path.is_relative_to(folder) for folder in development) and "node_modules" not in path.parts]
