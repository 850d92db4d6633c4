"""The example workflows load `rewind_sample.mp4`: registering the pack puts the bundled clip in
the input folder (so a first queue runs and the loader's preview plays), never over a user's file."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from rewind.testbed import REPO_ROOT



@pytest.fixture
def input_folder(comfy, tmp_path, monkeypatch) -> Path:
    import folder_paths

    monkeypatch.setattr(folder_paths, "input_directory", str(tmp_path))
    return tmp_path


def test_registering_the_pack_offers_the_sample_clip_in_load_video(input_folder):
    from rewind.comfy_glue import folders
    from rewind.nodes import comfy_entrypoint

    asyncio.run(comfy_entrypoint())
    assert (input_folder / folders.SAMPLE_CLIP).read_bytes() == (REPO_ROOT / "assets" / "sample.mp4").read_bytes()
    assert folders.SAMPLE_CLIP in folders.video_files_in_input()


def test_a_users_file_of_that_name_is_kept(input_folder):
    from rewind.comfy_glue import folders

    (input_folder / folders.SAMPLE_CLIP).write_bytes(b"mine")
    folders.install_sample_clip()
    assert (input_folder / folders.SAMPLE_CLIP).read_bytes() == b"mine"


def test_every_shipped_workflow_loads_the_sample_clip():
    from rewind.comfy_glue.folders import SAMPLE_CLIP

    for path in sorted((REPO_ROOT / "example_workflows" / "api").glob("*.json")):
        loaders = [node for node in json.loads(path.read_text()).values() if node["class_type"] == "RewindLoadVideo"]
        assert [node["inputs"]["video"] for node in loaders] == [SAMPLE_CLIP], path.name
