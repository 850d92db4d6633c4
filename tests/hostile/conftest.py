"""The hostile tier: a real headless ComfyUI server fed corrupt, unbounded and traversal inputs.

Every test here is marked `hostile` by the folder (tests/conftest.py; `make test-hostile`). The server has its own base directory
and runs with the ffmpeg test double from testbed/media_corpus.py, which behaves as the real ffmpeg except for
the corpus files named to make it hang or run slowly. A canary folder beside the base directory
holds a readable video that no prompt may load and a folder no prompt may write into.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rewind.rewind_queue.server import ComfyServer, prepare_base_directory

from rewind.testbed.server_client import HostileClient
from rewind.testbed.media_corpus import STALL_SECONDS, build_corpus, good_clip, write_ffmpeg_double



@pytest.fixture(scope="session")
def hostile_server(tmp_path_factory, comfyui_tree):
    """A ComfyUI server (CPU) for hostile input, with the ffmpeg double and a short stall limit."""
    root = tmp_path_factory.mktemp("hostile")
    base = prepare_base_directory(root / "base")
    double = write_ffmpeg_double(root / "ffmpeg-double")
    with pytest.MonkeyPatch.context() as env:  # the server process inherits these; this one is restored
        env.setenv("REWIND_FFMPEG_PATH", str(double))
        env.setenv("REWIND_FFMPEG_TIMEOUT", str(STALL_SECONDS))
        env.delenv("REWIND_ALLOWED_VIDEO_DIRS", raising=False)
        server = ComfyServer(comfyui_tree, base).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def corpus(hostile_server) -> dict[str, Path]:
    """The corpus, built in a folder outside ComfyUI's (upload what a test needs)."""
    return build_corpus(Path(hostile_server.base).parent / "corpus")


@pytest.fixture(scope="session")
def canary(hostile_server) -> Path:
    """A folder outside ComfyUI's folders with a readable video and an unreadable file in it."""
    folder = Path(hostile_server.base).parent / "canary"
    folder.mkdir(exist_ok=True)
    good_clip(folder, "secret.mp4")
    (folder / "junk.mp4").write_bytes(b"\0not a video" * 50)
    return folder


@pytest.fixture
def client(hostile_server, corpus, canary):
    """A client for the hostile server; after the test, the server must still run a good prompt,
    have no half-written file anywhere, and nothing new may have appeared beside its base folder."""
    client = HostileClient(hostile_server.url, hostile_server.base)
    client.good = client.upload(corpus["good"])
    around = sorted(path.name for path in Path(hostile_server.base).parent.iterdir())
    canary_before = sorted(path.name for path in canary.iterdir())
    yield client
    assert client.partial_files() == []
    assert sorted(path.name for path in Path(hostile_server.base).parent.iterdir()) == around
    assert sorted(path.name for path in canary.iterdir()) == canary_before
    client.assert_serves_next_prompt(client.good)
