"""Where results go and how the frontend shows them, as ComfyUI's own save nodes do it.

On a shared server every result gets a name of its own: ComfyUI's counter is only where the search
starts (video_io moves a finished file onto the first free number), previews follow their result's
subfolder in the temp folder, and what the file system refuses is one line naming filename_prefix.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import reprlib
from dataclasses import dataclass

import folder_paths
from comfy.cli_args import args

from ..video_io import NumberedName, VideoIOError
from .folders import public_text

VIDEO_PREVIEW_EXTENSIONS = ("mp4", "webm", "mov", "webp")  # shown as video / animated image by the frontend
FOLDER_PREFIX_STEM = "Rewind"  # the file name under a prefix that names only a folder ("trail/")


@dataclass(frozen=True)
class SaveLocation:
    """Where one result goes: a ComfyUI folder (output or temp), the prefix's subfolder in it, the file
    stem and the counter to start from."""

    folder_type: str
    root: str
    subfolder: str
    stem: str
    counter: int

    def named(self, tail: str) -> NumberedName:
        """The result's name, `{stem}_{counter:05}_{tail}` at the first free counter."""
        return NumberedName(os.path.join(self.root, self.subfolder), self.stem, self.counter, tail)

    def entry(self, path: str, fmt: str) -> dict:
        """How the frontend and API clients name a written file: relative to its ComfyUI folder."""
        subfolder = os.path.relpath(os.path.dirname(path), self.root)
        return saved_entry(os.path.basename(path), "" if subfolder == os.curdir else subfolder, self.folder_type, fmt)

    def in_temp(self) -> SaveLocation:
        """The same subfolder, stem and counter in the temp folder, for a preview: previews of one user's
        `clip` and another's never share a name."""
        root = folder_paths.get_temp_directory()
        os.makedirs(os.path.join(root, self.subfolder), exist_ok=True)
        return dataclasses.replace(self, folder_type="temp", root=root)


def save_location(filename_prefix: str, folder_type: str, width: int, height: int) -> SaveLocation:
    """Where the next file under `filename_prefix` goes in the output or temp folder, with Save Image's
    %date:...% fields and counters. A prefix ending in a separator names a folder, whose files are called
    FOLDER_PREFIX_STEM: ComfyUI would name them after the folder, beside it, and count from 1 every time."""
    if filename_prefix.endswith(("/", os.sep)):
        filename_prefix += FOLDER_PREFIX_STEM
    root = folder_paths.get_output_directory() if folder_type == "output" else folder_paths.get_temp_directory()
    _, stem, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, root, width, height)
    return SaveLocation(folder_type, root, subfolder, stem, counter)


@contextlib.contextmanager
def saving_errors(filename_prefix: str):
    """What the file system refuses while saving, as one line naming filename_prefix and the fix: a raw
    OSError would print a server path (and one from a cleanup used to hide the real error)."""
    try:
        yield
    except OSError as error:
        raise VideoIOError(f"filename_prefix {reprlib.repr(filename_prefix)} {saving_problem(error)}") from error


def saving_problem(error: OSError) -> str:
    """What went wrong and the fix, without the path the error carries."""
    if error.errno == errno.ENAMETOOLONG:
        return ("makes a file or folder name too long for the server's file system (most allow 255 bytes per name, "
                "counter and extension included); shorten it.")
    blocker = file_on_the_way(error.filename)
    if blocker:
        return f"needs {public_text(blocker)!r} to be a folder, but it is a file; choose another prefix."
    return f"cannot be saved on this server ({error.strerror}); choose another prefix, or ask the server owner."


def file_on_the_way(path) -> str | None:
    """The nearest existing ancestor of `path` (or `path` itself) if it is not a folder: what stopped a
    save that needed a folder there."""
    if not isinstance(path, str):
        return None
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return None if os.path.isdir(path) else path


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
