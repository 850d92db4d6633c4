"""The shipped cfg pair does what example_workflows/README.md says, on a closed-form toy (no ComfyUI).

Data is N(mu_prompt, s^2) under the prompt and N(mu_unconditional, s^2) without it, so every
denoiser is an exact posterior mean. With the same conditioning on both passes the exact roundtrip
returns the input when the two cfgs are equal, and moves toward the prompt exactly when the
resampler's cfg exceeds the unsampler's (swapping them moves away from it).
"""
from __future__ import annotations

import json

import pytest
import torch

from rewind.samplers.loop import resample, unsample
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


def shift_toward_prompt(unsample_cfg: float, resample_cfg: float, model_type: str, steps: int) -> float:
    family = "flow" if model_type in FLOW_MODEL_TYPES else "eps"
    path = sorted(ays_sigmas(model_type, steps, 1.0, 3.0))
    clip = torch.linspace(-0.5, 0.5, 64, dtype=torch.float64)
    noise = unsample(guided(unsample_cfg, family), clip.clone(), path, family=family, exact_iterations=8).x
    restyled = resample(guided(resample_cfg, family), noise, path[::-1], family=family).x
    return float((restyled - clip).mean()) * (1.0 if MU_PROMPT > MU_UNCONDITIONAL else -1.0)


def shipped_settings(name: str) -> tuple[float, float, str, int]:
    api = json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())
    node = {n["class_type"]: n["inputs"] for n in api.values()}
    schedule = node["RewindAYSScheduler"]
    return node["RewindUnsampler"]["cfg"], node["RewindResampler"]["cfg"], schedule["model_type"], schedule["steps"]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_shipped_cfgs_move_the_video_toward_the_prompt(name):
    unsample_cfg, resample_cfg, model_type, steps = shipped_settings(name)
    assert shift_toward_prompt(unsample_cfg, resample_cfg, model_type, steps) > 0.1
    assert shift_toward_prompt(resample_cfg, unsample_cfg, model_type, steps) < -0.1  # swapped: away from it
    assert abs(shift_toward_prompt(resample_cfg, resample_cfg, model_type, steps)) < 1e-6  # equal: the input back
