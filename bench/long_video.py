"""Long videos: context windows and latent coherence on synthetic clips with known motion.

Prints, in one run:
  1. windowed vs whole-clip difference through the real unsample -> resample loop, with an exact
     frame-independent denoiser (frame batch and Wan temporal layouts), then the same through ComfyUI
     (Rewind's nodes, its context handler in calc_cond_batch, ComfyUI's exact reference models);
  2. warp error (previous frame moved by the known flow, pixels that entered the frame masked out)
     and PSNR to the source, without and with each coherence mode, on a deliberately flickering
     denoiser (per-frame tone flicker) and a window-drift denoiser (each window its own tone);
  3. time and peak activation memory of windowed sampling at 16/64/256 frames, as ratios.

    python bench/long_video.py [--quick]
"""
from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import import_pack

import_pack()

from rewind.coherence.guidance import Coherence  # noqa: E402
from rewind.samplers import loop  # noqa: E402
from rewind.samplers.context import LAYOUT_TEMPORAL, ContextOptions, plan_context, windowed  # noqa: E402
from rewind.samplers.hooks import LoopInfo  # noqa: E402

PRIOR_STD = 0.8
PATH = [0.0, 0.1, 0.4, 1.0, 2.5, 6.0, 14.6]  # clean -> noise
VELOCITY = 1  # pixels per frame, to the left: integer so the flow warp is exact
SIZE = 32


def exact_denoise(x: torch.Tensor, sigma) -> torch.Tensor:
    """Posterior mean for x0 ~ N(0, PRIOR_STD^2) per element: exact and frame-independent."""
    return x * PRIOR_STD**2 / (PRIOR_STD**2 + float(sigma) ** 2)


