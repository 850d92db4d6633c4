"""What the reference job (`make run`) takes on: caps keep the aspect and the codec's 8 px multiple, 0 lifts a cap."""
from __future__ import annotations

import pytest

from rewind.rewind_queue.main_job import MAX_FRAMES, MAX_WIDTH, estimated_seconds, job_size


def test_an_hd_clip_is_capped_to_the_default_width_and_frames_keeping_its_aspect():
    size = job_size(1280, 720, 180, MAX_WIDTH, MAX_FRAMES)
    assert (size.width, size.height, size.frames) == (512, 288, 48)
    assert "restyling 48 of 180 frames at 512x288 of the 1280x720 clip (WIDTH=0 FRAMES=0" in size.describe()


def test_zero_lifts_each_cap_and_a_small_clip_is_taken_whole():
    assert (job_size(1280, 720, 180, 0, 0).width, job_size(1280, 720, 180, 0, 0).frames) == (1280, 180)
    small = job_size(256, 256, 24, MAX_WIDTH, MAX_FRAMES)
    assert (small.width, small.height, small.frames) == (256, 256, 24)
    assert "WIDTH=0" not in small.describe()


@pytest.mark.parametrize("width, height", [(1000, 563), (333, 777), (4, 4)])
def test_sizes_snap_to_the_codecs_multiple(width, height):
    size = job_size(width, height, 10, MAX_WIDTH, MAX_FRAMES)
    assert size.width % 8 == 0 and size.height % 8 == 0 and size.width <= max(MAX_WIDTH, 8)


def test_the_estimate_grows_with_the_work():
    assert estimated_seconds(1280, 720, 180) > 10 * (estimated_seconds(512, 288, 48) - estimated_seconds(8, 8, 1))
