"""Where results go and how the frontend shows them, as ComfyUI's own save nodes do it."""
from __future__ import annotations

import os

import folder_paths
from comfy.cli_args import args

VIDEO_PREVIEW_EXTENSIONS = ("mp4", "webm", "mov", "webp")  # shown as video / animated image by the frontend


def save_location(filename_prefix: str, folder_type: str, width: int, height: int) -> tuple[str, str, int, str]:
    """(folder, file name stem, counter, subfolder) for the next file under `filename_prefix` in the
    output or temp folder, with Save Image's %date:...% fields and counters."""
    root = folder_paths.get_output_directory() if folder_type == "output" else folder_paths.get_temp_directory()
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, root, width, height)
    return folder, filename, counter, subfolder


def preview_path(name: str) -> str:
    """Where a browser-playable copy of a file the browser cannot play goes (the temp folder)."""
    folder = folder_paths.get_temp_directory()
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}preview.mp4")


def workflow_metadata(prompt, extra_pnginfo) -> dict | None:
    """What core's SaveImage/SaveVideo embed: every extra_pnginfo key (the workflow) plus the prompt."""
    if args.disable_metadata:
        return None
    metadata = dict(extra_pnginfo or {})
    if prompt is not None:
        metadata["prompt"] = prompt
    return metadata or None


def saved_entry(filename: str, subfolder: str, folder_type: str, fmt: str) -> dict:
    return {"filename": filename, "subfolder": subfolder, "type": folder_type, "format": fmt}


def preview_ui(entries: list[dict], extension: str) -> dict:
    """The stock frontend plays `animated` results in a <video> unless they are webp/png (then an
    animated <img>); gifs and png frames are plain images, which browsers animate/show themselves."""
    return {"images": entries, "animated": (extension in VIDEO_PREVIEW_EXTENSIONS,)}
