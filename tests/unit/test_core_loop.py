"""Unit tests of the sampling loop against exact denoisers, where the truth is known in closed form."""
import math

import pytest
import torch

from rewind import reference
from rewind.samplers import inversion, loop, solvers, state
from rewind.samplers.families import alpha
from rewind.samplers.hooks import LoopInfo
from rewind.schedules import ays

AYS_TYPE = {"eps": "SD1", "flow": "Wan2.1"}


def psnr(result, target):
    peak = float(target.max() - target.min())
    mse = float(((result.double() - target.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def clip(data, shape=(4, 4, 16, 16), seed=0):
    return data.sample(shape, torch.Generator().manual_seed(seed))


def roundtrip(family, data, solver="euler", iterations=0, steps=16, x0=None, denoise=None):
    x0 = clip(data) if x0 is None else x0
    denoise = denoise or (lambda x, s: data.denoise(x, s, family))
    down = ays.ays_sigmas(AYS_TYPE[family], steps)
    up = loop.unsample(denoise, x0, down[::-1], solver, family, iterations)
    back = loop.resample(denoise, up.x, down, solver, family, previous=up.previous)
    return x0, up, back


@pytest.mark.parametrize("family", ["eps", "flow"])
@pytest.mark.parametrize("iterations", [0, 4])
def test_bdia_roundtrips_at_about_one_model_call_per_step_and_pass(family, iterations):
    x0, up, back = roundtrip(family, reference.MIXTURE, "bdia", iterations)
    assert psnr(back.x, x0) >= 100.0
    assert up.evaluations == 15 + max(iterations, 1) and back.evaluations == 15
    assert up.previous is not None and up.previous.shape == x0.shape


def rough_denoiser(x, sigma):
    """A denoiser far from smooth (slope up to ~6 per unit), like a stiff network at high CFG:
    fixed-point iteration barely contracts on it, algebraic inversion does not care."""
    return x / (1.0 + sigma**2) + 0.3 * torch.sin(20.0 * x) * sigma / (1.0 + sigma)


def test_bdia_is_exact_where_fixed_point_inversion_fails():
    x0 = clip(reference.MIXTURE)
    _, _, fixed_point = roundtrip("eps", None, "euler", 8, x0=x0, denoise=rough_denoiser)
    _, _, bdia = roundtrip("eps", None, "bdia", 4, x0=x0, denoise=rough_denoiser)
    assert not psnr(fixed_point.x, x0) > 45.0  # NaN counts as a failure too
    assert psnr(bdia.x, x0) >= 100.0


NEW_PROMPT_DATA = reference.GaussianMixture(means=(2.0,), stds=(0.3,), weights=(1.0,))


def new_prompt(x, sigma):
    return NEW_PROMPT_DATA.denoise(x, sigma, "eps")


def edit_from_bdia_noise(coupling):
    """Mixture data unsampled with bdia, resampled by a different model (a new prompt) at `coupling`;
    also returns an accurate ODE solution (heun) of the new model from the unsampler's partner state."""
    data = reference.MIXTURE
    down = ays.ays_sigmas("SD1", 16)
    up = loop.unsample(lambda x, s: data.denoise(x, s, "eps"), clip(data), down[::-1], "bdia", "eps", 4)
    edited = loop.resample(new_prompt, up.x, down, "bdia", "eps", previous=up.previous, coupling=coupling)
    return edited.x, loop.resample(new_prompt, up.previous, down[1:], "heun", "eps").x, up


def test_a_damped_coupling_follows_the_new_models_ode_where_full_coupling_applies_the_change_twice():
    """Coupling 1 carries the unsampler's corrections over whole: under another model they hold the
    change in guidance, which the coupled pair's odd mode then keeps adding (the mean overshoots the
    new data's 2.0). Damped, the odd mode dies out and the path follows the new model's ODE."""
    full, ode, _ = edit_from_bdia_noise(1.0)
    damped, _, _ = edit_from_bdia_noise(state.EDIT_COUPLING["eps"])
    assert torch.isfinite(full).all()
    assert abs(float(damped.mean()) - 2.0) < abs(float(clip(reference.MIXTURE).mean()) - 2.0) / 10  # it took the prompt
    assert float(full.mean()) > 2.05 > float(damped.mean())
    assert float((damped - ode).pow(2).mean()) < 0.05 * float((full - ode).pow(2).mean())


def test_bdia_at_coupling_zero_is_plain_ddim_from_the_unsamplers_partner_state():
    edited, _, up = edit_from_bdia_noise(0.0)
    plain = loop.resample(new_prompt, up.previous, ays.ays_sigmas("SD1", 16)[1:], "euler", "eps")
    assert torch.allclose(edited, plain.x.to(edited), rtol=0, atol=1e-12)


def test_bdia_without_the_unsamplers_partner_state_starts_with_a_plain_step():
    data = reference.GAUSSIAN
    x_top = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1)) * 14.6
    down = ays.ays_sigmas("SD1", 16)
    result = loop.resample(lambda x, s: data.denoise(x, s, "eps"), x_top, down, "bdia", "eps")
    truth = gaussian_ode_solution(x_top.double(), down[0], "eps")
    assert result.evaluations == 16 and float((result.x - truth).abs().max()) < 0.05


@pytest.mark.parametrize("family", ["eps", "flow"])
def test_exact_mode_roundtrips_mixture_data_above_60_db(family):
    x0, up, back = roundtrip(family, reference.MIXTURE, iterations=loop.DEFAULT_EXACT_ITERATIONS)
    assert torch.isfinite(up.x).all()
    assert psnr(back.x, x0) >= 60.0


@pytest.mark.parametrize("family", ["eps", "flow"])
def test_exact_mode_beats_the_explicit_inversion_by_far(family):
    x0, _, plain = roundtrip(family, reference.MIXTURE)
    _, _, exact = roundtrip(family, reference.MIXTURE, iterations=4)
    assert psnr(plain.x, x0) < 40.0  # the naive inversion really is lossy, so the test can tell
    assert psnr(exact.x, x0) > psnr(plain.x, x0) + 30.0


def test_exact_heun_also_retraces_its_steps():
    x0, _, back = roundtrip("eps", reference.MIXTURE, solver="heun", iterations=4)
    assert psnr(back.x, x0) >= 60.0


@pytest.mark.parametrize("family, max_std_error", [("eps", 0.05), ("flow", 0.3)])
def test_exact_heun_noise_has_the_scale_of_true_noise(family, max_std_error):
    """The unsampled latent must be noise at the top level, whatever the data's mean (0.5) and scale
    (0.3). Exact inversion inherits the solver's discretisation error (flow's coarse last step most)."""
    data = reference.GaussianMixture(means=(0.5,), stds=(0.3,), weights=(1.0,))
    _, up, _ = roundtrip(family, data, solver="heun", iterations=4)
    top = ays.ays_sigmas(AYS_TYPE[family], 16)[0]
    true_std = 1.0 if family == "flow" else math.sqrt(0.3**2 + top**2)
    assert abs(float(up.x.std()) / true_std - 1.0) < max_std_error
    assert abs(float(up.x.mean())) < 0.1 * true_std


def test_video_latents_roundtrip_like_frame_batches():
    video = clip(reference.MIXTURE, (1, 16, 5, 8, 8))
    x0, _, back = roundtrip("flow", reference.MIXTURE, iterations=4, x0=video)
    assert back.x.shape == video.shape and psnr(back.x, x0) >= 60.0


def test_results_are_bit_identical_across_runs():
    _, up_a, back_a = roundtrip("eps", reference.MIXTURE, iterations=3)
    _, up_b, back_b = roundtrip("eps", reference.MIXTURE, iterations=3)
    assert torch.equal(up_a.x, up_b.x) and torch.equal(back_a.x, back_b.x)


def test_exact_mode_is_frame_independent():
    """Anderson mixing is per batch item: a frame's result must not depend on its neighbours."""
    data = reference.MIXTURE
    frames = clip(data)
    denoise = lambda x, s: data.denoise(x, s, "eps")  # noqa: E731
    up = ays.ays_sigmas("SD1", 8)[::-1]
    together = loop.unsample(denoise, frames, up, "euler", "eps", 3).x
    alone = loop.unsample(denoise, frames[1:2], up, "euler", "eps", 3).x
    assert torch.allclose(together[1:2], alone, rtol=1e-5, atol=1e-5)


def test_evaluations_are_counted_per_mode():
    _, up, back = roundtrip("eps", reference.GAUSSIAN, iterations=4, steps=8)
    assert up.evaluations == 8 * 4 and back.evaluations == 8
    _, up, back = roundtrip("eps", reference.GAUSSIAN, solver="heun", steps=8)
    assert back.evaluations == 2 * 8 - 1  # the last heun step, to sigma 0, is a plain euler step


def gaussian_ode_solution(x_top, top, family, data=reference.GAUSSIAN):
    """Closed-form probability-flow ODE endpoint at sigma 0 for Gaussian data."""
    mean, std = data.means[0], data.stds[0]
    a = alpha(family, top)
    return mean + (x_top - a * mean) * std / math.sqrt(a**2 * std**2 + top**2)


@pytest.mark.parametrize("family", ["eps", "flow"])
def test_higher_order_solvers_track_the_true_ode_better_than_euler(family):
    data = reference.GaussianMixture(means=(0.5,), stds=(0.7,), weights=(1.0,))
    down = ays.ays_sigmas(AYS_TYPE[family], 24)
    top = down[0]
    x_top = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1)) * (1.0 if family == "flow" else top)
    truth = gaussian_ode_solution(x_top.double(), top, family, data)
    denoise = lambda x, s: data.denoise(x, s, family)  # noqa: E731
    errors = {name: float((loop.resample(denoise, x_top, down, name, family).x - truth).abs().max())
              for name in solvers.SOLVERS}
    assert errors["heun"] < errors["euler"] / 3
    assert errors["dpmpp_2m"] < errors["euler"] / 3


