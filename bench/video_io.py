"""Video I/O throughput and peak memory: Rewind's streaming pipes against whole-batch baselines.

Encode: Rewind converts each frame to uint8 on its way into ffmpeg (the RewindVideoCombine path);
the baseline converts the whole float batch to uint8 first, then feeds the same encoder.
Decode: Rewind streams frames from ffmpeg into a preallocated float array (RewindLoadVideo's path);
the baseline reads ffmpeg's whole raw output, then converts it to float.
Each measurement runs in its own process so peak RSS (ru_maxrss) is its own; growth is measured
above the process's state once the input exists. Timings share the machine with whatever else runs:
read the ratios, and rerun when they matter. Prints a table with Rewind/baseline ratios.

    .cache/venv/bin/python bench/video_io.py [--formats video/h264-mp4,image/gif] [--sizes 240x512x512,48x1280x720]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("240x512x512", "48x1280x720")  # frames x width x height


def alias_pack() -> None:
    """The pack as `rewind` without running its root __init__ (as tests/conftest.py does)."""
    alias = types.ModuleType("rewind")
    alias.__path__ = [str(ROOT)]
    sys.modules.setdefault("rewind", alias)


def import_pack() -> None:
    """The pack, with ComfyUI importable on the CPU (the node code converts the frames)."""
    sys.path.insert(0, os.environ.get("COMFYUI_PATH") or str(ROOT / ".cache" / "comfyui-0.3.75"))
    alias_pack()
    from comfy.cli_args import args

    args.cpu = True


def peak_rss() -> int:
    """Peak resident bytes of this process so far (ffmpeg's own memory is not included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_clip(frames: int, width: int, height: int):
    """Smooth moving gradients plus mild noise: compresses like real footage, not like flat colour."""
    import torch

    generator = torch.Generator().manual_seed(0)
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    clip = torch.empty(frames, height, width, 3)
    for t in range(frames):
        phase = t / max(frames, 1)
        clip[t, ..., 0] = 0.2 + 0.6 * x
        clip[t, ..., 1] = 0.3 + 0.5 * y
        clip[t, ..., 2] = 0.5 + 0.3 * torch.sin(6.28 * (x + y + phase))
        clip[t] += torch.rand(height, width, 3, generator=generator) * 0.04
    return clip.clamp_(0, 1)


def measure_encode(approach: str, fmt: str, frames: int, width: int, height: int, path: str) -> dict:
    import numpy as np

    from rewind import video_io
    from rewind.nodes.video import frame_source, to_uint8

    images = test_clip(frames, width, height)
    options = video_io.EncodeOptions(format=fmt, frame_rate=24.0, crf=23)
    to_uint8(images[0]), images[:1].mul(255).round().clamp(0, 255).numpy().astype(np.uint8)  # warm torch's kernels
    before = peak_rss()
    start = time.perf_counter()
    if approach == "rewind":
        source, _ = frame_source(images, None, None, pingpong=False)
    else:
        batch = images.mul(255).round().clamp(0, 255).to("cpu").numpy().astype(np.uint8)
        source = iter(batch)
    if fmt == "image/png-sequence":
        video_io.write_png_sequence(source, path)
    else:
        video_io.encode_video(source, path, options)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "growth": peak_rss() - before}


def measure_decode(approach: str, path: str, frames: int, width: int, height: int) -> dict:
    import numpy as np

    from rewind import video_io
    from rewind.video_io.ffmpeg import run_ffmpeg

    before = peak_rss()
    start = time.perf_counter()
    if approach == "rewind":
        loaded = video_io.load_frames(video_io.plan_load(video_io.probe(path), video_io.LoadRequest()))
    else:
        raw = run_ffmpeg(["-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).stdout
        loaded = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3).astype(np.float32) / 255
    seconds = time.perf_counter() - start
    growth = peak_rss() - before
    if len(loaded) != frames:
        raise SystemExit(f"{approach} decoded {len(loaded)} of {frames} frames from {path}")
    return {"seconds": seconds, "growth": growth}


def run_one(args: argparse.Namespace) -> None:
    import_pack()
    frames, width, height = map(int, args.size.split("x"))
    if args.op == "encode":
        result = measure_encode(args.approach, args.format, frames, width, height, args.path)
    else:
        result = measure_decode(args.approach, args.path, frames, width, height)
    print(json.dumps(result))


def child(op: str, approach: str, fmt: str, size: str, path: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--one", op, approach, fmt, size, path], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{op} {approach} {fmt} {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def output_path(folder: str, fmt: str, size: str, approach: str) -> str:
    from rewind.video_io import FORMATS

    name = f"{fmt.replace('/', '_')}_{size}_{approach}"
    return os.path.join(folder, name if fmt == "image/png-sequence" else f"{name}.{FORMATS[fmt].extension}")


def row(op: str, fmt: str, size: str, rewind: dict, baseline: dict) -> str:
    frames = int(size.split("x")[0])
    mb = 1e6
    return (f"{op:6} {fmt:20} {size:13} {frames / rewind['seconds']:8.1f} {frames / baseline['seconds']:8.1f} "
            f"{baseline['seconds'] / rewind['seconds']:6.2f} {rewind['growth'] / mb:9.0f} {baseline['growth'] / mb:9.0f} "
            f"{rewind['growth'] / max(baseline['growth'], 1):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default="image/gif,image/webp,video/h264-mp4,video/h265-mp4,video/webm,video/ProRes,image/png-sequence")
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES))
    parser.add_argument("--one", nargs=5, metavar=("OP", "APPROACH", "FORMAT", "SIZE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    alias_pack()
    if args.one:
        run_one(argparse.Namespace(op=args.one[0], approach=args.one[1], format=args.one[2], size=args.one[3], path=args.one[4]))
        return
    print("fps = frames/s (higher is better); speedup = baseline time / Rewind time; RSS = peak growth of the Python")
    print("process above its input (MB, ffmpeg's own memory not included); ratio = Rewind / baseline RSS.")
    print("VideoHelperSuite is not compared: no local checkout of it is used by this bench.\n")
    print(f"{'op':6} {'format':20} {'size':13} {'fps':>8} {'base fps':>8} {'speedup':>6} {'RSS':>9} {'base RSS':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="rewind-bench-") as folder:
        for size in args.sizes.split(","):
            for fmt in args.formats.split(","):
                paths = {approach: output_path(folder, fmt, size, approach) for approach in ("rewind", "baseline")}
                encode = {approach: child("encode", approach, fmt, size, paths[approach]) for approach in paths}
                print(row("encode", fmt, size, encode["rewind"], encode["baseline"]), flush=True)
                if fmt != "image/png-sequence":  # the loaders read video files, not frame folders
                    decode = {approach: child("decode", approach, fmt, size, paths["rewind"]) for approach in paths}
                    print(row("decode", fmt, size, decode["rewind"], decode["baseline"]), flush=True)


if __name__ == "__main__":
    main()
