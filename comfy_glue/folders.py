"""ComfyUI's input, output and temp folders: which files a node may read, and how errors name them.

On a shared server the loaders read only inside ComfyUI's folders (plus what the owner allows in
$REWIND_ALLOWED_VIDEO_DIRS), and errors show names relative to those folders, never server paths.
"""
from __future__ import annotations

import logging
import os
import shutil

import folder_paths

from ..video_io import VideoIOError

ALLOWED_DIRS_ENV = "REWIND_ALLOWED_VIDEO_DIRS"
SAMPLE_CLIP = "rewind_sample.mp4"  # what the example workflows load, so they queue without an upload
PACK_SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "sample.mp4")


def comfy_folders() -> dict[str, str]:
    """ComfyUI's own folders by the name errors show them as."""
    return {"input": folder_paths.get_input_directory(), "output": folder_paths.get_output_directory(),
            "temp": folder_paths.get_temp_directory()}


def public_text(text: str) -> str:
    """`text` with ComfyUI's folders shown by name ('input/clip.mp4'), not as server paths."""
    spellings = {variant: label for label, folder in comfy_folders().items()
                 for variant in (os.path.abspath(folder), os.path.realpath(folder))}
    for variant in sorted(spellings, key=len, reverse=True):
        text = text.replace(variant, spellings[variant])
    return text


def is_inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives (Windows)
        return False


def input_video_path(name: str) -> str:
    """The real path of an upload-style name, which must stay inside the input folder after
    following `..` and symlinks; one message for outside and missing, so neither is revealed."""
    name = name[:-len(" [input]")] if name.endswith(" [input]") else name
    folder = os.path.realpath(folder_paths.get_input_directory())
    path = os.path.realpath(os.path.join(folder, name))
    if not name or os.path.isabs(name) or not is_inside(path, folder) or not os.path.isfile(path):
        raise VideoIOError(f"video {name!r} is not a file in ComfyUI's input folder: upload it with the button or pick "
                         "one from the list (names are relative to the input folder; '..' and absolute paths are refused).")
    return path


def allowed_video_folders() -> list[str]:
    """Real paths of the folders RewindLoadVideoPath may read: ComfyUI's input, output and temp
    folders, and those the server owner lists in $REWIND_ALLOWED_VIDEO_DIRS."""
    extra = [folder for folder in os.environ.get(ALLOWED_DIRS_ENV, "").split(os.pathsep) if folder.strip()]
    return [os.path.realpath(folder) for folder in [*comfy_folders().values(), *extra]]


def allowed_video_path(typed: str) -> str:
    """The real path of a typed path (relative ones start at the input folder; quotes and ~ as a shell
    reads them) if it lies in an allowed folder; see confined_video_path."""
    return confined_video_path(os.path.expanduser(typed.strip().strip("\"'")), "video")


def confined_video_path(path: str, input_name: str) -> str:
    """The real path of `path` (relative paths start at the input folder) if it lies in a folder videos may
    be loaded from. The refusal is the same whether or not the file exists, and does not echo it."""
    if "://" in path:
        raise VideoIOError(f"{input_name}: URLs and streams are not loaded, only video files in ComfyUI's folders. "
                           "Download the video into the input folder first.")
    real = os.path.realpath(os.path.join(folder_paths.get_input_directory(), path))
    if not path or not any(is_inside(real, folder) for folder in allowed_video_folders()):
        raise VideoIOError(f"{input_name}: that path is outside the folders videos may be loaded from (ComfyUI's input, "
                           f"output and temp folders). Copy the video into the input folder, or ask the server owner to "
                           f"add its folder to {ALLOWED_DIRS_ENV}.")
    return real


def video_files_in_input() -> list[str]:
    folder = folder_paths.get_input_directory()
    files = [name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name))]
    return sorted(folder_paths.filter_files_content_types(files, ["video"]))


def install_sample_clip() -> None:
    """Copies the pack's sample clip into the input folder once (never over a user's file), so the
    example workflows queue on first try and the loader's preview plays it: the frontend previews
    only files it can fetch from the input folder, like core's input/example.png."""
    target = os.path.join(folder_paths.get_input_directory(), SAMPLE_CLIP)
    try:
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(PACK_SAMPLE, target)
    except OSError as error:
        logging.warning("Rewind: could not copy the sample clip to %s (%s); upload a video in Load Video instead.",
                        target, error)
