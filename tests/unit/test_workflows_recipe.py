"""The shipped recipe — its unsample solver, resample solver and cfg pair — does what
example_workflows/README.md says, on a closed-form toy (no ComfyUI).

Data is N(mu_prompt, s^2) under the prompt and N(mu_unconditional, s^2) without it, so every
denoiser is an exact posterior mean. With the same conditioning on both passes the roundtrip
returns the input when the two cfgs are equal, and moves toward the prompt exactly when the
resampler's cfg exceeds the unsampler's (swapping them moves away from it). Both passes run the
solvers the workflow ships, and the resampler plans its run as the node does (samplers.modes).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from rewind.samplers.loop import resample, unsample
from rewind.samplers.modes import plan_resample, unsample_mode
from rewind.samplers.state import UnsampledState, guidance_fingerprint
from rewind.schedules.ays import FLOW_MODEL_TYPES, ays_sigmas
from rewind.example_workflows.source import RECIPES, WORKFLOWS_DIR

VARIANCE, MU_PROMPT, MU_UNCONDITIONAL = 0.25, 1.0, -1.0


def posterior_mean(x: torch.Tensor, sigma: float, mu: float, family: str) -> torch.Tensor:
    """E[x0 | x] for x0 ~ N(mu, VARIANCE): x = x0 + sigma n (eps) or (1 - sigma) x0 + sigma n (flow)."""
    scale = 1.0 - sigma if family == "flow" else 1.0
    gain = scale * VARIANCE / (scale**2 * VARIANCE + sigma**2)
    return mu + gain * (x - scale * mu)


def guided(cfg: float, family: str):
    def denoise(x, sigma):
        unconditional = posterior_mean(x, sigma, MU_UNCONDITIONAL, family)
        return unconditional + cfg * (posterior_mean(x, sigma, MU_PROMPT, family) - unconditional)
    return denoise


PROMPT = [[torch.ones(1, 1, 4), {}]]  # stands for the conditioning wire both passes share


def shift_toward_prompt(recipe: "Recipe", unsample_cfg: float, resample_cfg: float) -> float:
    family = "flow" if recipe.model_type in FLOW_MODEL_TYPES else "eps"
    path = sorted(ays_sigmas(recipe.model_type, recipe.steps, 1.0, 3.0))
    clip = torch.linspace(-0.5, 0.5, 64, dtype=torch.float64)
    mode = unsample_mode(recipe.unsample_solver, recipe.exact_iterations)
    up = unsample(guided(unsample_cfg, family), clip.clone(), path, mode.solver, family, mode.exact_iterations)
    state = UnsampledState(tuple(path), mode.solver, mode.exact_iterations > 0, family, tuple(clip.shape),
                           previous=up.previous, guidance=guidance_fingerprint(PROMPT, PROMPT, unsample_cfg))
    plan = plan_resample(state, tuple(clip.shape), recipe.resample_solver, family, None,
                         guidance_fingerprint(PROMPT, PROMPT, resample_cfg))
    restyled = resample(guided(resample_cfg, family), up.x, plan.path, plan.solver, family, previous=plan.previous,
                        coupling=plan.coupling).x
    return float((restyled.to(clip) - clip).mean()) * (1.0 if MU_PROMPT > MU_UNCONDITIONAL else -1.0)


@dataclass(frozen=True)
class Recipe:
    unsample_cfg: float
    resample_cfg: float
    unsample_solver: str
    exact_iterations: int
    resample_solver: str
    model_type: str
    steps: int


def shipped(name: str) -> Recipe:
    api = json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())
    node = {n["class_type"]: n["inputs"] for n in api.values()}
    unsampler, resampler, schedule = node["RewindUnsampler"], node["RewindResampler"], node["RewindAYSScheduler"]
    return Recipe(unsampler["cfg"], resampler["cfg"], unsampler["solver"], unsampler["exact_iterations"],
                  resampler["solver"], schedule["model_type"], schedule["steps"])


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_shipped_recipe_moves_the_video_toward_the_prompt(name):
    recipe = shipped(name)
    assert shift_toward_prompt(recipe, recipe.unsample_cfg, recipe.resample_cfg) > 0.1
    assert shift_toward_prompt(recipe, recipe.resample_cfg, recipe.unsample_cfg) < -0.1  # swapped: away from it
    assert abs(shift_toward_prompt(recipe, recipe.resample_cfg, recipe.resample_cfg)) < 1e-6  # equal: the input back
