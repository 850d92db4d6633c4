"""Align Your Steps noise levels (NVIDIA, https://research.nvidia.com/labs/toronto-ai/AlignYourSteps/)
and their flow-model mapping.

The tables are NVIDIA's 10-step schedules (identical to ComfyUI's at 10 steps); other step counts
use NVIDIA's recommended log-linear interpolation.
"""
from __future__ import annotations

import numpy as np

from ..presets import AYS_OPTIONS

NOISE_LEVELS = {
    "SD1": [14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
            0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582],
    "SDXL": [14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141,
             0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582],
    "SVD": [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002],
}
MODEL_TYPES = tuple(AYS_OPTIONS)  # the scheduler's model_type options: SD1, SDXL, SVD, Wan2.1
FLOW_MODEL_TYPES = tuple(option for option, model in AYS_OPTIONS.items() if model.family == "flow")
# Measured in bench/roundtrip.py: exact inversion loses accuracy as the shift grows (first step gets coarse).
DEFAULT_FLOW_SHIFT = 3.0


def loglinear_interp(levels: list[float], count: int) -> np.ndarray:
    """Interpolates a decreasing list of noise levels to `count` values, linearly in log sigma."""
    xs = np.linspace(0, 1, len(levels))
    ys = np.log(np.asarray(levels[::-1], dtype=np.float64))
    return np.exp(np.interp(np.linspace(0, 1, count), xs, ys))[::-1].copy()


def ve_to_flow(sigmas_ve: np.ndarray, shift: float) -> np.ndarray:
    """Maps variance-exploding sigmas to rectified-flow sigmas at the same signal-to-noise ratio.

    x_flow / (1 - s) = x0 + s / (1 - s) * eps, so s = sigma / (1 + sigma); a flow `shift` scales the
    noise-to-signal ratio, which is what ComfyUI's time_snr_shift does to timesteps.
    """
    scaled = shift * np.asarray(sigmas_ve, dtype=np.float64)
    return scaled / (1.0 + scaled)


def with_top_level(levels: list[float], sigma_max: float, model_type: str) -> list[float]:
    """`levels` with its first (highest) level replaced by `sigma_max`, which must stay above the second."""
    if not sigma_max > levels[1]:
        raise ValueError(f"AYS {model_type}: the model's sigma_max {sigma_max:.4g} is below the table's second level "
                         f"{levels[1]:.4g}; this table does not fit the model. Pick the model_type of this model.")
    return [float(sigma_max), *levels[1:]]


def ays_sigmas(model_type: str, steps: int, denoise: float = 1.0, flow_shift: float = DEFAULT_FLOW_SHIFT,
               sigma_max: float | None = None) -> list[float]:
    """The descending AYS schedule of `steps` steps ending at 0, truncated for partial denoise.

    For flow models (Wan2.1) the SD1 table is mapped to flow time with the model's shift and the top
    level is set to 1.0, so unsampling ends at pure noise, which flow models are trained to start from.
    `sigma_max` (SD1/SDXL/SVD) replaces the table's top level before interpolation: a model sampled
    with another beta schedule (AnimateDiff's sqrt_linear reaches 25.2, not 14.6) is then unsampled
    up to its own noise level, with the lower levels unchanged.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"Unknown AYS model_type {model_type!r}: choose one of {', '.join(MODEL_TYPES)}.")
    if steps < 1:
        raise ValueError(f"AYS needs at least 1 step, got {steps}.")
    if denoise <= 0.0:
        return []
    flow = AYS_OPTIONS[model_type].family == "flow"
    levels = NOISE_LEVELS[AYS_OPTIONS[model_type].ays_table]
    if sigma_max is not None and not flow:
        levels = with_top_level(levels, sigma_max, model_type)
    sigmas = np.asarray(levels, dtype=np.float64) if steps + 1 == len(levels) else loglinear_interp(levels, steps + 1)
    if flow:
        sigmas = ve_to_flow(sigmas, flow_shift)
        sigmas[0] = 1.0
    total = steps if denoise >= 1.0 else round(steps * denoise)
    sigmas = sigmas[-(total + 1):]
    sigmas[-1] = 0.0
    return [float(s) for s in sigmas]


def check_family(model_type: str, family: str) -> None:
    """Refuses a schedule for the other family (flow vs eps) than the connected model's."""
    if AYS_OPTIONS[model_type].family == family:
        return
    fitting = [option for option, model in AYS_OPTIONS.items() if model.family == family]
    choices = " or ".join(filter(None, [", ".join(fitting[:-1]), fitting[-1]]))
    kind = "a flow model" if family == "flow" else "an eps (SD-type) model"
    raise ValueError(f"model_type {model_type} does not fit the connected model, which is {kind}. Pick {choices}, "
                     "or disconnect 'model'.")