def test_hooks_see_every_step_in_order_and_can_change_the_state():
    data = reference.GAUSSIAN
    denoise = lambda x, s: data.denoise(x, s, "eps")  # noqa: E731
    down = ays.ays_sigmas("SD1", 6)
    seen = []

    def hook(x, denoised, step, info):
        seen.append((step, info.direction))
        return x * 0.0 if step == len(down) - 2 else x

    out = loop.resample(denoise, torch.ones(1, 4, 4, 4), down, "euler", "eps", hooks=[hook],
                        info=LoopInfo("resample", tuple(down), 0, "eps"))
    assert seen == [(i, "resample") for i in range(6)]
    assert torch.count_nonzero(out.x) == 0


def test_trajectory_records_every_level_when_asked():
    data = reference.GAUSSIAN
    up = ays.ays_sigmas("SD1", 5)[::-1]
    result = loop.unsample(lambda x, s: data.denoise(x, s, "eps"), torch.zeros(1, 4, 4, 4), up, "euler", "eps",
                           2, record=torch.clone)
    assert list(result.trajectory) == up and torch.equal(result.trajectory[up[-1]], result.x)
    assert torch.equal(result.trajectory[0.0], torch.zeros(1, 4, 4, 4))


@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2m_sde", "dpmpp_sde", "ddpm"])
def test_noise_injecting_samplers_are_refused_for_unsampling(name):
    with pytest.raises(ValueError, match="fresh noise"):
        solvers.get_solver(name)


