"""Cancel (/interrupt) while the video nodes wait on ffmpeg: during the probe, the decode and the
encode of every Video Combine format. The prompt must end as interrupted, promptly, with the
ffmpeg process gone and no partial file; a hung ffmpeg nobody cancels must fail with a clear error.

The hangs come from the ffmpeg double (corpus.write_ffmpeg_double): it blocks ignoring SIGTERM as
ffmpeg does on a stalled input, or encodes in real time so the partial file is really being written.
Deadlines here detect hangs; the measured seconds are printed (`-s`) for the record."""
from __future__ import annotations

import time

import pytest

from rewind import video_io as vio
from rewind.testbed.server_client import PARTIAL_SUFFIX, load_and_combine
from rewind.testbed.media_corpus import HANG_DECODE, HANG_PROBE, SLOW_ENCODE, STALL_SECONDS, ffmpeg_children, noise_clip

HANG_DEADLINE = 10.0  # a hang detector (DEVELOPERS.md): Cancel lands in ~0.5 s; past 10 s the prompt hung


def assert_cancelled(outcome, seconds: float, server, what: str) -> None:
    print(f"\n{what}: Cancel ended the prompt in {seconds:.2f} s")
    assert outcome.status == "interrupted", (outcome.status, outcome.error)
    assert seconds < HANG_DEADLINE
    assert ffmpeg_children(server.process.pid) == []


@pytest.mark.parametrize("name", [HANG_PROBE, HANG_DECODE])
def test_cancel_stops_a_hung_load(client, corpus, hostile_server, name):
    uploaded = client.upload(corpus[name.replace("-", "_")])
    outcome, seconds = client.cancel_while_running(load_and_combine(uploaded), "1", after=1.0)
    assert_cancelled(outcome, seconds, hostile_server, f"load ({name})")


def test_hung_ffmpeg_without_cancel_fails_clearly_after_the_stall_limit(client, corpus):
    uploaded = client.upload(corpus["hang_probe"])
    started = time.monotonic()
    outcome = client.run(load_and_combine(uploaded, load={"frame_load_cap": 5}), within=STALL_SECONDS + 60)
    print(f"\nhung probe without Cancel failed after {time.monotonic() - started:.1f} s (limit {STALL_SECONDS} s)")
    assert outcome.status == "error"
    assert outcome.error.startswith(f"RewindLoadVideo: ffmpeg made no progress for {STALL_SECONDS} s while reading "
                                    f"'input/{uploaded}'"), outcome.error


ENCODED_FORMATS = [name for name in vio.FORMATS if name != "image/png-sequence"]


@pytest.mark.parametrize("fmt", ENCODED_FORMATS)
def test_cancel_during_encode_leaves_no_file(client, hostile_server, fmt):
    """The double encodes in real time (12 frames at 2 fps: 6 s); Cancel lands once the partial file exists."""
    prefix = f"hostile/{SLOW_ENCODE}-{fmt.replace('/', '-')}"
    prompt = load_and_combine(client.good, combine={"format": fmt, "frame_rate": 2.0, "filename_prefix": prefix})
    previews_before = set(client.files_under("temp", "*preview.mp4"))  # other tests' finished previews stay
    prompt_id = client.queue_and_wait_until_running(prompt, "2")
    wait_for(lambda: client.files_under("output", f".*{PARTIAL_SUFFIX}"), what="a partial output file")
    pressed = client.interrupt()
    outcome = client.outcome(prompt_id, within=60)
    assert_cancelled(outcome, outcome.ended_at - pressed, hostile_server, f"Video Combine {fmt}")
    assert client.files_under("output", f"{SLOW_ENCODE}-*") == []
    assert set(client.files_under("temp", "*preview.mp4")) == previews_before


def test_cancel_during_png_sequence_leaves_no_folder(client, hostile_server, corpus):
    """Writing 600 noisy 320x240 PNGs takes seconds; Cancel lands once the partial folder exists."""
    long_clip = client.upload(noise_clip(corpus["good"].parent, "noise-300.mp4", 300))
    prompt = load_and_combine(long_clip, combine={"format": "image/png-sequence", "pingpong": True,
                                                  "filename_prefix": "hostile/png-cancel"})
    prompt_id = client.queue_and_wait_until_running(prompt, "2")
    wait_for(lambda: [p for p in (hostile_server.base / "output" / "hostile").glob(f".*{PARTIAL_SUFFIX}")],
             what="a partial png folder")
    pressed = client.interrupt()
    outcome = client.outcome(prompt_id, within=60)
    assert_cancelled(outcome, outcome.ended_at - pressed, hostile_server, "Video Combine image/png-sequence")
    assert list((hostile_server.base / "output" / "hostile").glob("png-cancel*")) == []


def wait_for(found, what: str, within: float = 30.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.02)
    raise AssertionError(f"{what} never appeared")


def test_cancel_during_sampling_ends_the_prompt(client, hostile_server):
    """The reference model unsampling along 1000 exact steps: seconds of work, cancelled 0.3 s in."""
    from rewind.rewind_queue.main_job import reference_workflow
    from rewind.rewind_queue.workflow import with_required_defaults

    prompt = reference_workflow(client.good)
    prompt["4"]["inputs"]["steps"] = 1000
    prompt["9"]["inputs"]["filename_prefix"] = "hostile/sampling-cancel"
    prompt = with_required_defaults(prompt, client.api.object_info())
    outcome, seconds = client.cancel_while_running(prompt, "5", after=0.3)
    assert_cancelled(outcome, seconds, hostile_server, "sampling (RewindUnsampler)")
    assert client.files_under("output", "sampling-cancel*") == []
