"""Single source of truth for the example workflows: `python scripts/build_workflows.py` renders
every recipe in `recipes.py` to `example_workflows/<name>.json` (UI) and `example_workflows/api/<name>.json` (API),
and their template-browser titles and descriptions, in order, to `web/templates.json`."""
from __future__ import annotations

import json
from pathlib import Path

from .recipes import RECIPES
from .graph import NOTE_TYPES, Rendered

WORKFLOWS_DIR = Path(__file__).resolve().parents[1]
PACK_ROOT = WORKFLOWS_DIR.parent


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def template_entry(name: str) -> dict:
    """What the template browser shows for a workflow: its Note's heading (less the pack's name) and summary.
    Hyphens become non-breaking ones, which look the same: the frontend turns '-' and '_' in descriptions into spaces."""
    note = next(node for node in RECIPES[name].nodes if node.type in NOTE_TYPES).values["text"].splitlines()
    return {"name": name, "title": note[0].removeprefix("## ").removeprefix("Rewind: "),
            "description": note[2].replace("-", "\u2011")}


def render_all(object_info: dict) -> dict[Path, str]:
    """Every generated file (path relative to the pack's root) → its text."""
    files = {}
    for name, graph in RECIPES.items():
        rendered = Rendered(graph, object_info)
        files[Path("example_workflows") / f"{name}.json"] = to_json(rendered.ui())
        files[Path("example_workflows") / "api" / f"{name}.json"] = to_json(rendered.api())
    files[Path("web") / "templates.json"] = to_json([template_entry(name) for name in RECIPES])  # web/rewind.js
    return files


def stale_files(object_info: dict, folder: Path = PACK_ROOT) -> list[Path]:
    """Generated files whose committed text differs from what the source renders now."""
    return [path for path, text in render_all(object_info).items()
            if not (folder / path).is_file() or (folder / path).read_text() != text]


def write_all(object_info: dict, folder: Path = PACK_ROOT) -> list[Path]:
    written = []
    for path, text in render_all(object_info).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
        written.append(folder / path)
    return written