def moving_texture(frames: int, channels: int = 4, seed: int = 0) -> torch.Tensor:
    """A smooth random texture sliding VELOCITY px/frame: frame t is columns [t*v, t*v + SIZE)."""
    g = torch.Generator().manual_seed(seed)
    width = SIZE + VELOCITY * frames
    coarse = torch.randn(1, channels, SIZE // 4, width // 4 + 1, generator=g)
    texture = F.interpolate(coarse, size=(SIZE, width), mode="bicubic", align_corners=False)[0]
    texture = texture / texture.std() * PRIOR_STD
    return torch.stack([texture[:, :, t * VELOCITY : t * VELOCITY + SIZE] for t in range(frames)])


def warp_error(x: torch.Tensor) -> float:
    """Mean |x_t - x_{t-1} moved by the flow| over pixels visible in both frames."""
    return (x[1:, :, :, : SIZE - VELOCITY] - x[:-1, :, :, VELOCITY:]).abs().mean().item()


def psnr(x: torch.Tensor, reference: torch.Tensor) -> float:
    peak = reference.max() - reference.min()
    return (20 * torch.log10(peak / (x - reference).pow(2).mean().sqrt())).item()


def flickering(amplitude: float, frames: int, seed: int = 1):
    """The exact denoiser plus a fixed per-frame tone offset (what makes restyled videos flicker)."""
    offsets = amplitude * torch.randn(frames, 4, 1, 1, generator=torch.Generator().manual_seed(seed))
    return lambda x, sigma: exact_denoise(x, sigma) + offsets


def window_drift(amplitude: float, plan, seed: int = 2):
    """Each window's call gets its own tone offset, as when windows are denoised independently.

    `windowed` calls windows in plan order on every evaluation, so the call count identifies the window.
    """
    offsets = amplitude * torch.randn(len(plan.windows), 4, 1, 1, generator=torch.Generator().manual_seed(seed))
    calls = [0]

    def denoise(x, sigma):
        window = calls[0] % len(plan.windows)
        calls[0] += 1
        return exact_denoise(x, sigma) + offsets[window]

    return windowed(denoise, plan, frame_axis=0)


def unsample(x, denoise, frame_axis=0):
    result = loop.unsample(denoise, x, PATH, "euler", "eps", exact_iterations=4, record=torch.clone,
                           info=LoopInfo("unsample", PATH, frame_axis, "eps"))
    return result.x, result.trajectory


def resample(noise, denoise, trajectory, coherence=None, frame_axis=0):
    path = PATH[::-1]
    info = LoopInfo("resample", path, frame_axis, "eps", trajectory)
    hook = coherence.make_hook(info) if coherence is not None else None
    return loop.resample(denoise, noise, path, "euler", "eps", [hook] if hook else [], info).x


def coupled_roundtrip(x, denoise, frame_axis):
    """Unsample -> resample with BDIA (the default unsampler), handing its partner state over."""
    up = loop.unsample(denoise, x, PATH, "bdia", "eps", exact_iterations=4, info=LoopInfo("unsample", PATH, frame_axis, "eps"))
    down = PATH[::-1]
    return loop.resample(denoise, up.x, down, "bdia", "eps", info=LoopInfo("resample", down, frame_axis, "eps"),
                         previous=up.previous).x


def report_windowed_agreement():
    print("1. Windowed vs whole clip, exact denoiser, unsample -> resample (relative L2 difference)")
    cases = [
        ("frame batch, 40 frames, static 16/4 pyramid", torch.randn(40, 4, 16, 16), ContextOptions(length=16, overlap=4), 0),
        ("frame batch, 40 frames, uniform 8/3 stride 2", torch.randn(40, 4, 16, 16),
         ContextOptions(schedule="uniform", length=8, overlap=3, stride=2, fuse_method="overlap-linear"), 0),
        ("Wan temporal, 21 latent (81 px) frames, 33/8 px", torch.randn(1, 16, 21, 8, 8),
         ContextOptions(length=33, overlap=8, layout=LAYOUT_TEMPORAL), 2),
    ]
    for name, x, options, axis in cases:
        whole_noise, whole_traj = unsample(x, exact_denoise, axis)
        plan = plan_context(x.shape[axis], options, 4 if axis else 1)  # Wan: 4 pixel frames per latent frame
        denoise = windowed(exact_denoise, plan, axis)
        noise, traj = unsample(x, denoise, axis)
        out = resample(noise, denoise, traj, frame_axis=axis)
        whole = resample(whole_noise, exact_denoise, whole_traj, frame_axis=axis)
        diff = (torch.linalg.norm(out - whole) / torch.linalg.norm(whole)).item()
        roundtrip = psnr(out, x)
        print(f"   {name:52s} {len(plan.windows):3d} windows  diff {diff:.1e}  roundtrip PSNR {roundtrip:6.1f} dB")
        out, whole = coupled_roundtrip(x, denoise, axis), coupled_roundtrip(x, exact_denoise, axis)
        diff = (torch.linalg.norm(out - whole) / torch.linalg.norm(whole)).item()
        print(f"   {'  the same, bdia':52s} {len(plan.windows):3d} windows  diff {diff:.1e}  roundtrip PSNR "
              f"{psnr(out, x):6.1f} dB")


def report_comfyui_agreement():
    """The same check through ComfyUI: Rewind Unsampler -> Resampler with context options, so the model calls
    go through calc_cond_batch and Rewind's context handler, on ComfyUI's exact reference models."""
    from comfy_env import import_comfyui

    print(f"   through ComfyUI {import_comfyui().name} (Rewind Unsampler/Resampler, exact reference models, 8 AYS steps):")
    from rewind.nodes import diagnostics, sampling

    cases = [("SD1.5 model, 40 frames, static 16/4 pyramid", "SD1.5", "SD1", 40, ContextOptions(length=16, overlap=4)),
             ("Wan2.1 model, 21 latent (81 px) frames, 33/8 px", "Wan2.1", "Wan2.1", 81, ContextOptions(length=33, overlap=8))]
    for name, family, ays, frames, options in cases:
        model, vae, cond, _ = diagnostics.RewindReferenceModel.execute(family, "mixture").result
        latent = {"samples": vae.encode(torch.rand(frames, 32, 32, 3, generator=torch.Generator().manual_seed(0)))}
        sigmas = sampling.RewindAYSScheduler.execute(ays, 8, 1.0).result[0]

        def roundtrip(context):
            noise = sampling.RewindUnsampler.execute(model, cond, cond, latent, 1.0, sigmas, "exact", 4, context).result[0]
            return sampling.RewindResampler.execute(model, cond, cond, noise, 1.0, "match unsampler", None,
                                                    context).result[0]["samples"]

        whole, out = roundtrip(None), roundtrip(options)
        diff = (torch.linalg.norm(out - whole) / torch.linalg.norm(whole)).item()
        print(f"   {name:52s} diff {diff:.1e}  roundtrip PSNR {psnr(out, latent['samples']):6.1f} dB")


def coherence_table(label, source, denoise, settings):
    """Rows of (setting, warp error, PSNR) for one denoiser, plus the best row meeting the target."""
    noise, trajectory = unsample(source, exact_denoise)
    plain = resample(noise, denoise, trajectory)
    base_warp, base_psnr = warp_error(plain), psnr(plain, source)
    print(f"   {label}: source warp {warp_error(source):.4f}; no coherence: warp {base_warp:.4f}, PSNR {base_psnr:.2f} dB")
    for name, coherence in settings:
        out = resample(noise, denoise, trajectory, coherence)
        warp, fidelity = warp_error(out), psnr(out, source)
        met = warp <= 0.5 * base_warp and fidelity > base_psnr - 1.0
        print(f"     {name:44s} warp {warp:.4f} ({warp / base_warp:5.2f}x)  PSNR {fidelity:6.2f} dB "
              f"({fidelity - base_psnr:+5.2f})  {'target met' if met else ''}")


def report_coherence(frames: int):
    print(f"\n2. Coherence on {frames} frames of a {SIZE}x{SIZE} texture moving {VELOCITY} px/frame "
          "(target: warp error <= 0.5x at < 1 dB PSNR loss)")
    source = moving_texture(frames)
    sweeps = []
    for strength in (0.3, 0.6, 0.9):
        sweeps.append((f"temporal s={strength}", Coherence("temporal", strength)))
        sweeps.append((f"temporal s={strength} low_pass=0.1", Coherence("temporal", strength, low_pass=0.1)))
        sweeps.append((f"source anchor s={strength} low_pass=0.1", Coherence("source anchor", strength, low_pass=0.1)))
    coherence_table("flickering denoiser (tone flicker 0.3 per frame)", source, flickering(0.3, frames), sweeps)
    context = ContextOptions(length=8, overlap=2)
    plan = plan_context(frames, context, 1)
    agreement = [(f"window agreement s={s}", Coherence("window agreement", s, context=context)) for s in (0.5, 0.9)]
    agreement.append(("source anchor s=0.9 low_pass=0.1", Coherence("source anchor", 0.9, low_pass=0.1)))
    coherence_table(f"window-drift denoiser ({len(plan.windows)} windows of 8, tone drift 0.3)", source,
                    window_drift(0.3, plan), agreement)


class ConvDenoiser(torch.nn.Module):
    """Random-weight 4 -> 64 -> 64 -> 4 conv net: activations scale with its input like a real model's."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weights = [torch.randn(64, 4, 3, 3, generator=g) * 0.1, torch.randn(64, 64, 3, 3, generator=g) * 0.02,
                        torch.randn(4, 64, 3, 3, generator=g) * 0.02]

    def __call__(self, x, sigma):
        h = x
        for i, w in enumerate(self.weights):
            h = F.conv2d(h, w, padding=1)
            if i < 2:
                h = F.silu(h)
        return exact_denoise(x, sigma) + 0.01 * h


def measure(frames: int, model: str, window: int) -> None:
    """Child process: prints seconds and peak RSS growth (bytes) of one windowed resample."""
    torch.set_num_threads(1)
    denoise = ConvDenoiser() if model == "conv" else exact_denoise
    x = torch.randn(frames, 4, 64, 64)
    denoise(x[:1], 1.0)  # warm-up outside the timing
    if window:
        denoise = windowed(denoise, plan_context(frames, ContextOptions(length=window, overlap=4), 1), 0)
    before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
    start = time.perf_counter()
    loop.resample(denoise, x, PATH[::-1], "euler", "eps")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(seconds, max(0, peak - before))


def run_child(frames: int, model: str, window: int) -> tuple[float, int]:
    out = subprocess.run([sys.executable, __file__, "--measure", str(frames), model, str(window)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def report_scaling(sizes):
    print(f"\n3. Windowed sampling cost, context 16/4, 64x64x4 latent, {len(PATH) - 1} euler steps "
          "(activation memory = conv model peak minus elementwise model peak, same frames)")
    rows = {}
    for frames in sizes:
        conv_s, conv_peak = run_child(frames, "conv", 16)
        _, base_peak = run_child(frames, "exact", 16)
        _, whole_peak = run_child(frames, "conv", 0)
        rows[frames] = (conv_s, max(conv_peak - base_peak, 1), max(whole_peak - base_peak, 1))
        print(f"   {frames:4d} frames: {conv_s:6.2f} s ({conv_s / frames * 1000:6.2f} ms/frame)  activations windowed "
              f"{rows[frames][1] / 2**20:7.1f} MiB, whole clip {rows[frames][2] / 2**20:7.1f} MiB")
    small, mid, large = sizes[0], sizes[len(sizes) // 2], sizes[-1]
    overlap_cost = {n: sum(map(len, plan_context(n, ContextOptions(length=16, overlap=4), 1).windows)) / n for n in sizes}
    for n in (mid, large):
        print(f"   time per frame {n} vs {small} frames: {rows[n][0] / n / (rows[small][0] / small):.2f}x "
              f"(frames evaluated per frame: {overlap_cost[n] / overlap_cost[small]:.2f}x from overlaps; 1.0 = linear)")
    print(f"   activation peak {large} vs {mid} frames: windowed {rows[large][1] / rows[mid][1]:.2f}x (target <= 1.5x), "
          f"whole clip {rows[large][2] / rows[mid][2]:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames for a smoke run")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        frames, model, window = args.measure
        return measure(int(frames), model, int(window))
    torch.manual_seed(0)
    torch.set_num_threads(1)
    report_windowed_agreement()
    report_comfyui_agreement()
    report_coherence(12 if args.quick else 32)
    report_scaling([16, 32, 64] if args.quick else [16, 64, 256])


if __name__ == "__main__":
    main()
