"""The main job (``make run``): a headless ComfyUI with the pack unsamples a video under a
source prompt and resamples it under a target prompt with the weight-free reference model, then
reports the restyled video, a before/after contact sheet, the temporal consistency against a
per-frame restyle, and the roundtrip PSNR (source prompt both ways).

The reference job bounds what it takes on: at most ``MAX_WIDTH`` pixels wide and ``MAX_FRAMES``
frames unless ``--width`` / ``--frames`` (env WIDTH, FRAMES; 0 = no cap) say otherwise, and it
says up front how much of the clip it will restyle and about how long that takes.

With a workflow (``WORKFLOW=...``) it runs that instead, against ``COMFYUI_PATH`` (whose
models and custom nodes are linked in), so a missing model is reported by file and folder.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from . import workflow as wf
from .api import ComfyAPI
from .cli import RunFailed, RunResult, model_urls, positive_seconds, prepare_prompt, run_prompt, say, server_url
from .failures import ClientFailure
from .server import PACK_ROOT, ComfyServer, ServerStartError, prepare_base_directory, python_sees_a_gpu

SAMPLE_CLIP = PACK_ROOT / "assets" / "sample.mp4"
JOB_DIR = PACK_ROOT / ".cache" / "main_job"
VIDEO_SUFFIXES = {".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SOURCE_PROMPT = "a photo of shapes moving over a gradient"
DEFAULT_PROMPT = "sunset comic"
BASELINE_DENOISE = 0.5  # per-frame img2img strength: the look lands while the frame stays recognisable
MAX_WIDTH, MAX_FRAMES = 512, 48  # the reference job's default bounds: a 720p minute would take CPU hours
SIZE_MULTIPLE = 8  # the reference codec's spatial compression
# Measured with the reference job on 2 CPU cores (2026-12-02): seconds per megapixel-frame loaded, plus
# server start-up (a 256x256x24 clip took 34 s, 48 frames of 512x288 35 s).
SECONDS_PER_MEGAPIXEL_FRAME, STARTUP_SECONDS = 3.0, 20.0


@dataclass(frozen=True)
class JobSize:
    """What the reference job will restyle of a clip: frames at width x height, out of the source's."""

    width: int
    height: int
    frames: int
    source_width: int
    source_height: int
    source_frames: int

    def describe(self) -> str:
        whole = (self.frames, self.width) == (self.source_frames, self.source_width)
        full_size = estimated_seconds(self.source_width, self.source_height, self.source_frames)
        lift = "" if whole else f" (WIDTH=0 FRAMES=0 restyles all of it, about {duration(full_size)})"
        return (f"restyling {self.frames} of {self.source_frames} frames at {self.width}x{self.height} of the "
                f"{self.source_width}x{self.source_height} clip{lift}; expect about "
                f"{duration(estimated_seconds(self.width, self.height, self.frames))} on a 2-core CPU, less on a GPU")


def estimated_seconds(width: int, height: int, frames: int) -> float:
    return STARTUP_SECONDS + SECONDS_PER_MEGAPIXEL_FRAME * frames * width * height / 1e6


