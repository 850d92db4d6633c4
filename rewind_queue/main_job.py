"""The main job (``make run``): a headless ComfyUI with the pack unsamples and resamples a
video with the weight-free reference model, then reports the output video and roundtrip PSNR.

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


def reference_workflow(video_name: str) -> dict:
    """Load → encode → unsample (exact, AYS 16 steps) → resample → decode → combine, plus the
    roundtrip report comparing the resampled latent with the encoded one."""
    def node(class_type: str, title: str, **inputs) -> dict:
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    return {
        "1": node("RewindLoadVideo", "Load video", video=video_name, force_rate=0.0, custom_width=0, custom_height=0,
                  frame_load_cap=0, skip_first_frames=0, select_every_nth=1, model_preset="none"),
        "2": node("RewindReferenceModel", "Reference model", family="SD1.5", data="gaussian"),
        "3": node("VAEEncode", "Encode", pixels=["1", 0], vae=["2", 1]),
        "4": node("RewindAYSScheduler", "AYS schedule", model_type="SD1", steps=16, denoise=1.0),
        "5": node("RewindUnsampler", "Unsample", model=["2", 0], positive=["2", 2], negative=["2", 2],
                  latent=["3", 0], sigmas=["4", 0], cfg=1.0, solver="exact"),
        "6": node("RewindResampler", "Resample", model=["2", 0], positive=["2", 2], negative=["2", 2],
                  latent=["5", 0], cfg=1.0, solver="match unsampler"),
        "7": node("VAEDecode", "Decode", samples=["6", 0], vae=["2", 1]),
        "8": node("RewindRoundtripReport", "Roundtrip report", reference=["3", 0], result=["6", 0]),
        "9": node("RewindVideoCombine", "Video combine", images=["7", 0], frame_rate=["1", 2], loop_count=0,
                  filename_prefix="rewind/main_job", format="video/h264-mp4", pingpong=False, save_output=True),
    }


def run_job(api: ComfyAPI, out_dir: Path, workflow: dict | None = None, video: Path | None = None,
            positive: str | None = None, timeout: float = 3600.0, models_dir: Path | None = None) -> RunResult:
    """Queues the reference workflow on ``video`` (default: the sample clip), or the given one;
    ``models_dir`` (the server's models folder, when known) goes into missing-model errors."""
    if workflow is None:
        prompt = wf.with_required_defaults(reference_workflow(api.upload(video or SAMPLE_CLIP)), api.object_info())
        known_urls = {}
    else:
        prompt = prepare_prompt(api, workflow, video, positive)
        known_urls = model_urls(workflow) if wf.is_ui_format(workflow) else {}
    return run_prompt(api, prompt, out_dir, timeout, known_urls=known_urls, models_dir=models_dir)


def print_result(result: RunResult) -> None:
    for text in result.texts:
        print(text)
    for path in result.files:
        print(f"{'output video' if path.suffix.lower() in VIDEO_SUFFIXES else 'output file'}: {path}")


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
    parser.add_argument("--prompt", default=env("PROMPT") or None, help="positive prompt text (env PROMPT)")
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
