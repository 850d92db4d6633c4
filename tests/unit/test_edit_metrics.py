"""The edit metrics (testbed/edit_metrics.py) on cases whose answer is known."""
import torch

from rewind.testbed import edit_metrics
from rewind.testbed.edit_fixtures import moving

MEANS = {"up": 1.0, "down": -1.0}


def gaussian_denoise(x, sigma, condition):
    """Exact clean estimate for N(mean, 0.5^2) data per condition."""
    mean, var = MEANS[condition], 0.25
    return mean + (x - mean) * var / (var + sigma**2)


def stills(count=3, seed=0):
    return torch.randn(count, 4, 16, 16, generator=torch.Generator().manual_seed(seed))


def smooth_stills(count=3, seed=0):
    """Image-like latents: neighbouring pixels alike, so motion alone changes a frame little."""
    coarse = torch.randn(count, 4, 4, 4, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(coarse, size=(16, 16), mode="bilinear")


def test_the_models_own_classifier_and_in_distribution_error_read_the_data():
    up = MEANS["up"] + 0.5 * stills()
    assert edit_metrics.classify(gaussian_denoise, up, list(MEANS)) == ["up"] * 3
    assert edit_metrics.prompt_adherence(gaussian_denoise, up, "down", list(MEANS)) == 0.0
    real = MEANS["up"] + 0.5 * stills(8, seed=1)
    assert abs(edit_metrics.in_distribution_error(gaussian_denoise, up, "up", real) - 1.0) < 0.2
    assert edit_metrics.in_distribution_error(gaussian_denoise, 3.0 * up, "up", real) > 2.0  # over-saturated


def test_warp_error_is_zero_along_each_clips_own_motion_and_not_along_another():
    clips = torch.cat([moving(stills(1), 6, (0, 1)), moving(stills(1, seed=2), 6, (1, -1))])
    assert edit_metrics.warp_error(clips, [(0, 1), (1, -1)]) < 1e-12
    assert edit_metrics.warp_error(clips, [(0, 1), (0, 1)]) > 0.5


def test_warp_error_and_flicker_see_frames_that_change_on_their_own():
    source = moving(smooth_stills(), 6, (0, 1))
    flickering = source + 0.3 * torch.randn(source.shape, generator=torch.Generator().manual_seed(3))
    assert edit_metrics.warp_error(flickering, [(0, 1)] * 3) > 0.05
    assert edit_metrics.flicker(source, source) == 1.0
    assert edit_metrics.flicker(flickering, source) > 1.05


def test_structure_is_the_layout_blind_to_fine_texture():
    source = smooth_stills()
    texture = 0.5 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(8, 8)  # a checkerboard averages out per block
    assert edit_metrics.pooled_correlation(source + texture, source) > 0.999
    assert abs(edit_metrics.pooled_correlation(stills(seed=4), source)) < 0.3
