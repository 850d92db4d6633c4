"""Context plans for long clips: time and peak memory of planning and previewing the windows,
against the dense windows x frames weight matrix (and one image row per window) that the plan used
to hold, measured in the same run. Each measurement runs in its own process, so peaks are its own.

    python bench/context_plan.py
"""
from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import import_pack

import_pack()

from rewind.samplers.context import ContextOptions, plan_context, render_plan  # noqa: E402

# (frames, context_length, context_overlap): defaults, one-frame windows, long heavily overlapping windows
CASES = [(2000, 16, 4), (2000, 1, 0), (8000, 1, 0), (100000, 16, 4), (100000, 1, 0), (100000, 81, 64)]
DENSE_LIMIT_BYTES = 4 * 2**30  # the baseline is skipped where its matrix and image alone pass this


def dense_baseline(frames: int, options: ContextOptions) -> None:
    """What the preview did before: a float64 windows x frames matrix, and 12 image rows per window."""
    windows = plan_context(frames, options, 1).windows
    weights = torch.zeros(len(windows), frames, dtype=torch.float64)
    for w, window in enumerate(windows):
        weights[w, list(window)] = 1.0
    weights /= weights.sum(0, keepdim=True)
    rows = weights.float().repeat_interleave(12, 0)
    rows.repeat_interleave(max(1, 1024 // frames), 1).unsqueeze(-1).expand(-1, -1, 3).contiguous()


def measure(kind: str, frames: int, length: int, overlap: int) -> str:
    options = ContextOptions(length=length, overlap=overlap, fuse_method="pyramid")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if kind == "dense":
        dense_baseline(frames, options)
    else:
        render_plan(plan_context(frames, options, 1))
    seconds = time.perf_counter() - start
    return f"{seconds:.3f} {(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024:.1f}"


def run(kind: str, frames: int, length: int, overlap: int) -> tuple[float, float]:
    out = subprocess.run([sys.executable, __file__, "--measure", kind, str(frames), str(length), str(overlap)],
                         capture_output=True, text=True, check=True)
    seconds, mib = out.stdout.split()
    return float(seconds), float(mib)


def main() -> None:
    print(f"{'frames':>7} {'length':>6} {'overlap':>7} | {'plan+preview s':>14} {'MiB':>7} | "
          f"{'dense s':>8} {'MiB':>8} | {'time ratio':>10} {'memory ratio':>12}")
    for frames, length, overlap in CASES:
        seconds, mib = run("plan", frames, length, overlap)
        windows = len(plan_context(frames, ContextOptions(length=length, overlap=overlap), 1).windows)
        dense_bytes = windows * frames * (8 + 12 * 3 * 4)
        if dense_bytes > DENSE_LIMIT_BYTES:
            print(f"{frames:>7} {length:>6} {overlap:>7} | {seconds:>14.3f} {mib:>7.1f} | "
                  f"{'skipped':>8} {dense_bytes / 2**20:>7.0f}* |")
            continue
        dense_seconds, dense_mib = run("dense", frames, length, overlap)
        print(f"{frames:>7} {length:>6} {overlap:>7} | {seconds:>14.3f} {mib:>7.1f} | {dense_seconds:>8.3f} "
              f"{dense_mib:>8.1f} | {dense_seconds / seconds:>10.1f} {dense_mib / max(mib, 0.1):>12.1f}")
    print("* skipped: the dense matrix and image alone would take this many MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(measure(sys.argv[2], *map(int, sys.argv[3:6])))
    else:
        main()