def job_size(width: int, height: int, frames: int, max_width: int, max_frames: int) -> JobSize:
    """The loaded size under the caps (0 = none): narrower keeps the aspect, snapped to the codec's multiple."""
    scale = min(1.0, max_width / width) if max_width else 1.0
    loaded_width = max(SIZE_MULTIPLE, round(width * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    loaded_height = max(SIZE_MULTIPLE, round(height * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    return JobSize(loaded_width, loaded_height, min(frames, max_frames) if max_frames else frames, width, height, frames)


def probe_size(video: Path) -> tuple[int, int, int]:
    """(width, height, frames) from the container's header: nothing is decoded."""
    import imageio_ffmpeg  # the pack's own ffmpeg; the queue client proper needs only the standard library

    reader = imageio_ffmpeg.read_frames(str(video))
    try:
        meta = next(reader)
    finally:
        reader.close()
    width, height = meta["size"]
    return width, height, max(1, math.ceil(meta["fps"] * meta["duration"]))


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def reference_workflow(video_name: str, prompt: str = DEFAULT_PROMPT, size: JobSize | None = None) -> dict:
    """Load → encode → unsample under the source prompt (bdia, the default: exact roundtrip, AYS 16 steps) → resample under
    `prompt` → decode → combine, plus three reports: the contact sheet, the temporal consistency of
    the result and of a per-frame restyle (img2img with fresh noise per frame, no unsampling), and
    the roundtrip (resampled under the source prompt, compared with the encoded latent). `size`
    caps what is loaded (default: the whole clip at its own size)."""
    width, height, frames = (size.width, size.height, size.frames) if size else (0, 0, 0)

    def node(class_type: str, title: str, **inputs) -> dict:
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    return {
        "1": node("RewindLoadVideo", "Load video", video=video_name, force_rate=0.0, custom_width=width, custom_height=height,
                  frame_load_cap=frames, skip_first_frames=0, select_every_nth=1, model_preset="none"),
        "2": node("RewindReferenceModel", "Reference model", model_type="SD1.5", data="gaussian"),
        "3": node("VAEEncode", "Encode", pixels=["1", 0], vae=["2", 1]),
        "4": node("RewindAYSScheduler", "AYS schedule", model_type="SD1", steps=16, denoise=1.0),
        "10": node("CLIPTextEncode", "Source prompt", text=SOURCE_PROMPT, clip=["2", 3]),
        "11": node("CLIPTextEncode", "Positive prompt", text=prompt, clip=["2", 3]),
        "5": node("RewindUnsampler", "Unsample", model=["2", 0], positive=["10", 0], negative=["2", 2],
                  latent=["3", 0], sigmas=["4", 0], cfg=1.0, solver="bdia"),
        "6": node("RewindResampler", "Resample", model=["2", 0], positive=["11", 0], negative=["2", 2],
                  latent=["5", 0], cfg=1.0, solver="match unsampler"),
        "7": node("VAEDecode", "Decode", samples=["6", 0], vae=["2", 1]),
        "9": node("RewindVideoCombine", "Video combine", images=["7", 0], frame_rate=["1", 2], loop_count=0,
                  filename_prefix="rewind/restyled", format="video/h264-mp4", pingpong=False, save_output=True),
        "16": node("RewindContactSheet", "Contact sheet", before=["1", 0], after=["7", 0], columns=6,
                   filename_prefix="rewind/contact_sheet"),
        "13": node("KSampler", "Per-frame restyle (baseline)", model=["2", 0], seed=0, steps=16, cfg=1.0,
                   sampler_name="euler", scheduler="karras", positive=["11", 0], negative=["2", 2], latent_image=["3", 0],
                   denoise=BASELINE_DENOISE),
        "14": node("VAEDecode", "Decode baseline", samples=["13", 0], vae=["2", 1]),
        "15": node("RewindTemporalConsistency", "Temporal consistency", source=["1", 0], result=["7", 0],
                   baseline=["14", 0]),
        "12": node("RewindResampler", "Resample (source prompt)", model=["2", 0], positive=["10", 0],
                   negative=["2", 2], latent=["5", 0], cfg=1.0, solver="match unsampler"),
        "8": node("RewindRoundtripReport", "Roundtrip report", reference=["3", 0], result=["12", 0]),
    }


def run_job(api: ComfyAPI, out_dir: Path, workflow: dict | None = None, video: Path | None = None,
            positive: str | None = None, timeout: float = 3600.0, models_dir: Path | None = None,
            max_width: int = MAX_WIDTH, max_frames: int = MAX_FRAMES) -> RunResult:
    """Queues the reference workflow on ``video`` (default: the sample clip) within the caps, or the
    given workflow; ``models_dir`` (the server's models folder, when known) goes into missing-model errors."""
    if workflow is None:
        video = video or SAMPLE_CLIP
        size = job_size(*probe_size(video), max_width, max_frames)
        print(size.describe(), file=sys.stderr)
        prompt = wf.with_required_defaults(reference_workflow(api.upload(video), positive or DEFAULT_PROMPT, size),
                                           api.object_info())
        known_urls = {}
    else:
        prompt = prepare_prompt(api, workflow, video, positive)
        known_urls = model_urls(workflow) if wf.is_ui_format(workflow) else {}
    return run_prompt(api, prompt, out_dir, timeout, known_urls=known_urls, models_dir=models_dir)


def print_result(result: RunResult) -> None:
    for text in result.texts:
        say(text)
    for path in result.files:
        suffix = path.suffix.lower()
        say(f"{'output video' if suffix in VIDEO_SUFFIXES else 'output image' if suffix in IMAGE_SUFFIXES else 'output file'}: {path}")


def start_server(comfyui: Path) -> ComfyServer:
    """A fresh server in ``.cache/main_job`` (kept until the next run, so its log can be read)."""
    shutil.rmtree(JOB_DIR, ignore_errors=True)  # symlinks inside are removed, never followed
    base = prepare_base_directory(JOB_DIR, user_comfyui=comfyui)
    cpu = not python_sees_a_gpu()
    print(f"starting ComfyUI from {comfyui} on the {'CPU' if cpu else 'GPU'} (log: {base / 'server.log'})", file=sys.stderr)
    return ComfyServer(comfyui, base, cpu=cpu).start()


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m rewind_queue.main_job", description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", type=Path, default=env("WORKFLOW") or None, help="workflow JSON (env WORKFLOW); default: the reference job")
    parser.add_argument("--video", type=Path, default=env("VIDEO") or None, help="input video (env VIDEO); default: assets/sample.mp4")
    parser.add_argument("--prompt", default=env("PROMPT") or None, help=f"positive prompt text (env PROMPT); the reference job's look words: default {DEFAULT_PROMPT!r}")
    parser.add_argument("--server", type=server_url, default=env("COMFYUI_URL") or None, help="use this running ComfyUI instead of starting one (env COMFYUI_URL)")
    parser.add_argument("--comfyui", type=Path, default=env("COMFYUI_PATH") or None, help="ComfyUI tree to start (env COMFYUI_PATH)")
    parser.add_argument("--out", type=Path, default=PACK_ROOT / "output", help="where outputs are downloaded (default: output/)")
    parser.add_argument("--width", type=cap, default=env("WIDTH") or MAX_WIDTH,
                        help=f"reference job: at most this many pixels wide (env WIDTH; 0 = the source width; default {MAX_WIDTH})")
    parser.add_argument("--frames", type=cap, default=env("FRAMES") or MAX_FRAMES,
                        help=f"reference job: at most this many frames (env FRAMES; 0 = every frame; default {MAX_FRAMES})")
    parser.add_argument("--timeout", type=positive_seconds, default=3600.0, help="seconds the prompt may take, downloads included")
    return parser


def cap(text: str) -> int:
    """A whole number >= 0 (0 lifts the cap), for --width and --frames."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0 (0 lifts the cap)")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server = None
    try:
        workflow = wf.load_workflow(args.workflow) if args.workflow else None
        if args.server is None:
            if args.comfyui is None:
                raise wf.WorkflowError("no ComfyUI: set COMFYUI_PATH (scripts/run.sh does) or pass --server URL")
            server = start_server(args.comfyui)
        api = ComfyAPI(args.server or server.url)
        models_dir = args.comfyui / "models" if server is not None else None
        print_result(run_job(api, args.out, workflow, args.video, args.prompt, args.timeout, models_dir,
                             args.width, args.frames))
        return 0
    except wf.WorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientFailure, ServerStartError) as error:
        say(f"error: {error}", sys.stderr)
        if server is not None and not isinstance(error, RunFailed):
            print(f"server log tail:\n{server.tail()}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
