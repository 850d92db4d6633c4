"""Latent-coherence hooks (no ComfyUI)."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from rewind.coherence.guidance import Coherence, active_steps, low_pass, pull_windows_together
from rewind.samplers.context import FUSE_METHODS, SCHEDULES, ContextOptions, plan_context
from rewind.samplers.hooks import LoopInfo


def info_for(steps: int, frame_axis: int = 0, trajectory=None) -> LoopInfo:
    sigmas = torch.linspace(10.0, 0.0, steps + 1).tolist()
    return LoopInfo("resample", sigmas, frame_axis, "eps", trajectory or {})


def run_hook(coherence: Coherence, x: torch.Tensor, info: LoopInfo) -> torch.Tensor:
    hook = coherence.make_hook(info)
    for step in range(len(info.sigmas) - 1):
        x = hook(x, x, step, info)
    return x


def smooth_field(size: int, frames: int = 3, seed: int = 0) -> torch.Tensor:
    """The same smooth content sampled at any resolution."""
    coarse = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)


def flickering_clip(frames=24, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scene = smooth_field(32, 1, seed).expand(frames, -1, -1, -1)
    flicker = 0.8 * torch.randn(frames, 4, 1, 1, generator=g)
    return scene + flicker + 0.05 * torch.randn(frames, 4, 32, 32, generator=g)


def frame_difference(x: torch.Tensor, frame_axis: int = 0) -> float:
    return x.diff(dim=frame_axis).abs().mean().item()


def test_hook_acts_only_between_start_and_end_percent():
    info = info_for(10)
    hook = Coherence("temporal", 0.5, start_percent=0.3, end_percent=0.6).make_hook(info)
    x = flickering_clip(4)
    changed = [not torch.equal(hook(x, x, step, info), x) for step in range(10)]
    assert changed == [False, False, False, True, True, True, False, False, False, False]
    assert active_steps(10, 0.0, 1.0) == tuple(range(10))
    assert Coherence("temporal", 0.0).make_hook(info) is None
    assert Coherence("temporal", 0.5, 0.3, 0.45).make_hook(info_for(4)) is None  # no step starts in range


@pytest.mark.parametrize("steps", [3, 8, 25])
def test_strength_is_the_total_pull_whatever_the_step_count(steps):
    x = smooth_field(16)
    anchor = torch.zeros_like(x)
    info = info_for(steps, trajectory={s: anchor for s in info_for(steps).sigmas})
    out = run_hook(Coherence("source anchor", 0.75), x, info)
    assert torch.allclose(out, 0.25 * x, atol=1e-5)


@pytest.mark.parametrize("mode, low", [("temporal", 0.0), ("temporal", 0.1), ("source anchor", 0.1)])
def test_effect_does_not_depend_on_resolution(mode, low):
    effects = []
    for size in (32, 64):
        x = smooth_field(size, frames=6)
        anchor = smooth_field(size, frames=6, seed=5)
        info = info_for(6, trajectory={s: anchor for s in info_for(6).sigmas})
        out = run_hook(Coherence(mode, 0.6, low_pass=low), x, info)
        effects.append((torch.linalg.norm(out - x) / torch.linalg.norm(x)).item())
    assert effects[0] > 0.05
    assert effects[1] == pytest.approx(effects[0], rel=0.05)


def test_temporal_mode_reduces_flicker():
    x = flickering_clip()
    out = run_hook(Coherence("temporal", 0.6), x, info_for(10))
    assert frame_difference(out) < 0.5 * frame_difference(x)
    assert torch.equal(out[0], x[0]), "the first frame is the reference, never moved"


def test_temporal_mode_follows_the_frame_axis_of_video_latents():
    x = flickering_clip(8)
    batch = run_hook(Coherence("temporal", 0.5, low_pass=0.05), x, info_for(5, frame_axis=0))
    video = run_hook(Coherence("temporal", 0.5, low_pass=0.05), x.permute(1, 0, 2, 3).unsqueeze(0), info_for(5, frame_axis=2))
    assert torch.allclose(video[0].permute(1, 0, 2, 3), batch, atol=1e-5)


def test_low_pass_keeps_means_and_removes_detail():
    x = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    blurred = low_pass(x, 0.1)
    assert torch.allclose(blurred.mean((-2, -1)), x.mean((-2, -1)), atol=0.05)
    assert blurred.std() < 0.3 * x.std()
    assert torch.equal(low_pass(x, 0.0), x)


def test_source_anchor_needs_the_unsampler_trajectory():
    with pytest.raises(ValueError, match="Rewind Unsampler"):
        Coherence("source anchor", 0.5).make_hook(info_for(4))
    other_schedule = {s + 0.37: torch.zeros(1) for s in info_for(4).sigmas}
    with pytest.raises(ValueError, match="same schedule"):
        Coherence("source anchor", 0.5).make_hook(info_for(4, trajectory=other_schedule))


def test_window_agreement_pulls_window_tones_together_and_keeps_detail():
    context = ContextOptions(length=8, overlap=2)  # windows 0-7, 6-13, 12-19
    x = smooth_field(16, frames=20)
    x[8:12] += 2.0  # the middle window drifted brighter
    out = run_hook(Coherence("window agreement", 0.8, context=context), x, info_for(6))
    gap = lambda y: (y[8:12].mean() - y[:6].mean()).abs().item()  # noqa: E731
    assert gap(out) < 0.6 * gap(x)
    detail = lambda y: y - y.mean((-2, -1), keepdim=True)  # noqa: E731
    assert torch.allclose(detail(out), detail(x), atol=1e-5)


def dense_window_agreement(x: torch.Tensor, context: ContextOptions, pull: float) -> torch.Tensor:
    """The same pull with windows x frames and windows x windows matrices (fine for a short clip)."""
    plan = plan_context(x.shape[0], context, 1)
    means = x.mean(dim=(-2, -1), keepdim=True).double()
    weights = torch.zeros(len(plan.windows), x.shape[0], dtype=torch.float64)
    for w, window in enumerate(plan.windows):
        weights[w, list(window)] = plan.window_weights(w)
    window_means = torch.stack([means[list(w)].mean(0) for w in plan.windows])
    overlaps = torch.tensor([[float(bool(set(a) & set(b))) for b in plan.windows] for a in plan.windows], dtype=torch.float64)
    targets = torch.einsum("vw,w...->v...", overlaps / overlaps.sum(1, keepdim=True), window_means)
    return x + pull * torch.einsum("wt,w...->t...", weights, targets - window_means).float()


@pytest.mark.parametrize("schedule, fuse_method, stride", list(itertools.product(SCHEDULES, FUSE_METHODS, (1, 3))))
def test_window_agreement_matches_the_dense_formula(schedule, fuse_method, stride):
    context = ContextOptions(schedule=schedule, fuse_method=fuse_method, length=8, overlap=3, stride=stride, closed_loop=True)
    x = torch.randn(30, 4, 5, 5, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(pull_windows_together(x, 0, context, 0.3, 1), dense_window_agreement(x, context, 0.3), atol=1e-5)


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="context_options"):
        Coherence("window agreement", 0.5)
    with pytest.raises(ValueError, match="start_percent"):
        Coherence("temporal", 0.5, 0.7, 0.2)
    with pytest.raises(ValueError, match="strength"):
        Coherence("temporal", 1.5)
