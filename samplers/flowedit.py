"""FlowEdit (Kulikov et al. 2024): an inversion-free edit for flow models, with noise correlated
across steps.

No noise is unsampled from the source. At each noise level sigma a noisy source is drawn on the
straight path z_src = (1 - sigma) * x_src + sigma * eps, the edit is carried to the same level by
the same offset (z_tar = z_src + edit - x_src), and the edit moves by the difference of the two
velocities, target guidance at z_tar minus source guidance at z_src. Where the guidances agree the
difference is zero and the source comes back exactly. Following the paper's parameters, of a
schedule of T steps the first T - n_max are skipped (the edit keeps that much of the source), the
next n_max - n_min edit this way, averaging the velocity difference over n_avg noise draws, and the
last n_min sample the target alone from the edited point (SDEdit-like, freer and less faithful).

The paper draws fresh noise at every step, so the edit is a stochastic ODE whose jitter differs
from frame to frame of a video. Here the draws are an AR(1) chain across steps,
eps_i = rho * eps_(i-1) + sqrt(1 - rho^2) * xi_i: rho = 0 is the paper, rho = 1 one draw for the
whole edit (z_src then lies on one straight source path). `denoise(x, sigma)` callables return the
model's clean estimate under each guidance at a Python-float sigma, as in samplers/loop.py.

With two experts (Wan 2.2 A14B, samplers/experts.py) a step belongs to the expert of the sigma it
evaluates at, its start; the edit then runs in parts, one per expert (split_edit), each continuing
from the carry of the part before: the edit latent, the noise chains (the RNG's position, the AR(1)
state) and the target-only steps' noise. The source latent is the same in every part.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from .experts import Segment, split_steps
from .loop import Callback, Carry, PathResult
from .solvers import Denoise, first_order

Draw = Callable[[], torch.Tensor]  # a fresh standard normal tensor shaped like the source


class CorrelatedNoise:
    """One noise chain across steps: eps_i = rho * eps_(i-1) + sqrt(1 - rho^2) * xi_i, so every eps_i
    is standard normal and draws k steps apart correlate by rho^k. At rho = 1 only the first is drawn."""

    def __init__(self, draw: Draw, correlation: float):
        self.draw, self.correlation = draw, correlation
        self.fresh_weight = math.sqrt(max(0.0, 1.0 - correlation * correlation))
        self.current: torch.Tensor | None = None

    def next(self) -> torch.Tensor:
        if self.current is None or self.correlation == 0.0:
            self.current = self.draw()
        elif self.correlation < 1.0:
            self.current = self.correlation * self.current + self.fresh_weight * self.draw()
        return self.current


def seeded_normal(like: torch.Tensor, seed: int) -> Draw:
    """Draws standard normal noise shaped like `like` from a host generator seeded once, as ComfyUI
    draws its noise (the first draw is what KSampler adds for that seed), so the same seed gives the
    same noise on any device. One tensor for the whole latent: context windows share its frames. The
    copy to the device goes through pinned memory without a host sync."""
    generator = torch.Generator().manual_seed(seed)
    pinned = like.device.type == "cuda"

    def draw() -> torch.Tensor:
        noise = torch.empty(like.shape, dtype=torch.float32, pin_memory=pinned)
        torch.randn(like.shape, generator=generator, out=noise)
        return noise.to(like.device, like.dtype, non_blocking=pinned)

    return draw


def check_edit_span(path: Sequence[float], n_max: int, n_min: int, n_avg: int) -> None:
    """Refuses counts the schedule cannot hold, and a schedule that stops short of clean."""
    steps = len(path) - 1
    if path[-1] != 0.0:
        raise ValueError(f"'sigmas' ends at {path[-1]:.4g}, not 0, so the edit would stay noisy. Connect a full "
                         "schedule (RewindAYSScheduler with denoise 1); edit less with a lower n_max instead.")
    if n_max > steps:
        raise ValueError(f"'n_max' is {n_max} but 'sigmas' has {steps} steps; set n_max to at most {steps} (the edit "
                         "runs the schedule's last n_max steps).")
    if n_min > n_max:
        raise ValueError(f"'n_min' is {n_min}, above 'n_max' ({n_max}); set n_min to at most n_max (the last n_min "
                         "of the n_max edit steps sample the target alone).")
    if n_avg < 1:
        raise ValueError(f"'n_avg' is {n_avg}; set at least 1 noise draw per step.")


def latent_mask(mask: torch.Tensor, latent_shape: tuple[int, ...], spatial_compression: int,
                temporal_compression: int = 1) -> torch.Tensor:
    """An edit mask as the loop takes it: (frames or 1, 1, h, w) for a frame batch, (1, 1, frames or 1,
    h, w) for a video latent (batch, channels, frames, h, w).

    Accepted: a MASK (frames, H, W) or (H, W), or a LATENT noise_mask ((frames, 1, H, W), (1, 1, frames,
    H, W)); at the latent's size or at its pixels' size (H // spatial_compression == h, as VAE Encode
    crops), averaged over each latent pixel; one frame for all, one per latent frame, or one per video
    frame (a video latent's frame holds temporal_compression of them after the first: the most edited
    one counts). Anything else, or values outside [0, 1], is refused naming the sizes and the fix:
    ComfyUI would stretch a mask of another size onto the video without a word."""
    video = len(latent_shape) == 5
    frames, (h, w) = latent_shape[2 if video else 0], latent_shape[-2:]
    planes = _mask_planes(mask)
    count, height, width = planes.shape
    pixels = f"{w * spatial_compression}x{h * spatial_compression}"
    if (height, width) != (h, w) and (height // spatial_compression, width // spatial_compression) != (h, w):
        raise ValueError(f"'mask' is {width}x{height} but the latent is {w}x{h} ({pixels} pixels). Draw the mask on "
                         f"the source's frames, or resize it to {pixels} (Upscale Image / ImageScale on the mask).")
    video_frames = (frames - 1) * temporal_compression + 1 if video else frames
    if count not in (1, frames, video_frames):
        raise ValueError(f"'mask' has {count} frames but the source has {video_frames} (video frames); give one mask "
                         "for every frame, or one per frame.")
    if not bool(((planes >= 0) & (planes <= 1)).all()):
        raise ValueError("'mask' has values outside 0 to 1 (or NaN); give a mask (1 edits, 0 keeps the source).")
    planes = planes.float()
    if (height, width) != (h, w):
        planes = F.avg_pool2d(planes[:, None, : h * spatial_compression, : w * spatial_compression],
                              spatial_compression)[:, 0]
    if count == video_frames != frames:
        groups = [planes[:1]] + list(planes[1:].split(temporal_compression))
        planes = torch.stack([group.amax(0) for group in groups])
    return planes[None, None] if video else planes[:, None]


def _mask_planes(mask: torch.Tensor) -> torch.Tensor:
    """(frames, H, W) from the layouts ComfyUI's masks come in."""
    if mask.ndim == 2:
        return mask[None]
    if mask.ndim == 3:
        return mask
    if mask.ndim == 4 and mask.shape[1] == 1:
        return mask[:, 0]
    if mask.ndim == 5 and mask.shape[:2] == (1, 1):
        return mask[0, 0]
    raise ValueError(f"'mask' has shape {tuple(mask.shape)}; connect a MASK (frames, height, width) or a latent "
                     "noise mask (Set Latent Noise Mask).")


