"""Unit tests of the temporal-consistency figure (coherence/consistency.py) and the contact sheet."""
from pathlib import Path

import numpy as np
import pytest
import torch

from rewind.coherence.consistency import estimate_motion, warp_error
from rewind.video_io import NumberedName, contact_sheet, write_contact_sheet
from rewind.video_io.sheet import MAX_SHEET_WIDTH


def sliding_clip(frames=6, size=64, step=8, seed=0):
    """A smooth texture sliding `step` px right per frame: (T, H, W, 3) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    wide = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8 + frames, generator=g), size=(size, size + step * frames),
                                           mode="bilinear", align_corners=False)[0]
    return torch.stack([wide[:, :, step * (frames - t) : step * (frames - t) + size] for t in range(frames)]).movedim(1, -1)


def test_motion_following_video_scores_far_below_a_flickering_one():
    source = sliding_clip()
    motion = estimate_motion(source)
    steady = warp_error(source, motion)
    noisy = source + 0.1 * torch.randn(source.shape, generator=torch.Generator().manual_seed(1))
    assert steady < 0.01
    assert warp_error(noisy, motion) > 5 * steady
    # Without motion compensation (a still source's motion), the sliding clip itself looks unsteady.
    assert warp_error(source, estimate_motion(source[:1].expand_as(source))) > 5 * steady


def test_warp_error_needs_the_source_frame_count():
    source = sliding_clip()
    with pytest.raises(ValueError, match="frames"):
        warp_error(source[:3], estimate_motion(source))


def test_contact_sheet_puts_the_same_moments_above_each_other():
    before = np.zeros((10, 8, 8, 3), np.float32)
    after = np.ones((10, 8, 8, 3), np.float32)
    before[9] = 0.5
    sheet = contact_sheet([before, after], columns=3)
    assert sheet.shape == (8 + 4 + 8, 3 * 8 + 2 * 4, 3) and sheet.dtype == np.uint8
    assert (sheet[:8, :8] == 0).all() and (sheet[:8, -8:] == 128).all()  # first and last frame on top
    assert (sheet[12:, :8] == 255).all()
    with pytest.raises(ValueError, match="differ"):
        contact_sheet([before, after[:5]], columns=3)


def test_contact_sheet_of_an_hd_clip_is_shrunk_to_fit_a_screen_keeping_its_colours():
    frames = np.zeros((12, 720, 1280, 3), np.uint8)
    frames[..., 0] = 200  # a red clip, left half bright green in the last frame
    frames[-1, :, :640, 1] = 255
    sheet = contact_sheet([frames, frames], columns=6)
    assert sheet.shape[1] <= MAX_SHEET_WIDTH, sheet.shape  # 6 x 1280 px would be 7700 px wide
    tile_width = (sheet.shape[1] + 4) // 6 - 4
    assert tile_width >= 1280 // 5  # shrunk by the smallest factor that fits
    assert tuple(sheet[0, 0]) == (200, 0, 0)
    last_tile = sheet[0, -tile_width:]
    assert tuple(last_tile[0]) == (200, 255, 0) and tuple(last_tile[-1]) == (200, 0, 0)


def test_contact_sheets_under_one_prefix_never_replace_each_other(tmp_path):
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    target = NumberedName(str(tmp_path), "sheet", 1, ".png")
    first, second = (write_contact_sheet(target, [frames], columns=2) for _ in range(2))
    assert (Path(first).name, Path(second).name) == ("sheet_00001_.png", "sheet_00002_.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sheet_00001_.png", "sheet_00002_.png"]
