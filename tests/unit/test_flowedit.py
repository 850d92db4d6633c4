"""Unit tests of the FlowEdit loop (samplers/flowedit.py) against closed-form flow denoisers."""
import math

import pytest
import torch

from rewind import reference
from rewind.samplers import flowedit
from rewind.samplers.experts import HIGH, LOW, Segment
from rewind.schedules import ays

SOURCE = reference.MIXTURE
TARGET = reference.GaussianMixture(means=(2.0,), stds=(0.3,), weights=(1.0,))
PATH = ays.ays_sigmas("Wan2.1", 16)


def denoiser(data):
    return lambda x, sigma: data.denoise(x, sigma, "flow")


def clip(shape=(4, 4, 8, 8), seed=0):
    return SOURCE.sample(shape, torch.Generator().manual_seed(seed))


class CountedDraws:
    def __init__(self, like, seed=1):
        self.draw, self.calls = flowedit.seeded_normal(like, seed), 0

    def __call__(self):
        self.calls += 1
        return self.draw()


def edit(x_src, n_max=12, n_min=0, n_avg=1, correlation=0.0, mask=None, source=SOURCE, target=TARGET, seed=1):
    return flowedit.flowedit(denoiser(source), denoiser(target), x_src, PATH, flowedit.seeded_normal(x_src, seed),
                             n_max, n_min, n_avg, correlation, mask)


def test_no_edit_steps_return_the_source():
    x_src = clip()
    result = edit(x_src, n_max=0)
    assert torch.equal(result.x, x_src) and result.evaluations == 0


@pytest.mark.parametrize("correlation", [0.0, 0.7, 1.0])
@pytest.mark.parametrize("n_avg", [1, 3])
def test_identical_guidance_returns_the_source_exactly_for_any_noise(correlation, n_avg):
    x_src = clip()
    result = edit(x_src, n_max=16, n_avg=n_avg, correlation=correlation, target=SOURCE)
    assert torch.equal(result.x, x_src)
    assert result.evaluations == 2 * n_avg * 16


def test_the_edit_takes_the_target_and_counts_its_evaluations():
    x_src = clip()
    result = edit(x_src, n_max=12, n_min=3, n_avg=2)
    assert abs(float(result.x.mean()) - 2.0) < 0.2 < abs(float(x_src.mean()) - 2.0)
    assert result.evaluations == 2 * 2 * 9 + 3


def reference_flowedit(source, target, x_src, timesteps, noises, n_max, n_min):
    """fallenshock/FlowEdit's FlowEditSD3 loop (upstream_notes B9.1) with n_avg 1, its noise replayed:
    the paper's algorithm as published, for comparison."""
    steps = len(timesteps) - 1
    noises = iter(noises)
    zt_edit = x_src.clone()
    for i, t_i in enumerate(timesteps[:-1]):
        if steps - i > n_max:
            continue
        t_im1 = timesteps[i + 1]
        if steps - i > n_min:
            fwd_noise = next(noises)
            zt_src = (1 - t_i) * x_src + t_i * fwd_noise
            zt_tar = zt_edit + zt_src - x_src
            vt_src = (zt_src - source(zt_src, t_i)) / t_i
            vt_tar = (zt_tar - target(zt_tar, t_i)) / t_i
            zt_edit = zt_edit + (t_im1 - t_i) * (vt_tar - vt_src)
        else:
            if i == steps - n_min:
                fwd_noise = next(noises)
                xt_tar = zt_edit + (1 - t_i) * x_src + t_i * fwd_noise - x_src
            vt_tar = (xt_tar - target(xt_tar, t_i)) / t_i
            xt_tar = xt_tar + (t_im1 - t_i) * vt_tar
    return zt_edit if n_min == 0 else xt_tar


@pytest.mark.parametrize("n_min", [0, 4])
def test_fresh_noise_is_the_published_algorithm(n_min):
    x_src = clip().double()
    draw = flowedit.seeded_normal(x_src, 3)
    noises = [draw() for _ in range(16)]
    ours = flowedit.flowedit(denoiser(SOURCE), denoiser(TARGET), x_src, PATH, iter(noises).__next__, 12, n_min).x
    published = reference_flowedit(denoiser(SOURCE), denoiser(TARGET), x_src, PATH, noises, 12, n_min)
    assert torch.allclose(ours, published, rtol=0, atol=1e-10)
    assert not torch.allclose(ours, x_src, atol=0.1)


