"""The web extension's per-format table (web/rewind.js) agrees with video_io.FORMATS, and ComfyUI
finds the extension through the root package's WEB_DIRECTORY."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from rewind.video_io import FORMATS

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "web" / "rewind.js"


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
    module = ast.parse((ROOT / "__init__.py").read_text())
    assigned = {target.id: node.value.value for node in module.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert (ROOT / assigned["WEB_DIRECTORY"] / "rewind.js").is_file()
