"""Video I/O throughput and peak memory: Rewind's streaming pipes against whole-batch baselines.

Encode: Rewind converts each frame to uint8 on its way into ffmpeg (the RewindVideoCombine path);
the baseline converts the whole float batch to uint8 first, then feeds the same encoder.
Decode: Rewind streams frames from ffmpeg into a preallocated float array (RewindLoadVideo's path);
the baseline reads ffmpeg's whole raw output, then converts it to float.
With REWIND_BENCH_VHS_PATH set to a ComfyUI-VideoHelperSuite checkout, its VideoCombine and
LoadVideoPath run on the same clips too (imported in-process without its server routes).
Each measurement runs in its own process so peak RSS (ru_maxrss) is its own; growth is measured
above the process's state once the input exists. Timings share the machine with whatever else runs:
read the ratios, and rerun when they matter. Prints a table with Rewind/baseline ratios.

    [REWIND_BENCH_VHS_PATH=/path/to/ComfyUI-VideoHelperSuite] .cache/venv/bin/python bench/video_io.py \
        [--formats video/h264-mp4,image/gif] [--sizes 240x512x512,48x1280x720]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testbed"))  # comfy_env: ComfyUI and the pack
from comfy_env import import_comfyui, import_pack  # noqa: E402

DEFAULT_SIZES = ("240x512x512", "48x1280x720")  # frames x width x height


def import_vhs():
    """VideoHelperSuite's node module, without running its package __init__ (which needs a live server)."""
    import utils.install_util  # noqa: F401  (ComfyUI's own `utils` package, before comfy/ shadows it)

    import server

    server.PromptServer.instance = types.SimpleNamespace(prompt_queue=None, send_sync=lambda *a, **k: None)
    alias = types.ModuleType("vhs")
    alias.__path__ = [os.path.join(os.environ["REWIND_BENCH_VHS_PATH"], "videohelpersuite")]
    sys.modules["vhs"] = alias
    from vhs import load_video_nodes, nodes

    return nodes, load_video_nodes


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

    vhs_nodes = import_vhs()[0] if approach == "vhs" else None  # first: it needs ComfyUI's `utils` unshadowed
    import folder_paths

    from rewind import video_io
    from rewind.nodes.video import frame_source, to_uint8

    images = test_clip(frames, width, height)
    options = video_io.EncodeOptions(format=fmt, frame_rate=24.0, crf=23)
    to_uint8(images[0]), images[:1].mul(255).round().clamp(0, 255).numpy().astype(np.uint8)  # warm torch's kernels
    before = peak_rss()
    start = time.perf_counter()
    if approach == "vhs":
        folder_paths.output_directory = os.path.dirname(path)
        result = vhs_nodes.VideoCombine().combine_video(frame_rate=24.0, loop_count=0, images=images, format=fmt, crf=23,
                                                        filename_prefix=os.path.basename(path), save_output=True)
        os.replace(result["result"][0][1][-1], path)
        return {"seconds": time.perf_counter() - start, "growth": peak_rss() - before}
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
    vhs_loader = import_vhs()[1] if approach == "vhs" else None
    import numpy as np

    from rewind import video_io
    from rewind.video_io.ffmpeg import run_ffmpeg

    before = peak_rss()
    start = time.perf_counter()
    if approach == "vhs":
        loaded = vhs_loader.LoadVideoPath().load_video(video=path, force_rate=0, custom_width=0, custom_height=0,
                                                       frame_load_cap=0, skip_first_frames=0, select_every_nth=1)[0]
    elif approach == "rewind":
        loaded = video_io.load_frames(video_io.plan_load(video_io.probe(path), video_io.LoadRequest()))
    else:
        raw = run_ffmpeg(["-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).stdout
        loaded = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3).astype(np.float32) / 255
    seconds = time.perf_counter() - start
    growth = peak_rss() - before
    if len(loaded) != frames:
        raise SystemExit(f"{approach} decoded {len(loaded)} of {frames} frames from {path}")
    return {"seconds": seconds, "growth": growth, **colour_error(np.asarray(loaded), frames, width, height)}


def colour_error(loaded, frames: int, width: int, height: int) -> dict:
    """Loaded frames against the clip that was encoded, on a 0-255 scale: every loader reads the same
    file, so differences between loaders are the loaders' own (a bias is a colour shift)."""
    import numpy as np

    error = np.round(loaded * 255) - np.round(test_clip(frames, width, height).numpy() * 255)
    return {"bias": float(np.abs(error.reshape(-1, 3).mean(axis=0)).max()), "mae": float(np.abs(error).mean())}


def run_one(args: argparse.Namespace) -> None:
    import_comfyui(cpu=True)  # the node code converts the frames
    frames, width, height = map(int, args.size.split("x"))
    if args.op == "encode":
        result = measure_encode(args.approach, args.format, frames, width, height, args.path)
    else:
        result = measure_decode(args.approach, args.path, frames, width, height)
    print(json.dumps(result))


def child(op: str, approach: str, fmt: str, size: str, path: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--one", op, approach, fmt, size, path], capture_output=True, text=True)
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    if approach == "vhs":  # a format VHS cannot do is a result, not a bench failure
        return {"error": done.stderr.strip().splitlines()[-1]}
    raise SystemExit(f"{op} {approach} {fmt} {size} failed:\n{done.stderr[-3000:]}")


def output_path(folder: str, fmt: str, size: str, approach: str) -> str:
    from rewind.video_io import FORMATS

    name = f"{fmt.replace('/', '_')}_{size}_{approach}"
    return os.path.join(folder, name if fmt == "image/png-sequence" else f"{name}.{FORMATS[fmt].extension}")


def approaches(fmt: str) -> list[str]:
    vhs = os.environ.get("REWIND_BENCH_VHS_PATH") and fmt != "image/png-sequence"  # VHS has no plain png sequence
    return ["rewind", "baseline", *(["vhs"] if vhs else [])]


def row(op: str, fmt: str, size: str, results: dict[str, dict]) -> str:
    frames = int(size.split("x")[0])
    rewind = results["rewind"]
    cells = [f"{op:6} {fmt:20} {size:13}"]
    for name in ("rewind", "baseline", "vhs"):
        if name not in results or "error" in results[name]:
            cells.append(f"{'fails' if name in results else '-':>8} {'-':>7} {'-':>6} {'-':>6}")
            continue
        other = results[name]
        cells.append(f"{frames / other['seconds']:8.1f} {other['growth'] / 1e6:7.0f} "
                     f"{other['seconds'] / rewind['seconds']:6.2f} {rewind['growth'] / max(other['growth'], 1):6.2f}")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default="image/gif,image/webp,video/h264-mp4,video/h265-mp4,video/webm,video/ProRes,image/png-sequence")
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES))
    parser.add_argument("--one", nargs=5, metavar=("OP", "APPROACH", "FORMAT", "SIZE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import_pack()
    if args.one:
        run_one(argparse.Namespace(op=args.one[0], approach=args.one[1], format=args.one[2], size=args.one[3], path=args.one[4]))
        return
    print("Per approach: fps = frames/s; RSS = peak growth (MB) of the Python process above its input, ffmpeg's own")
    print("memory not included; t/t_rw = its time over Rewind's (>1: Rewind faster); rss_rw = Rewind's RSS over its RSS.")
    print("Colour: bias = largest per-channel mean signed error, mae = mean absolute error, both on 0-255.")
    if not os.environ.get("REWIND_BENCH_VHS_PATH"):
        print("VideoHelperSuite not compared: set REWIND_BENCH_VHS_PATH to a checkout of it.")
    header = " | ".join(f"{name + ' fps':>8} {'RSS':>7} {'t/t_rw':>6} {'rss_rw':>6}" for name in ("rewind", "baseline", "vhs"))
    print(f"{'op':6} {'format':20} {'size':13} | {header}")
    with tempfile.TemporaryDirectory(prefix="rewind-bench-") as folder:
        for size in args.sizes.split(","):
            for fmt in args.formats.split(","):
                paths = {approach: output_path(folder, fmt, size, approach) for approach in approaches(fmt)}
                encoded = {approach: child("encode", approach, fmt, size, paths[approach]) for approach in paths}
                print(row("encode", fmt, size, encoded), flush=True)
                decoded = {}
                if fmt != "image/png-sequence":  # the loaders read video files, not frame folders
                    decoded = {approach: child("decode", approach, fmt, size, paths["rewind"]) for approach in paths}
                    print(row("decode", fmt, size, decoded), flush=True)
                    print("    colour vs source (0-255): " + " | ".join(
                        f"{name} bias {result['bias']:.2f} mae {result['mae']:.2f}"
                        for name, result in decoded.items() if "bias" in result), flush=True)
                failures = [f"{op} {name}: {result['error']}" for op, results in (("encode", encoded), ("decode", decoded))
                            for name, result in results.items() if "error" in result]
                print("".join(f"    {failure}\n" for failure in failures), end="", flush=True)


if __name__ == "__main__":
    main()
