"""The peer /object_info the workflows are validated against lives in the repo, trimmed from the
full dumps by the same code scripts/build_workflows.py --refresh-peer-schemas runs."""
from __future__ import annotations

import json

import pytest

from rewind.example_workflows.source.schemas import PEER_DUMPS, peer_object_info, trim_peer_dumps


def test_refreshing_from_full_dumps_reproduces_the_committed_trimmed_copy(tmp_path):
    committed = peer_object_info()
    assert set(committed) == set(PEER_DUMPS)
    for source, name in PEER_DUMPS.items():
        unused = {"NodeNoWorkflowUses": {"input": {"required": {}}, "output": []}}
        (tmp_path / name).write_text(json.dumps({**unused, **committed[source]}))
    assert trim_peer_dumps(tmp_path) == committed


def test_refreshing_from_a_folder_without_the_dumps_names_the_flag_and_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--refresh-peer-schemas: .* lacks \['comfyui_0.3.75.object_info.json'"):
        trim_peer_dumps(tmp_path)
