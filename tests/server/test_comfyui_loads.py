"""The pack loads in a real ComfyUI: no import failure, and every node the source declares is
served by ``/object_info`` with the project's naming and documentation rules."""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request


from rewind.rewind_queue.server import PACK_LINK_NAME, prepare_base_directory, server_command
from rewind.testbed import REPO_ROOT

NODE_ID = re.compile(r"""node_id\s*=\s*["'](Rewind\w+)["']""")


def declared_node_ids() -> set[str]:
    """Node ids written in nodes/*.py, read as text so a module that fails to import still counts."""
    return {match for path in (REPO_ROOT / "nodes").glob("*.py") for match in NODE_ID.findall(path.read_text())}


def pack_import_failures(log: str) -> list[str]:
    pack_dir = f"custom_nodes/{PACK_LINK_NAME}"
    return [
        line for line in log.splitlines()
        if pack_dir in line and ("IMPORT FAILED" in line or line.startswith("Cannot import"))
    ]


def test_quick_test_for_ci_loads_the_pack_without_import_failure(comfyui_tree, tmp_path):
    base = prepare_base_directory(tmp_path / "base")
    command = server_command(comfyui_tree, base, port=0, extra_args=["--quick-test-for-ci"])
    result = subprocess.run(command, cwd=comfyui_tree, capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert pack_import_failures(log) == [], log[-4000:]
    assert re.search(rf"seconds: .*custom_nodes/{PACK_LINK_NAME}$", log, re.M), f"the pack was not loaded:\n{log[-4000:]}"


def test_object_info_serves_every_declared_rewind_node(comfy_server):
    with urllib.request.urlopen(comfy_server.url + "/object_info", timeout=60) as response:
        served = json.load(response)
    served_rewind = {name for name in served if name.startswith("Rewind")}
    assert declared_node_ids() <= served_rewind, f"declared but not served: {declared_node_ids() - served_rewind}"
    for name in served_rewind:
        info = served[name]
        assert info["category"].startswith("Rewind/"), f"{name}: category {info['category']!r} must start with Rewind/"
        assert info.get("description"), f"{name} has no description"
        for section in ("required", "optional"):
            for input_name, spec in info["input"].get(section, {}).items():
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"


def test_declared_node_id_pattern():
    """Guards the regex the server test relies on."""
    assert NODE_ID.findall('io.Schema(node_id="RewindUnsampler", display_name="x")') == ["RewindUnsampler"]
    assert NODE_ID.findall("node_id = 'RewindAYSScheduler'") == ["RewindAYSScheduler"]
