"""Writes example_workflows/<name>.jpg, the thumbnail the template browser shows for each example workflow.

The frames come from a real run of the pack: the reference job (`make run`: the sample clip through
Load Video → exact unsample → resample → Video Combine with the weight-free reference model) on a
headless ComfyUI. Four frames of its output make a filmstrip; the workflow's own title goes on it.

    scripts/with_env.sh python scripts/make_thumbnails.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
_alias = types.ModuleType("rewind")  # the pack as `rewind`, without its ComfyUI-only root __init__
_alias.__path__ = [str(ROOT)]
sys.modules.setdefault("rewind", _alias)

from rewind.rewind_queue.api import ComfyAPI  # noqa: E402
from rewind.rewind_queue.main_job import run_job  # noqa: E402
from rewind.rewind_queue.server import ComfyServer, prepare_base_directory  # noqa: E402
from rewind.video_io import LoadRequest, load_frames, plan_load, probe  # noqa: E402
from rewind.example_workflows.source import RECIPES, WORKFLOWS_DIR, template_entry  # noqa: E402

SIZE = 512  # the template browser crops to a square card
BAND = 92


def reference_job_frames() -> np.ndarray:
    """The reference job's output frames, (N, H, W, 3) uint8."""
    comfyui = Path(os.environ.get("COMFYUI_PATH") or ROOT / ".cache" / "comfyui-0.3.75")
    with tempfile.TemporaryDirectory() as tmp, ComfyServer(comfyui, prepare_base_directory(Path(tmp) / "base")) as server:
        result = run_job(ComfyAPI(server.url), Path(tmp) / "out")
        video = next(path for path in result.files if path.suffix == ".mp4")
        frames = load_frames(plan_load(probe(str(video)), LoadRequest()))  # float, 0..1
        return (frames * 255).round().astype(np.uint8)


def thumbnail(frames: np.ndarray, title: str) -> Image.Image:
    half = SIZE // 2
    picks = np.linspace(0, len(frames) - 1, 4).round().astype(int)
    card = Image.new("RGB", (SIZE, SIZE))
    for slot, index in enumerate(picks):
        tile = Image.fromarray(frames[index]).resize((half, half), Image.LANCZOS)
        card.paste(tile, ((slot % 2) * half, (slot // 2) * half))
    band = Image.new("RGBA", (SIZE, BAND), (16, 16, 20, 215))
    draw = ImageDraw.Draw(band)
    draw.text((18, 12), title, fill=(255, 255, 255), font=ImageFont.load_default(size=30))
    draw.text((18, 54), "video style transfer by unsampling", fill=(200, 200, 210), font=ImageFont.load_default(size=20))
    card.paste(band, (0, SIZE - BAND), band)
    return card


def main() -> int:
    frames = reference_job_frames()
    for name in RECIPES:
        path = WORKFLOWS_DIR / f"{name}.jpg"
        thumbnail(frames, template_entry(name)["title"].removesuffix(" video style transfer")).save(path, quality=85, optimize=True)
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