def source_point(x_src: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """The source noised to `sigma` on the straight flow path; exactly x_src at sigma 0."""
    return (1.0 - sigma) * x_src + sigma * noise


class EditMemory(NamedTuple):
    """What the edit keeps between steps besides the latent itself (loop.Carry.memory across the switch):
    the noise chains, which hold the RNG's position and the AR(1) chain's last draw, and, once the
    target-only steps have begun, the noise they started from (the mask pulls them back onto its path)."""

    chains: list[CorrelatedNoise]
    noise: torch.Tensor | None = None


def edit_steps(path: Sequence[float], n_max: int) -> range:
    """The steps of `path` the edit runs: its last n_max."""
    return range(len(path) - 1 - n_max, len(path) - 1)


def evaluation_sigmas(path: Sequence[float], n_max: int) -> list[float]:
    """Per step the edit runs, the sigma where it evaluates the model: its start, for both guidances
    of an edit step (the noisy source and the edit at the same level) and for a target-only step."""
    return [path[i] for i in edit_steps(path, n_max)]


def split_edit(path: Sequence[float], n_max: int, boundary: float | None) -> tuple[Segment, ...]:
    """The edit's steps grouped into runs of one expert each (samplers/experts.py); none for n_max 0."""
    steps = edit_steps(path, n_max)
    return split_steps(evaluation_sigmas(path, n_max), boundary, steps.start) if steps else ()


def flowedit(source: Denoise, target: Denoise, x_src: torch.Tensor, path: Sequence[float], draw: Draw, n_max: int,
             n_min: int = 0, n_avg: int = 1, correlation: float = 0.0, mask: torch.Tensor | None = None,
             callback: Callback | None = None, steps: range | None = None, carry: Carry | None = None) -> PathResult:
    """Edits the clean `x_src` from `source` guidance to `target` guidance along `path` (descending
    Python floats ending at 0).

    draw: fresh standard normal noise shaped like x_src (seeded_normal); correlation: rho above.
    mask: broadcastable to x_src, 1 where the edit applies, 0 where the source is kept bit for bit,
    values between blending (velocities are masked; the target-only steps are pulled back onto the
    source's path outside it). Evaluations: 2 * n_avg per edit step, 1 per target-only step.
    steps, carry: a part of the edit (one expert's segment, split_edit) and what the part before it
    left (its PathResult.carry; then `draw` is not used: the carried chains continue the RNG). The
    parts in turn are the whole edit bit for bit. x_src is every part's, held fixed throughout.
    """
    check_edit_span(path, n_max, n_min, n_avg)
    total, last_edit = len(path) - 1, len(path) - 1 - n_min
    steps = edit_steps(path, n_max) if steps is None else steps
    if carry is None:
        x, memory = x_src, EditMemory([CorrelatedNoise(draw, correlation) for _ in range(n_avg)])
    else:
        x, memory = carry.x, carry.memory
    evaluations = 0
    for i in steps:
        s, t = path[i], path[i + 1]
        if i < last_edit:
            x, denoised = _edit_step(source, target, x_src, x, memory.chains, s, t, mask)
            evaluations += 2 * n_avg
        else:
            if i == last_edit:  # the target alone from here, on from the edit at this noise level
                memory = memory._replace(noise=memory.chains[0].next())
                x = source_point(x_src, memory.noise, s) + (x - x_src)
            denoised = target(x, s)
            x = first_order(x, denoised, s, t, "flow")
            if mask is not None:
                x = mask * x + (1.0 - mask) * source_point(x_src, memory.noise, t)
            evaluations += 1
        if callback is not None:
            callback(i, denoised, x, total)
    return PathResult(x, evaluations, carry=Carry(x, memory))


def _edit_step(source: Denoise, target: Denoise, x_src: torch.Tensor, edit: torch.Tensor,
               chains: list[CorrelatedNoise], s: float, t: float, mask: torch.Tensor | None):
    """One FlowEdit step from level s to t: the new edit, and the target's last clean estimate."""
    offset = edit - x_src  # exactly 0 where nothing has been edited
    velocity_change = torch.zeros_like(x_src)
    for chain in chains:
        z_src = source_point(x_src, chain.next(), s)
        denoised_src, denoised_tar = source(z_src, s), target(z_src + offset, s)
        # v_tar - v_src with v = (z - x0) / sigma; z_tar - z_src is the offset itself
        velocity_change += (offset - (denoised_tar - denoised_src)) / s
    step = velocity_change * ((t - s) / len(chains))
    return edit + (step if mask is None else mask * step), denoised_tar
