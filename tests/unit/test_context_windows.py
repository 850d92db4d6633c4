"""Context window planning and the windowed denoiser (no ComfyUI)."""
from __future__ import annotations

import itertools

import pytest
import torch

from rewind.samplers import context as context_module
from rewind.samplers.context import (
    FUSE_METHODS,
    _plan,
    LAYOUT_FRAME_BATCH,
    LAYOUT_TEMPORAL,
    SCHEDULES,
    ContextOptions,
    PlanTooLarge,
    frames_that_fit,
    latent_window,
    pixel_to_latent_frames,
    plan_context,
    render_plan,
    resolve_frame_axis,
    windowed,
)

PRIOR_STD = 0.8


def gaussian_posterior_mean(x: torch.Tensor, sigma) -> torch.Tensor:
    """Exact x0 estimate for x = x0 + sigma*eps with x0 ~ N(0, s^2) per element: frame-independent."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return x * PRIOR_STD**2 / (PRIOR_STD**2 + sigma**2)


COMBINATIONS = [
    ContextOptions(schedule=s, fuse_method=f, length=8, overlap=3, stride=stride, closed_loop=loop)
    for s, f, stride, loop in itertools.product(SCHEDULES, FUSE_METHODS, (1, 3), (False, True))
]


@pytest.mark.parametrize("options", COMBINATIONS, ids=repr)
@pytest.mark.parametrize("num_frames", [1, 8, 9, 21, 40])
def test_every_frame_covered_and_weights_sum_to_one(options, num_frames):
    plan = plan_context(num_frames, options, 1)
    covered = sorted(set(itertools.chain.from_iterable(plan.windows)))
    assert covered == list(range(num_frames))
    per_frame = torch.zeros(num_frames, dtype=torch.float64)
    for w, window in enumerate(plan.windows):
        assert len(set(window)) == len(window), "a frame appears twice in one window"
        assert len(window) <= 8
        assert (plan.window_weights(w) > 0).all()
        per_frame[list(window)] += plan.window_weights(w)
    assert torch.allclose(per_frame, torch.ones(num_frames, dtype=torch.float64))


@pytest.mark.parametrize("options", COMBINATIONS, ids=repr)
def test_windows_depend_only_on_frame_count(options):
    """Both directions plan from the same inputs; nothing about steps or sigmas goes in."""
    unsample = plan_context(40, options, 1)
    _plan.cache_clear()
    resample = plan_context(40, ContextOptions(**vars(options)), 1)
    assert unsample.windows == resample.windows
    assert torch.equal(unsample.shares, resample.shares) and unsample.starts == resample.starts


@pytest.mark.parametrize("options", COMBINATIONS, ids=repr)
def test_windowed_matches_whole_clip_frame_batch(options):
    x = torch.randn(21, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    denoise = windowed(gaussian_posterior_mean, plan_context(21, options, 1), frame_axis=0)
    for sigma in (14.6, 1.0, 0.03, torch.linspace(0.1, 3.0, 21)):
        expected = gaussian_posterior_mean(x, sigma)
        got = denoise(x, sigma)
        assert torch.linalg.norm(got - expected) <= 1e-5 * torch.linalg.norm(expected)


@pytest.mark.parametrize("options", COMBINATIONS[::3], ids=repr)
def test_windowed_matches_whole_clip_temporal_axis(options):
    options = ContextOptions(**{**vars(options), "length": 17, "overlap": 8, "layout": LAYOUT_TEMPORAL})
    x = torch.randn(1, 16, 21, 4, 4, generator=torch.Generator().manual_seed(1))  # 81 pixel frames
    plan = plan_context(21, options, 4)
    assert max(len(w) for w in plan.windows) == 5
    denoise = windowed(gaussian_posterior_mean, plan, frame_axis=2)
    expected = gaussian_posterior_mean(x, 0.7)
    assert torch.linalg.norm(denoise(x, 0.7) - expected) <= 1e-5 * torch.linalg.norm(expected)


def test_windowed_model_only_sees_window_sized_inputs():
    seen = []

    def spy(x, sigma):
        seen.append(x.shape[0])
        return x

    windowed(spy, plan_context(64, ContextOptions(length=16, overlap=4), 1), 0)(torch.zeros(64, 1, 2, 2), 1.0)
    assert seen and max(seen) == 16


def test_overlapping_windows_blend_different_predictions():
    """A model that sees a window's mean must give overlap frames a mixture, weighted by the plan."""
    plan = plan_context(12, ContextOptions(length=8, overlap=4, fuse_method="flat"), 1)
    assert plan.windows == (tuple(range(0, 8)), tuple(range(4, 12)))
    x = torch.arange(12.0).reshape(12, 1)
    out = windowed(lambda xs, s: xs.mean().expand_as(xs), plan, 0)(x, 1.0)
    assert out[0].item() == pytest.approx(3.5)
    assert out[11].item() == pytest.approx(7.5)
    assert out[5].item() == pytest.approx(5.5)  # half of each window


