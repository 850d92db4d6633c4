"""The web extension's per-format table (web/rewind.js) agrees with video_io.FORMATS, ComfyUI finds the
extension through the root package's WEB_DIRECTORY, and every workflow has its template entry and thumbnail."""
from __future__ import annotations

import ast
import json
import re

from rewind.video_io import FORMATS
from rewind.example_workflows.source import RECIPES, WORKFLOWS_DIR
from rewind.testbed import REPO_ROOT

EXTENSION = REPO_ROOT / "web" / "rewind.js"


def js_constant(name: str):
    """A JSON-literal constant of web/rewind.js."""
    match = re.search(rf"^const {name} = (.*?);$", EXTENSION.read_text(), re.MULTILINE | re.DOTALL)
    assert match, f"web/rewind.js has no `const {name} = ...;`"
    return json.loads(match.group(1))


def test_the_extension_hides_exactly_the_options_a_format_ignores():
    expected = {}
    for name, spec in FORMATS.items():
        applies = {"loop_count": spec.loops, "crf": spec.crf_max is not None, "pix_fmt": len(spec.pix_fmts) > 1}
        expected[name] = {"preview": "video" if spec.extension in ("mp4", "webm", "mov") else "image",
                          "widgets": [widget for widget, used in applies.items() if used]}
    assert js_constant("FORMAT_DEPENDENT") == ["loop_count", "crf", "pix_fmt"]
    assert js_constant("FORMATS") == expected


def test_comfyui_finds_the_web_directory():
    module = ast.parse((REPO_ROOT / "__init__.py").read_text())
    assigned = {target.id: node.value.value for node in module.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert (REPO_ROOT / assigned["WEB_DIRECTORY"] / "rewind.js").is_file()


def test_every_workflow_has_a_titled_template_entry_and_a_thumbnail():
    entries = json.loads((REPO_ROOT / "web" / "templates.json").read_text())
    assert [entry["name"] for entry in entries] == list(RECIPES)
    assert all(entry["title"] != entry["name"] and "-" not in entry["description"] for entry in entries)
    for name in RECIPES:  # scripts/make_thumbnails.py: a square JPEG from a real reference run
        data = (WORKFLOWS_DIR / f"{name}.jpg").read_bytes()
        assert data[:3] == b"\xff\xd8\xff", name
