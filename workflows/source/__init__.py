"""Single source of truth for the example workflows: `python scripts/build_workflows.py` renders
every family in `families.py` to `workflows/<name>.json` (UI) and `workflows/api/<name>.json` (API)."""
from __future__ import annotations

import json
from pathlib import Path

from .families import FAMILIES
from .graph import Rendered

WORKFLOWS_DIR = Path(__file__).resolve().parents[1]


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_all(object_info: dict) -> dict[Path, str]:
    """Every generated file (path relative to workflows/) → its text."""
    files = {}
    for name, graph in FAMILIES.items():
        rendered = Rendered(graph, object_info)
        files[Path(f"{name}.json")] = to_json(rendered.ui())
        files[Path("api") / f"{name}.json"] = to_json(rendered.api())
    return files


def stale_files(object_info: dict, folder: Path = WORKFLOWS_DIR) -> list[Path]:
    """Generated files whose committed text differs from what the source renders now."""
    return [path for path, text in render_all(object_info).items()
            if not (folder / path).is_file() or (folder / path).read_text() != text]


def write_all(object_info: dict, folder: Path = WORKFLOWS_DIR) -> list[Path]:
    written = []
    for path, text in render_all(object_info).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
        written.append(folder / path)
    return written
