"""Hostile files and paths for the video loaders, over HTTP: playlists that never end, broken and
odd files, traversal and absolute names, paths outside ComfyUI's folders, output prefixes that
try to escape. Each case must end in a clear refusal or error naming node and input, with the
server still serving (the `client` fixture checks that, and that nothing was left or written)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rewind.testbed.server_client import load_and_combine


def node_errors(body: dict, node_id: str = "1") -> list[dict]:
    return body["node_errors"][node_id]["errors"]


def only_reason(body: dict, node_id: str = "1") -> str:
    """The one error ComfyUI reports for the node (a per-input repeat would be a bug)."""
    errors = node_errors(body, node_id)
    assert len(errors) == 1, errors
    return errors[0]["details"]


def test_live_playlist_is_refused_before_ffmpeg_opens_it(client, corpus):
    playlist = client.upload(corpus["live_playlist"])
    client.upload(corpus["segment"])
    started = time.monotonic()
    reason = only_reason(client.rejection(load_and_combine(playlist)))
    assert time.monotonic() - started < 10  # a hang detector (DEVELOPERS.md): the unfixed server never answered
    assert reason.startswith("video - RewindLoadVideo: 'input/live.m3u8' is an HLS playlist, not a video file"), reason


@pytest.mark.parametrize("name", ["live-renamed", "concat", "dash", "manifest"])
def test_playlists_and_lists_under_any_name_are_refused(client, corpus, name):
    uploaded = client.upload(corpus[name])
    reason = only_reason(client.rejection(load_and_combine(uploaded)))
    assert f"RewindLoadVideo: 'input/{uploaded}' is a" in reason and "not a video file" in reason, reason


@pytest.mark.parametrize("name, says", [("truncated", "has a video stream with no frames"), ("corrupt", "has no video stream"),
                                        ("empty", "is not a readable video"), ("audio_only", "has no video stream")])
def test_broken_files_fail_with_a_clear_error(client, corpus, hostile_server, name, says):
    uploaded = client.upload(corpus[name])
    outcome = client.run(load_and_combine(uploaded))
    assert outcome.status == "error"
    assert outcome.error.startswith(f"RewindLoadVideo: 'input/{uploaded}' {says}"), outcome.error
    assert str(hostile_server.base) not in outcome.error and "\n" not in outcome.error.strip()


@pytest.mark.parametrize("name, size", [("odd_size", (63, 47)), ("one_pixel", (1, 1))])
def test_odd_sizes_load_at_their_own_size(client, corpus, name, size):
    uploaded = client.upload(corpus[name])
    outcome = client.run(load_and_combine(uploaded, combine={"filename_prefix": f"hostile/{name}"}))
    assert outcome.status == "success", outcome.error
    written = client.files_under("output", f"{name}_*.gif")
    assert written, outcome.outputs
    from rewind import video_io as vio

    probed = vio.probe(str(written[-1]))
    assert (probed.width, probed.height) == size


def test_traversal_absolute_and_linked_names_are_refused_by_the_upload_loader(client, canary, hostile_server):
    secret = canary / "secret.mp4"
    link = Path(hostile_server.base) / "input" / "innocent.mp4"
    if not link.is_symlink():
        link.symlink_to(secret)
    names = ["../../canary/secret.mp4", os.path.relpath(secret, Path(hostile_server.base) / "input"), str(secret),
             "innocent.mp4", "missing.mp4"]
    for name in names:
        reason = only_reason(client.rejection(load_and_combine(name)))
        assert reason.startswith(f"video - RewindLoadVideo: video {name!r} is not a file in ComfyUI's input folder"), reason


def test_path_loader_refuses_outside_paths_without_saying_whether_they_exist(client, canary, hostile_server):
    junk = canary / "junk.mp4"
    reasons = {only_reason(client.rejection(load_and_combine(str(path), node="RewindLoadVideoPath")))
               for path in (canary / "secret.mp4", junk, canary / "missing.mp4", "../../canary/secret.mp4", "/etc/passwd")}
    assert len(reasons) == 1, reasons
    reason = reasons.pop()
    assert reason.startswith("video - RewindLoadVideoPath: video: that path is outside the folders") and "canary" not in reason


@pytest.mark.parametrize("name", ["{canary}/secret.mp4", "../../canary/secret.mp4", "{canary}/junk.mp4"])
def test_a_core_video_of_a_file_outside_the_allowed_folders_is_refused_like_its_path(client, canary, name):
    """Core Load Video joins any name to the input folder ('..' and absolute ones too: ComfyUI 0.3.75 skips a V3
    combo's option check), so its VIDEO may point anywhere. Before: Rewind Load Video had no VIDEO input."""
    name = name.format(canary=canary)
    typed = only_reason(client.rejection(load_and_combine(name, node="RewindLoadVideoPath")))
    prompt = {"0": {"class_type": "LoadVideo", "inputs": {"file": name}}, **load_and_combine(client.good)}
    prompt["1"]["inputs"]["core_video"] = ["0", 0]
    outcome = client.run(prompt)
    assert outcome.status == "error"
    assert outcome.error.strip() == typed.removeprefix("video - ").replace("RewindLoadVideoPath: video:",
                                                                          "RewindLoadVideo: core_video:"), outcome.error
    assert "canary" not in outcome.error


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/clip.mp4", "rtsp://127.0.0.1:9/live", "file:///etc/passwd"])
def test_path_loader_refuses_urls_and_streams(client, url):
    reason = only_reason(client.rejection(load_and_combine(url, node="RewindLoadVideoPath")))
    assert reason.startswith("video - RewindLoadVideoPath: video: URLs and streams are not loaded"), reason


def test_path_loader_reads_inside_comfyui_folders_and_names_them_relatively(client, hostile_server):
    inside = Path(hostile_server.base) / "input" / client.good
    outcome = client.run(load_and_combine(str(inside), node="RewindLoadVideoPath",
                                          load={"frame_load_cap": 3}, combine={"filename_prefix": "hostile/by_path"}))
    assert outcome.status == "success", outcome.error
    reason = only_reason(client.rejection(load_and_combine(str(inside.with_name("gone.mp4")), node="RewindLoadVideoPath")))
    assert reason == ("video - RewindLoadVideoPath: video file not found: 'input/gone.mp4'. Check the path, "
                      "or upload the file into ComfyUI's input folder."), reason


@pytest.mark.parametrize("prefix", ["../../canary/escape", "{canary}/escape", "hostile/../../../canary/escape"])
def test_output_prefix_cannot_escape_the_output_folder(client, canary, prefix):
    prefix = prefix.format(canary=canary)
    outcome = client.run(load_and_combine(client.good, load={"frame_load_cap": 2}, combine={"filename_prefix": prefix}))
    assert outcome.status == "error"
    assert outcome.error.startswith(f"RewindVideoCombine: filename_prefix {prefix!r} must name a file inside the output folder")
