"""Memory of two experts (Wan 2.2 A14B) against one: does switching experts cost more than the second
expert's weights?

Rewind Unsampler + Resampler (bdia, 16 AYS steps, cfg 1 down, 3 up with the high-noise expert at 4, as
the wan22_a14b workflow) run once on one Wan2.1-architecture stand-in and once on two (different
seeds) switching at boundary 0.875. The stand-ins are random networks in the released key layout,
loaded by ComfyUI's own loader and made wide enough (about 300 MB each in RAM) that weights dominate:
an extra copy of an expert made at the switch would show as a jump of that size. Each run is its own
child process (peak RSS is per process) with glibc's mmap threshold fixed, so freed tensors leave RSS.

On the CPU the offload device is RAM, so both experts' weights stay resident, as they do in system
RAM beside a GPU; the figure that matters is what sampling adds on top of the loaded weights: the
issue's target is that two experts add no more than one (latents, trajectory and activations).

    scripts/with_env.sh python bench/experts_memory.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import import_comfyui  # noqa: E402

# Wan2.1 blocks at 768 wide (6 heads of 128): 8 blocks are about 78M parameters, 313 MB in float32.
SIZES = {"dim": 768, "ffn_dim": 3072, "num_layers": 8, "in_dim": 16, "out_dim": 16}
QUICK_SIZES = {**SIZES, "num_layers": 2}
LATENT = (1, 16, 3, 8, 8)  # 9 pixel frames of 64x64: small beside the weights, as the point is the weights
STEPS, BOUNDARY = 16, 0.875
UNSAMPLE_CFG, RESAMPLE_CFG, HIGH_NOISE_RESAMPLE_CFG = 1.0, 3.0, 4.0
MiB = 2**20


def memory(field: str) -> int:
    """VmRSS or VmHWM (the peak since the last reset) of this process, in bytes."""
    line = next(line for line in open("/proc/self/status") if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def reset_peak() -> None:
    """Linux: the peak RSS (VmHWM) restarts from the current RSS."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def stand_in(sizes: dict, seed: int):
    """A Wan2.1-architecture MODEL of random weights, through ComfyUI's loader (UNETLoader's path)."""
    import comfy.sd

    from rewind.testbed.stand_in_models import random_state_dict
    from rewind.testbed.tiny_models import wan_shapes

    return comfy.sd.load_diffusion_model_state_dict(random_state_dict(wan_shapes(**sizes), seed))


def measure(experts: int, quick: bool) -> dict:
    """Child process: bytes of weights loaded and of the two passes' peak above them."""
    torch.set_num_threads(1)
    import_comfyui()
    from rewind.nodes import sampling
    from rewind.testbed.tiny_models import tiny_conditioning

    cond = tiny_conditioning("Wan2.1")
    latent = {"samples": torch.randn(*LATENT, generator=torch.Generator().manual_seed(0))}
    sigmas = sampling.RewindAYSScheduler.execute("Wan2.1", STEPS, 1.0).result[0]
    start = memory("VmRSS")
    models = [stand_in(QUICK_SIZES if quick else SIZES, seed) for seed in range(1, experts + 1)]
    low, high = models[0], models[1] if experts == 2 else None

    def expert(cfg):
        return sampling.RewindHighNoiseExpert.execute(high, BOUNDARY, cfg).result[0] if high else None

    loaded = memory("VmRSS")
    reset_peak()
    with torch.inference_mode():
        noise = sampling.RewindUnsampler.execute(low, cond, cond, latent, UNSAMPLE_CFG, sigmas, "bdia",
                                                 high_noise_expert=expert(UNSAMPLE_CFG)).result[0]
        out = sampling.RewindResampler.execute(low, cond, cond, noise, RESAMPLE_CFG, "match unsampler",
                                               high_noise_expert=expert(HIGH_NOISE_RESAMPLE_CFG)).result[0]
    assert torch.isfinite(out["samples"]).all()
    return {"weights": loaded - start, "sampling": memory("VmHWM") - loaded}


def run_child(experts: int, quick: bool) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--measure", str(experts), *(["--quick"] if quick else [])]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 blocks per expert instead of 8")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.quick)))
        return
    sizes = QUICK_SIZES if args.quick else SIZES
    print(f"Wan2.1-architecture stand-ins {sizes}, latent {LATENT}, {STEPS} AYS steps, bdia, boundary {BOUNDARY}, "
          f"cfg {UNSAMPLE_CFG} down / {RESAMPLE_CFG} up (high-noise expert {HIGH_NOISE_RESAMPLE_CFG}), CPU")
    one, two = run_child(1, args.quick), run_child(2, args.quick)
    expert_weights = two["weights"] - one["weights"]
    for label, row in (("one expert", one), ("two experts", two)):
        print(f"  {label:11s}: weights in RAM {row['weights'] / MiB:7.1f} MiB, "
              f"unsample + resample peak above them {row['sampling'] / MiB:6.1f} MiB")
    print(f"  two experts' sampling peak / one expert's: {two['sampling'] / one['sampling']:.2f}x (target ~1; a copy of "
          f"an expert's weights at the switch would add {expert_weights / MiB:.0f} MiB)")
    print(f"  whole peak, two experts less the second expert's weights / one expert: "
          f"{(two['weights'] + two['sampling'] - expert_weights) / (one['weights'] + one['sampling']):.2f}x")


if __name__ == "__main__":
    main()
