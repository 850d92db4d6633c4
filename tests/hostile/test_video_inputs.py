"""Out-of-range numbers and unknown choices for the video nodes, sent over the API as a script
would send them (NaN included: ComfyUI's JSON parser accepts it). Each must be refused with one
message naming the node and the input: by ComfyUI at /prompt where its own range checks apply,
else by the node before any ffmpeg work."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from rewind.rewind_queue.api import PromptRejected
from rewind.testbed.server_client import load_and_combine

NAN, INF = float("nan"), float("inf")


def queue_raw(client, prompt: dict) -> str:
    """/prompt with NaN/Infinity written as JavaScript literals (json.dumps does, like many clients)."""
    body = json.dumps({"prompt": prompt, "client_id": client.client_id}).encode()
    request = urllib.request.Request(client.api.url + "/prompt", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["prompt_id"]
    except urllib.error.HTTPError as error:
        raise PromptRejected(json.loads(error.read())) from None


def refusal(client, prompt: dict) -> str:
    """The one message for node 1 or 2, from /prompt or from the run."""
    try:
        prompt_id = queue_raw(client, prompt)
    except PromptRejected as rejected:
        errors = [(node_id, error) for node_id, report in rejected.body["node_errors"].items() for error in report["errors"]]
        assert len(errors) == 1, errors
        node_id, error = errors[0]
        return f"{rejected.body['node_errors'][node_id]['class_type']}: {error['extra_info']['input_name']}: {error['message']}"
    outcome = client.outcome(prompt_id)
    assert outcome.status == "error", outcome.status
    return outcome.error.strip()


@pytest.mark.parametrize("name, value", [
    ("frame_load_cap", -1), ("custom_width", -8), ("custom_width", 10**9), ("force_rate", -1.0), ("force_rate", INF),
    ("force_rate", NAN), ("skip_first_frames", -5), ("select_every_nth", 0), ("model_preset", "SD9"),
    ("resize_mode", "zoom"),
])
def test_loader_inputs_out_of_range_are_refused_naming_node_and_input(client, name, value):
    message = refusal(client, load_and_combine(client.good, load={name: value}))
    print(f"\n{message}")
    assert re.match(rf"RewindLoadVideo: '?{name}'?[: ]", message), message
    assert "\n" not in message


@pytest.mark.parametrize("name, value, says", [
    ("format", "video/avi", "is not one of its options"), ("pix_fmt", "rgb48", "is not one of its options"),
    ("pix_fmt", "yuv422p10le", "does not work with image/gif"), ("frame_rate", NAN, "set a number"),
    ("frame_rate", 0.0, "smaller than min"), ("crf", 70, "out of range for video/h264-mp4"),
    ("loop_count", -1, "smaller than min"),
])
def test_combine_inputs_out_of_range_are_refused_naming_node_and_input(client, name, value, says):
    combine = {name: value, "filename_prefix": "hostile/inputs"}
    if name == "crf":
        combine["format"] = "video/h264-mp4"
    message = refusal(client, load_and_combine(client.good, load={"frame_load_cap": 2}, combine=combine))
    print(f"\n{message}")
    assert message.startswith("RewindVideoCombine: "), message
    assert name in message and says in message, message
    assert client.files_under("output", "inputs_*") == []


def test_a_load_that_cannot_fit_is_refused_with_the_memory_figure(client):
    huge = {"force_rate": 240.0, "custom_width": 8192, "custom_height": 8192}
    message = refusal(client, load_and_combine(client.good, load=huge))
    assert message.startswith("RewindLoadVideo: 'input/good.mp4': 360 frames at 8192x8192 need 289.9 GB"), message
    assert "frame_load_cap" in message


def test_a_missing_file_is_one_message_not_one_per_input(client):
    body = client.rejection(load_and_combine("no-such-video.mp4"))
    errors = body["node_errors"]["1"]["errors"]
    assert len(errors) == 1 and errors[0]["extra_info"]["input_name"] == "video", errors
