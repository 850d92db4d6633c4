"""Video Combine's outputs on a shared server (issue 17, items 5-7), over HTTP: every job's preview is its
own, no result ever replaces a file, and what the file system refuses is one line naming filename_prefix
without a server path. The `client` fixture checks after each test that the server still runs a good
prompt and that nothing half-written was left."""
from __future__ import annotations

from pathlib import Path

from rewind import video_io as vio
from rewind.testbed.server_client import load_and_combine


def written(client, prompt: dict) -> list[dict]:
    """The ui entries Video Combine ("2") reported for `prompt`, which must succeed."""
    outcome = client.run(prompt)
    assert outcome.status == "success", outcome.error
    return outcome.outputs["2"]["images"]


def file_of(server, entry: dict) -> Path:
    return Path(server.base) / entry["type"] / entry["subfolder"] / entry["filename"]


def test_every_prores_job_keeps_its_own_preview_in_its_subfolder(client, hostile_server):
    """Before: userA/clip and userB/clip both previewed as temp/clip_00001_preview.mp4, so A's preview showed B's
    video (and a temp-folder job's preview replaced an output job's)."""
    jobs = [("hostile/userA/clip", True, 2), ("hostile/userB/clip", True, 3), ("hostile/userA/clip", False, 4)]
    previews = []
    for prefix, save_output, frames in jobs:
        entry, = written(client, load_and_combine(client.good, load={"frame_load_cap": frames}, combine={
            "format": "video/ProRes", "filename_prefix": prefix, "save_output": save_output}))
        assert entry["type"] == "temp" and entry["subfolder"] == prefix.rpartition("/")[0], entry
        previews.append(file_of(hostile_server, entry))
    assert [vio.probe(str(path)).frame_count for path in previews] == [frames for _, _, frames in jobs]


def test_a_prefix_naming_a_folder_never_replaces_the_last_file(client, hostile_server):
    """Before: 'trail/' wrote output/hostile/trail_00001_.mp4 every time (ComfyUI's counter reads the prefix's
    file name as empty), and each run replaced the one before."""
    paths = []
    for frames in (2, 3):
        entry, = written(client, load_and_combine(client.good, load={"frame_load_cap": frames}, combine={
            "format": "video/h264-mp4", "filename_prefix": "hostile/trail/"}))
        paths.append(file_of(hostile_server, entry))
    assert paths[0] != paths[1] and {path.parent for path in paths} == {Path(hostile_server.base) / "output" / "hostile" / "trail"}
    assert [vio.probe(str(path)).frame_count for path in paths] == [2, 3]


def refusal(client, hostile_server, prefix: str) -> str:
    outcome = client.run(load_and_combine(client.good, load={"frame_load_cap": 2},
                                          combine={"format": "video/h264-mp4", "filename_prefix": prefix}))
    assert outcome.status == "error"
    assert str(hostile_server.base) not in outcome.error and "\n" not in outcome.error.strip(), outcome.error
    return outcome.error.strip()  # ComfyUI ends the message with a line break


def test_a_prefix_too_long_for_a_file_name_is_one_line_naming_it(client, hostile_server):
    """Before: `[Errno 36] File name too long: '/<server path>/output/hostile/.AAAA....partial'`, raised by the
    partial's cleanup over ffmpeg's own error."""
    error = refusal(client, hostile_server, "hostile/" + "A" * 250)
    assert error == ("RewindVideoCombine: filename_prefix 'hostile/AAAA...AAAAAAAAAAAAA' makes a file or folder name too "
                     "long for the server's file system (most allow 255 bytes per name, counter and extension included); "
                     "shorten it."), error


def test_a_prefix_through_an_existing_file_is_one_line_naming_it(client, hostile_server):
    """Before: ComfyUI's `NotADirectoryError: [Errno 20] Not a directory: '/<server path>/output/hostile/a-file.mp4'`."""
    blocker = Path(hostile_server.base) / "output" / "hostile" / "a-file.mp4"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"somebody's file")
    error = refusal(client, hostile_server, "hostile/a-file.mp4/clip")
    assert error == ("RewindVideoCombine: filename_prefix 'hostile/a-file.mp4/clip' needs 'output/hostile/a-file.mp4' to "
                     "be a folder, but it is a file; choose another prefix."), error
    assert blocker.read_bytes() == b"somebody's file"