@pytest.mark.parametrize("n_min", [0, 4])
def test_correlation_one_draws_once_per_chain(n_min):
    x_src = clip()
    draws = CountedDraws(x_src)
    flowedit.flowedit(denoiser(SOURCE), denoiser(TARGET), x_src, PATH, draws, 12, n_min, n_avg=2, correlation=1.0)
    assert draws.calls == 2


def test_fresh_noise_draws_every_step_and_chain():
    x_src = clip()
    draws = CountedDraws(x_src)
    flowedit.flowedit(denoiser(SOURCE), denoiser(TARGET), x_src, PATH, draws, 12, 4, n_avg=2, correlation=0.0)
    assert draws.calls == 2 * 8 + 1


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9, 1.0])
def test_a_chain_is_standard_normal_and_correlates_by_rho_per_step(rho):
    like = torch.zeros(200_000)
    chain = flowedit.CorrelatedNoise(flowedit.seeded_normal(like, 5), rho)
    first, second, third = chain.next(), chain.next(), chain.next()
    for noise in (first, second, third):
        assert abs(float(noise.std()) - 1.0) < 0.01
    assert abs(float(torch.corrcoef(torch.stack([first, second]))[0, 1]) - rho) < 0.01
    assert abs(float(torch.corrcoef(torch.stack([first, third]))[0, 1]) - rho**2) < 0.01


def seed_spread(source, target, x_src, correlation):
    """How much the edit depends on the noise: the mean squared difference between two seeds' edits.
    Across a video's frames the noise differs as between seeds, so this is the edit's jitter."""
    a, b = (flowedit.flowedit(denoiser(source), target, x_src, PATH, flowedit.seeded_normal(x_src, seed), 12,
                              correlation=correlation).x for seed in (1, 2))
    return float((a - b).pow(2).mean())


def test_on_wide_source_data_fresh_noise_averages_its_imprint_over_the_steps():
    """Where the source's data is broad (the mixture, std ~1), each step's noise leaves an imprint
    that fresh draws average out over the steps, as n_avg does within one: one draw for the whole
    edit keeps it (about 3x the spread)."""
    x_src = clip((8, 4, 8, 8))
    fresh, half, one_draw = (seed_spread(SOURCE, denoiser(TARGET), x_src, rho) for rho in (0.0, 0.5, 1.0))
    assert fresh < half < one_draw and one_draw > 2.0 * fresh


def test_on_narrow_source_data_one_draw_follows_the_targets_ode_where_fresh_noise_kicks_it():
    """Where the source's data is narrow (a flat tint: std 0.15, as a low-saturation look's chroma),
    its velocity is nearly the straight path's, so with one draw the edit runs the target's own ODE
    from the noised source, which contracts the noise; fresh draws kick it every step. Restyled by
    CFG 3 against broad unconditional data, fresh noise spreads the edit 1000x more."""
    narrow, broad = (reference.GaussianMixture(means=(0.3,), stds=(std,), weights=(1.0,)) for std in (0.15, 1.0))
    restyle = lambda x, s: (3.0 * narrow.denoise(x, s, "flow") - 2.0 * broad.denoise(x, s, "flow"))  # noqa: E731
    x_src = narrow.sample((8, 4, 8, 8), torch.Generator().manual_seed(0))
    fresh, one_draw = (seed_spread(narrow, restyle, x_src, rho) for rho in (0.0, 1.0))
    assert one_draw < fresh / 100.0 and fresh > x_src.var()  # fresh noise: more noise than the data has


@pytest.mark.parametrize("n_min", [0, 4])
def test_the_mask_keeps_the_unmasked_region_bit_for_bit(n_min):
    x_src = clip()
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0
    result = edit(x_src, n_min=n_min, mask=mask).x
    kept = (mask == 0).expand_as(x_src)
    assert torch.equal(result[kept], x_src[kept])
    assert abs(float(result[~kept].mean()) - 2.0) < 0.3


