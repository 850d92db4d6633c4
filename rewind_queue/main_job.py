"""The main job (``make run``): a headless ComfyUI with the pack unsamples a video under a
source prompt and resamples it under a target prompt with the weight-free reference model, then
reports the restyled video, a before/after contact sheet, the temporal consistency against a
per-frame restyle, and the roundtrip PSNR (source prompt both ways).

With a workflow (``WORKFLOW=...``) it runs that instead, against ``COMFYUI_PATH`` (whose
models and custom nodes are linked in), so a missing model is reported by file and folder.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from . import workflow as wf
from .api import ComfyAPI, ServerUnreachable
from .cli import RunFailed, RunResult, model_urls, prepare_prompt, run_prompt
from .server import PACK_ROOT, ComfyServer, ServerStartError, prepare_base_directory, python_sees_a_gpu

SAMPLE_CLIP = PACK_ROOT / "assets" / "sample.mp4"
JOB_DIR = PACK_ROOT / ".cache" / "main_job"
VIDEO_SUFFIXES = {".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SOURCE_PROMPT = "a photo of shapes moving over a gradient"
DEFAULT_PROMPT = "sunset comic"
BASELINE_DENOISE = 0.5  # per-frame img2img strength: the look lands while the frame stays recognisable


def reference_workflow(video_name: str, prompt: str = DEFAULT_PROMPT) -> dict:
    """Load → encode → unsample under the source prompt (exact, AYS 16 steps) → resample under
    `prompt` → decode → combine, plus three reports: the contact sheet, the temporal consistency of
    the result and of a per-frame restyle (img2img with fresh noise per frame, no unsampling), and
    the roundtrip (resampled under the source prompt, compared with the encoded latent)."""
    def node(class_type: str, title: str, **inputs) -> dict:
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    return {
        "1": node("RewindLoadVideo", "Load video", video=video_name, force_rate=0.0, custom_width=0, custom_height=0,
                  frame_load_cap=0, skip_first_frames=0, select_every_nth=1, model_preset="none"),
        "2": node("RewindReferenceModel", "Reference model", model_type="SD1.5", data="gaussian"),
        "3": node("VAEEncode", "Encode", pixels=["1", 0], vae=["2", 1]),
        "4": node("RewindAYSScheduler", "AYS schedule", model_type="SD1", steps=16, denoise=1.0),
        "10": node("CLIPTextEncode", "Source prompt", text=SOURCE_PROMPT, clip=["2", 3]),
        "11": node("CLIPTextEncode", "Positive prompt", text=prompt, clip=["2", 3]),
        "5": node("RewindUnsampler", "Unsample", model=["2", 0], positive=["10", 0], negative=["2", 2],
                  latent=["3", 0], sigmas=["4", 0], cfg=1.0, solver="exact"),
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
            positive: str | None = None, timeout: float = 3600.0, models_dir: Path | None = None) -> RunResult:
    """Queues the reference workflow on ``video`` (default: the sample clip), or the given one;
    ``models_dir`` (the server's models folder, when known) goes into missing-model errors."""
    if workflow is None:
        prompt = wf.with_required_defaults(reference_workflow(api.upload(video or SAMPLE_CLIP), positive or DEFAULT_PROMPT),
                                           api.object_info())
        known_urls = {}
    else:
        prompt = prepare_prompt(api, workflow, video, positive)
        known_urls = model_urls(workflow) if wf.is_ui_format(workflow) else {}
    return run_prompt(api, prompt, out_dir, timeout, known_urls=known_urls, models_dir=models_dir)


def print_result(result: RunResult) -> None:
    for text in result.texts:
        print(text)
    for path in result.files:
        suffix = path.suffix.lower()
        print(f"{'output video' if suffix in VIDEO_SUFFIXES else 'output image' if suffix in IMAGE_SUFFIXES else 'output file'}: {path}")


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
    parser.add_argument("--server", default=env("COMFYUI_URL") or None, help="use this running ComfyUI instead of starting one (env COMFYUI_URL)")
    parser.add_argument("--comfyui", type=Path, default=env("COMFYUI_PATH") or None, help="ComfyUI tree to start (env COMFYUI_PATH)")
    parser.add_argument("--out", type=Path, default=PACK_ROOT / "output", help="where outputs are downloaded (default: output/)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    return parser


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
        print_result(run_job(api, args.out, workflow, args.video, args.prompt, args.timeout, models_dir))
        return 0
    except wf.WorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (RunFailed, ServerUnreachable, ServerStartError) as error:
        print(f"error: {error}", file=sys.stderr)
        if server is not None and not isinstance(error, RunFailed):
            print(f"server log tail:\n{server.tail()}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
