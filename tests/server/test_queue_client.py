"""The queue client (`python -m rewind_queue`) against a real headless ComfyUI: it runs a prompt,
converts a UI workflow through the server's /object_info, and reports failures node by node."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from rewind.testbed import REPO_ROOT
from rewind.testbed.workflow_files import ui_node


def run_client(server, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "rewind_queue", *map(str, args), "--server", server.url],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def empty_image_prompt(width=48, height=24, prefix="queue_test"):
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def test_client_runs_a_prompt_and_downloads_its_output(comfy_server, tmp_path):
    workflow = tmp_path / "api.json"
    workflow.write_text(json.dumps(empty_image_prompt()))
    result = run_client(comfy_server, workflow, "--out", tmp_path / "out", "--set", "1.width=40")
    assert result.returncode == 0, result.stderr
    files = [Path(line) for line in result.stdout.splitlines()]
    assert len(files) == 1 and files[0].parent == tmp_path / "out"
    assert png_size(files[0]) == (40, 24)
    assert "node 2 (SaveImage)" in result.stderr  # live progress came over /ws


def test_client_converts_a_ui_workflow_through_the_servers_object_info(comfy_server, tmp_path):
    ui = {
        "nodes": [
            ui_node(7, "EmptyImage", [56, 16, 1, 0], outputs=[("IMAGE", "IMAGE")]),
            ui_node(8, "SaveImage", ["ui_test"], inputs=[("images", "IMAGE", 1)]),
            ui_node(9, "Note", ["ignored"]),
        ],
        "links": [[1, 7, 0, 8, 0, "IMAGE"]],
    }
    workflow = tmp_path / "ui.json"
    workflow.write_text(json.dumps(ui))
    result = run_client(comfy_server, workflow, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert png_size(Path(result.stdout.split()[0])) == (56, 16)


def test_wrong_input_name_exits_nonzero_naming_node_and_input(comfy_server, tmp_path):
    prompt = empty_image_prompt()
    prompt["1"]["inputs"]["widht"] = prompt["1"]["inputs"].pop("width")
    workflow = tmp_path / "bad.json"
    workflow.write_text(json.dumps(prompt))
    result = run_client(comfy_server, workflow, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "node 1 (EmptyImage), input 'width': Required input is missing" in result.stderr
    assert not (tmp_path / "out").exists()


def test_uploaded_file_that_fails_at_run_time_reports_the_failing_node(comfy_server, tmp_path):
    fake_png = tmp_path / "not_an_image.png"
    fake_png.write_text("this is text")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "never"}},
    }
    workflow = tmp_path / "load.json"
    workflow.write_text(json.dumps(prompt))
    result = run_client(comfy_server, workflow, "--set", f"1.image=@{fake_png}", "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "failed while running node 1 (LoadImage)" in result.stderr
    assert (comfy_server.base / "input" / "not_an_image.png").is_file()  # the @FILE upload landed


def test_outputs_dropped_by_validation_fail_the_run_but_valid_outputs_are_saved(comfy_server, tmp_path):
    prompt = empty_image_prompt(prefix="partial")
    prompt["3"] = {"class_type": "EmptyImage", "inputs": {"widht": 8, "height": 8, "batch_size": 1, "color": 0}}
    prompt["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "dropped"}}
    workflow = tmp_path / "partial.json"
    workflow.write_text(json.dumps(prompt))
    result = run_client(comfy_server, workflow, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "node 3 (EmptyImage), input 'width': Required input is missing" in result.stderr
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["partial_00001_.png"]
    assert "saved anyway:" in result.stderr