def test_a_seed_repeats_its_edit_bit_for_bit():
    x_src = clip()
    assert torch.equal(edit(x_src, seed=4).x, edit(x_src, seed=4).x)
    assert not torch.equal(edit(x_src, seed=4).x, edit(x_src, seed=5).x)


@pytest.mark.parametrize("path, n_max, n_min, n_avg, named", [
    (PATH, 17, 0, 1, "'n_max' is 17 but 'sigmas' has 16 steps"),
    (PATH, 8, 9, 1, "'n_min' is 9, above 'n_max' (8)"),
    (PATH, 8, 0, 0, "'n_avg' is 0"),
    (PATH[:-1], 8, 0, 1, "not 0"),
])
def test_counts_the_schedule_cannot_hold_are_refused(path, n_max, n_min, n_avg, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        flowedit.check_edit_span(path, n_max, n_min, n_avg)


def test_the_first_draw_is_a_standard_normal_from_the_seed_as_comfyui_draws_it():
    like = torch.zeros(2, 4, 8, 8)
    assert torch.equal(flowedit.seeded_normal(like, 42)(), torch.randn(like.shape, generator=torch.manual_seed(42)))
    assert math.isclose(PATH[-1], 0.0)


def test_a_pixel_mask_is_averaged_over_each_latent_pixel_and_video_frames_by_latent_frame():
    """9 video frames of a Wan-like VAE (4 per latent frame after the first) over 3 latent frames: a
    region marked in any video frame of a latent frame is edited in it."""
    mask = torch.zeros(9, 64, 48)
    mask[0, :8, :8] = 1.0  # latent frame 0, latent pixel (0, 0)
    mask[6, 8:16, :4] = 1.0  # latent frame 2 (video frames 5-8), half of latent pixel (1, 0)
    shaped = flowedit.latent_mask(mask, (1, 16, 3, 8, 6), 8, 4)
    assert shaped.shape == (1, 1, 3, 8, 6)
    assert shaped[0, 0, 0, 0, 0] == 1.0 and shaped[0, 0, 2, 1, 0] == 0.5
    assert float(shaped.sum()) == 1.5


@pytest.mark.parametrize("mask, shape", [
    (torch.ones(2, 1, 8, 8), (2, 1, 8, 8)),  # a frame batch's noise mask at the latent's size
    (torch.ones(1, 1, 5, 8, 8), (1, 1, 5, 8, 8)),  # a video latent's noise mask
    (torch.ones(68, 70), (1, 1, 8, 8)),  # pixels VAE Encode crops to 64x64
])
def test_masks_come_in_comfyuis_layouts(mask, shape):
    latent = (2, 4, 8, 8) if len(shape) == 4 else (1, 16, 5, 8, 8)
    assert flowedit.latent_mask(mask, latent, 8, 4 if len(latent) == 5 else 1).shape == shape


@pytest.mark.parametrize("mask, named", [
    (torch.ones(1, 72, 64), "'mask' is 64x72 but the latent is 8x8 (64x64 pixels)"),
    (torch.ones(3, 64, 64), "'mask' has 3 frames but the source has 2"),
    (torch.full((64, 64), float("nan")), "outside 0 to 1 (or NaN)"),
    (torch.ones(2, 2, 64, 64), "'mask' has shape (2, 2, 64, 64)"),
])
def test_a_mask_of_another_size_is_refused_naming_both_sizes(mask, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        flowedit.latent_mask(mask, (2, 4, 8, 8), 8)


# Two experts (Wan 2.2 A14B): the edit split at the boundary, one part per expert, carried across.

BOUNDARY = 0.875


def test_an_edit_step_evaluates_at_its_start_and_the_skipped_steps_belong_to_no_expert():
    path = [1.0, 0.9, 0.5, 0.2, 0.0]
    assert flowedit.evaluation_sigmas(path, 3) == [0.9, 0.5, 0.2]
    assert flowedit.split_edit(path, 3, 0.8) == (Segment(HIGH, 1, 2), Segment(LOW, 2, 4))
    assert flowedit.split_edit(path, 3, None) == (Segment(LOW, 1, 4),)
    assert flowedit.split_edit(path, 2, 0.8) == (Segment(LOW, 2, 4),)  # the high expert's steps are skipped
    assert flowedit.split_edit(path, 0, 0.8) == ()


def split_edit(guidances, x_src, n_max=12, n_min=0, n_avg=1, correlation=0.0, mask=None, seed=1, boundary=BOUNDARY):
    """The edit part by part, each on its expert's (source, target) guidance and continuing from the last
    part's carry, as comfy_glue.flowedit.run_flowedit runs it."""
    draw, result = flowedit.seeded_normal(x_src, seed), None
    for segment in flowedit.split_edit(PATH, n_max, boundary):
        source, target = guidances[segment.expert]
        part = flowedit.flowedit(source, target, x_src, PATH, draw, n_max, n_min, n_avg, correlation, mask,
                                 steps=range(segment.start, segment.stop),
                                 carry=result.carry if result is not None else None)
        result = part if result is None else result.then(part)
    return result


# n_min 10: the target-only steps start at the switch; 11: the switch falls among them.
@pytest.mark.parametrize("n_min", [0, 4, 10, 11])
@pytest.mark.parametrize("correlation, n_avg", [(0.0, 1), (0.5, 2), (1.0, 2)])
def test_the_edit_split_at_the_switch_is_the_unsplit_edit_bit_for_bit(n_min, correlation, n_avg):
    """One model behind both experts: the carry holds the edit, the noise chains (RNG position and the
    AR(1) state) and the target-only steps' noise, so splitting changes nothing."""
    x_src, mask = clip(), torch.zeros(1, 1, 8, 8)
    mask[..., 1:7, 2:6] = 1.0
    same = {expert: (denoiser(SOURCE), denoiser(TARGET)) for expert in (HIGH, LOW)}
    for masked in (None, mask):
        whole = edit(x_src, n_min=n_min, n_avg=n_avg, correlation=correlation, mask=masked)
        split = split_edit(same, x_src, n_min=n_min, n_avg=n_avg, correlation=correlation, mask=masked)
        assert len(flowedit.split_edit(PATH, 12, BOUNDARY)) == 2
        assert torch.equal(whole.x, split.x) and whole.evaluations == split.evaluations


def noting(calls, expert, data):
    def denoise(x, sigma):
        calls.append((expert, sigma))
        return data.denoise(x, sigma, "flow")
    return denoise


HIGH_DATA = reference.GaussianMixture(means=(0.5,), stds=(0.8,), weights=(1.0,))  # what the high expert learned


@pytest.mark.parametrize("n_min", [0, 4])
def test_two_differing_experts_each_evaluate_only_their_own_side_of_the_boundary(n_min):
    calls = []
    guidances = {HIGH: (noting(calls, HIGH, HIGH_DATA), noting(calls, HIGH, TARGET)),
                 LOW: (noting(calls, LOW, SOURCE), noting(calls, LOW, TARGET))}
    result = split_edit(guidances, clip(), n_min=n_min)
    assert {expert for expert, _ in calls} == {HIGH, LOW} and len(calls) == result.evaluations
    assert all((sigma >= BOUNDARY) == (expert == HIGH) for expert, sigma in calls)


@pytest.mark.parametrize("correlation", [0.0, 1.0])
def test_each_experts_own_guidance_on_both_sides_gives_the_source_back_across_the_switch(correlation):
    x_src = clip()
    guidances = {HIGH: (denoiser(HIGH_DATA),) * 2, LOW: (denoiser(SOURCE),) * 2}
    assert torch.equal(split_edit(guidances, x_src, n_max=16, correlation=correlation).x, x_src)


@pytest.mark.parametrize("n_min", [0, 4, 11])
def test_the_mask_keeps_the_unmasked_source_bit_for_bit_across_the_switch(n_min):
    x_src, mask = clip(), torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0
    guidances = {HIGH: (denoiser(HIGH_DATA), denoiser(TARGET)), LOW: (denoiser(SOURCE), denoiser(TARGET))}
    result = split_edit(guidances, x_src, n_min=n_min, mask=mask).x
    kept = (mask == 0).expand_as(x_src)
    assert torch.equal(result[kept], x_src[kept])
    assert abs(float(result[~kept].mean()) - 2.0) < 0.3
