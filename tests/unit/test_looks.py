"""Unit tests of the prompt-conditioned exact denoiser (reference/looks.py): the look words pick
colour statistics, the posterior mean stays the closed form, and the same look both ways is exact."""
import math

import pytest
import torch

from rewind.reference import looks
from rewind.samplers import loop
from rewind.schedules import ays

AYS_TYPE = {"eps": "SD1", "flow": "Wan2.1"}


def psnr(result, target):
    peak = float(target.max() - target.min())
    mse = float(((result.double() - target.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def frame(channels=4, scale=0.45, seed=0):
    """A colour map like the reference codec's: orthonormal colour columns, scaled, plus an offset."""
    q, _ = torch.linalg.qr(torch.randn(channels, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return looks.ColourFrame.from_colour_map(scale * q)


def latent_of(colours: looks.ColourFrame, rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) rgb in [0, 1] -> latent, with the same linear map the frame was built from."""
    opponent = torch.einsum("or,brhw->bohw", looks.OPPONENT_AXES, 2 * rgb.double() - 1)
    coords = torch.einsum("ij,bjhw->bihw", colours.colour_scale, opponent)
    return torch.einsum("co,bohw->bchw", colours.basis[:, :3], coords)


def opponent_of(colours: looks.ColourFrame, latent: torch.Tensor) -> torch.Tensor:
    coords = torch.einsum("cd,bchw->bdhw", colours.basis, latent)[:, :3]
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(colours.colour_scale), coords)


def smooth_clip(frames=3, size=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(frames, 3, 4, 4, generator=g, dtype=torch.float64)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def denoiser(colours, code, family):
    def denoise(x, sigma):
        codes = code.reshape(1, -1).expand(x.shape[0], -1)
        return colours.denoise(x, torch.as_tensor(sigma, dtype=torch.float64).reshape(-1).expand(x.shape[0]), family, codes)
    return denoise


def restyle(colours, x0, source_code, target_code, family="eps", steps=16):
    down = ays.ays_sigmas(AYS_TYPE[family], steps)
    up = loop.unsample(denoiser(colours, source_code, family), x0, down[::-1], "euler", family, 4)
    return loop.resample(denoiser(colours, target_code, family), up.x, down, "euler", family).x


def test_prompt_words_and_synonyms_combine_and_other_words_are_no_look():
    sepia, words = looks.look_from_prompt("A Sepia, moonlight photo of shapes")
    assert words == ["sepia", "night"]
    assert sepia == looks.VOCABULARY["sepia"] + looks.VOCABULARY["night"]
    none, words = looks.look_from_prompt("a photo of shapes")
    assert words == [] and torch.equal(none.code(), torch.zeros(looks.CODE_LENGTH))


@pytest.mark.parametrize("family", ["eps", "flow"])
def test_a_gaussian_look_denoises_to_the_closed_form_posterior_mean(family):
    colours = frame()
    code = looks.VOCABULARY["sepia"].code()
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigma = torch.tensor([0.3, 2.0], dtype=torch.float64)
    got = colours.denoise(x, sigma, family, code.expand(2, -1))
    means, stds, weights = colours.mixtures(code[None])
    mean, std = means[0, :, 0].reshape(1, -1, 1, 1), stds[0, :, 0].reshape(1, -1, 1, 1)
    a = (1 - sigma if family == "flow" else torch.ones(2, dtype=torch.float64)).reshape(-1, 1, 1, 1)
    s = sigma.reshape(-1, 1, 1, 1)
    coords = torch.einsum("cd,bchw->bdhw", colours.basis, x)
    clean = mean + a * std**2 / (a**2 * std**2 + s**2) * (coords - a * mean)
    expected = torch.einsum("cd,bdhw->bchw", colours.basis, clean)
    assert torch.allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("family", ["eps", "flow"])
@pytest.mark.parametrize("prompt", ["a photo", "sepia", "neon night"])
def test_the_same_look_both_ways_returns_the_input(family, prompt):
    colours = frame()
    x0 = latent_of(colours, smooth_clip())
    code = looks.look_from_prompt(prompt)[0].code()
    assert psnr(restyle(colours, x0, code, code, family), x0) > 100.0


def test_another_look_restyles_colour_and_keeps_the_composition():
    colours = frame()
    rgb = smooth_clip()
    x0 = latent_of(colours, rgb)
    sepia = looks.VOCABULARY["sepia"]
    out = opponent_of(colours, restyle(colours, x0, torch.zeros(looks.CODE_LENGTH), sepia.code()))
    source = opponent_of(colours, x0)
    # Chroma collapses toward the sepia tint (saturation 0.15 of the source's) ...
    assert torch.allclose(out[:, 1:].mean((0, 2, 3)), torch.tensor(sepia.shift[1:], dtype=torch.float64)
                          + 0.15 * source[:, 1:].mean((0, 2, 3)), atol=0.03)
    assert out[:, 1:].std() < 0.3 * source[:, 1:].std()
    # ... while luma, the composition, is the source's up to an affine map.
    correlation = torch.corrcoef(torch.stack([out[:, 0].flatten(), source[:, 0].flatten()]))[0, 1]
    assert correlation > 0.999


def tone_curve_slopes(source: torch.Tensor, result: torch.Tensor) -> tuple[float, float]:
    """(median local slope, overall slope) of the result's tones against the source's."""
    order = source.flatten().argsort()
    s, r = source.flatten()[order], result.flatten()[order]
    steps = s.diff() > 1e-4
    return float((r.diff()[steps] / s.diff()[steps]).median()), float((r[-1] - r[0]) / (s[-1] - s[0]))


def test_posterized_look_turns_smooth_tones_into_flat_steps():
    colours = frame()
    x0 = latent_of(colours, smooth_clip(size=32))
    source = opponent_of(colours, x0)[:, 0]
    posterized = opponent_of(colours, restyle(colours, x0, torch.zeros(looks.CODE_LENGTH), looks.VOCABULARY["posterized"].code()))
    median, overall = tone_curve_slopes(source, posterized[:, 0])
    assert median < 0.25 * overall  # mostly flat, with the change concentrated in steps between levels
    contrasty = opponent_of(colours, restyle(colours, x0, torch.zeros(looks.CODE_LENGTH), looks.graded(contrast=1.5).code()))
    median, overall = tone_curve_slopes(source, contrasty[:, 0])
    assert median == pytest.approx(overall, rel=0.01) and overall == pytest.approx(1.5, rel=0.02)


@pytest.mark.parametrize("look", ["sepia", "posterized"])
def test_samples_of_a_look_have_its_statistics_on_every_axis(look):
    """What the edit bench compares an edit's result with: data the look's denoiser is exact for."""
    colours = frame()
    code = looks.VOCABULARY[look].code()
    x = colours.sample(code, (64, 4, 16, 16), torch.Generator().manual_seed(3))
    coords = torch.einsum("cd,bchw->bdhw", colours.basis, x.double())
    means, stds, weights = colours.mixtures(code[None])
    expected_mean = (weights * means).sum(-1)[0]
    expected_var = (weights * (stds**2 + means**2)).sum(-1)[0] - expected_mean**2
    assert torch.allclose(coords.mean((0, 2, 3)), expected_mean, atol=0.02)
    assert torch.allclose(coords.var((0, 2, 3)), expected_var, rtol=0.03)