def test_pixel_lengths_map_to_latent_frames_by_the_compression():
    assert pixel_to_latent_frames(81, 4) == 21
    assert pixel_to_latent_frames(1, 4) == 1
    assert pixel_to_latent_frames(0, 4) == 0
    assert latent_window(ContextOptions(length=81, overlap=17, layout=LAYOUT_TEMPORAL), 4) == (21, 5)
    assert latent_window(ContextOptions(length=81, overlap=17), 1) == (81, 17)
    assert latent_window(ContextOptions(length=49, overlap=12, layout=LAYOUT_TEMPORAL), 6) == (9, 2)  # Mochi, 6n+1
    assert latent_window(ContextOptions(length=97, overlap=24, layout=LAYOUT_TEMPORAL), 8) == (13, 3)  # LTX-Video, 8n+1


def test_layout_resolution_and_mismatch_errors():
    assert resolve_frame_axis("auto", 4) == 0
    assert resolve_frame_axis("auto", 5) == 2
    with pytest.raises(ValueError, match="5-D video latent"):
        resolve_frame_axis(LAYOUT_TEMPORAL, 4)
    with pytest.raises(ValueError, match="4-D frame batch"):
        resolve_frame_axis(LAYOUT_FRAME_BATCH, 5)


def test_bad_options_say_what_to_change():
    with pytest.raises(ValueError, match="lower the overlap"):
        ContextOptions(length=8, overlap=8)
    with pytest.raises(ValueError, match="context_schedule"):
        ContextOptions(schedule="uniform_looped")
    ContextOptions(schedule="batched", length=8, overlap=8)  # batched ignores the overlap


def test_uniform_stride_adds_dilated_windows_and_looped_wraps():
    uniform = plan_context(32, ContextOptions(schedule="uniform", length=8, overlap=2, stride=2), 1)
    assert any(w[1] - w[0] == 2 for w in uniform.windows)
    static = plan_context(32, ContextOptions(schedule="static", length=8, overlap=2), 1)
    assert all(w[1] - w[0] == 1 for w in static.windows)
    looped = plan_context(20, ContextOptions(schedule="looped", length=8, overlap=2, closed_loop=True), 1)
    assert any(w[0] > w[-1] for w in looped.windows), "a closed loop joins the last frames to the first"


def test_frames_that_fit():
    assert frames_that_fit(bytes_per_frame=100, copies=4, available_bytes=1000) == 2
    assert frames_that_fit(bytes_per_frame=100, copies=4, available_bytes=10) == 0


def test_a_plan_too_large_to_run_is_refused_before_it_is_built():
    options = ContextOptions(schedule="uniform", length=4096, overlap=4095, stride=8)
    with pytest.raises(PlanTooLarge, match=r"100000 frames in uniform windows of 4096 \(overlap 4095\) make \d+ windows.*MiB"):
        plan_context(100000, options, 1)


@pytest.mark.parametrize("options", COMBINATIONS, ids=repr)
def test_the_size_check_counts_at_least_every_window_frame(options, monkeypatch):
    plan = plan_context(40, options, 1)
    entries = sum(len(window) for window in plan.windows)
    _plan.cache_clear()
    monkeypatch.setattr(context_module, "MAX_PLAN_FRAMES", entries - 1)
    if entries > 40:  # a single window, or batched chunks, are never refused
        with pytest.raises(PlanTooLarge):
            plan_context(40, options, 1)
    _plan.cache_clear()


def test_long_clips_render_at_a_bounded_size():
    plan = plan_context(5000, ContextOptions(length=4, overlap=0, fuse_method="flat"), 1)
    image = render_plan(plan, width=1024, max_rows=64, row_height=12)
    assert image.shape == (64 * 12, 1024, 3)
    assert image.max() <= 1.0 and (image[::12].amax(dim=(0, 2)) > 0.5).all(), "every column shows a full share"
    small = render_plan(plan_context(40, ContextOptions(length=16, overlap=4), 1), width=1024)
    assert small.shape == (3 * 12, 40 * (1024 // 40), 3)
