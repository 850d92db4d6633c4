"""Browser tier: a workflow queued from the real frontend shows RewindVideoCombine's result as a
playable video on the node (the stock frontend's `images` + `animated` preview, no extra JS)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rewind.rewind_queue.api import ComfyAPI
from rewind.rewind_queue.main_job import reference_workflow
from rewind.rewind_queue.workflow import with_required_defaults

pytestmark = pytest.mark.browser
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_video_combine_result_plays_on_the_node(comfy_server, tmp_path):
    if not Path("/usr/bin/chromium").is_file() or not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("the browser tier needs /usr/bin/chromium and playwright-core: run scripts/install_browser.sh")
    shutil.copy(ROOT / "assets" / "sample.mp4", comfy_server.base / "input" / "preview_check.mp4")
    api = ComfyAPI(comfy_server.url)
    prompt = with_required_defaults(reference_workflow("preview_check.mp4"), api.object_info())
    prompt["9"]["inputs"]["filename_prefix"] = "rewind/browser_preview"
    (tmp_path / "api.json").write_text(json.dumps(prompt))
    result = subprocess.run(["node", "run_and_preview.mjs", comfy_server.url, str(tmp_path / "api.json"),
                             str(tmp_path / "combine.png")], cwd=HERE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    written = report["outputs"]["images"][0]
    assert report["outputs"]["animated"] == [True] and written["filename"].endswith(".mp4")
    assert any(written["filename"] in src for src in report["videos"]), report["videos"]