def test_exact_mode_refuses_multistep_solvers():
    with pytest.raises(ValueError, match="one-step"):
        loop.unsample(lambda x, s: x, torch.zeros(1), [0.0, 1.0], "dpmpp_2m", "eps", 3)


def test_anderson_solves_a_slow_linear_contraction_fast():
    target = torch.randn(3, 50, generator=torch.Generator().manual_seed(2))
    scales = torch.tensor([0.6, 0.95]).repeat(25)  # contraction factor 0.95: plain iteration crawls
    residual = lambda y: (target - y) * (1 - scales)  # noqa: E731  fixed point y = target
    plain = torch.zeros_like(target)
    for _ in range(6):
        plain = plain + residual(plain)
    accelerated = inversion.anderson_fixed_point(residual, torch.zeros_like(target), 6)
    assert float((accelerated - target).abs().max()) < float((plain - target).abs().max()) / 10


class NoHostSync(torch.overrides.TorchFunctionMode):
    """Fails on every call that would make the host wait for the device."""

    SYNCING = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy,
               torch.Tensor.__bool__, torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.nonzero}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.SYNCING:
            raise AssertionError(f"host sync inside the sampling loop: {func.__name__}")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("solver, iterations", [("euler", 4), ("heun", 2), ("dpmpp_2m", 0), ("heun", 0), ("bdia", 2)])
def test_the_step_loop_never_reads_back_from_the_device(solver, iterations):
    data = reference.MIXTURE
    x0 = clip(data)
    down = ays.ays_sigmas("Wan2.1", 8)
    denoise = lambda x, s: data.denoise(x, s, "flow")  # noqa: E731
    with NoHostSync():
        up = loop.unsample(denoise, x0, down[::-1], solver, "flow", iterations, record=torch.clone)
        loop.resample(denoise, up.x, down, solver, "flow", callback=lambda *a: None, previous=up.previous)
    with pytest.raises(AssertionError, match="host sync"), NoHostSync():
        loop.resample(lambda x, s: x * float(x.mean()), up.x, down, solver, "flow")  # the guard itself works
