"""A prompt's outputs saved into ``--out``: server-chosen names made safe, each file streamed into
a hidden ``.partial`` file that is renamed once complete, never over an earlier file."""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from .api import ComfyAPI
from .failures import BadAnswer, cannot_save
from .untrusted import file_name, folder_parts

PARTIAL_SUFFIX = ".partial"
FILE_FIELDS = ("filename", "subfolder", "type")


def output_files(outputs: dict) -> list[dict]:
    """Every ``{filename, subfolder, type}`` entry in every node's ui output."""
    files = [
        item
        for node_output in outputs.values()
        for value in node_output.values() if isinstance(value, list)
        for item in value if isinstance(item, dict) and "filename" in item
    ]
    for item in files:
        if not all(isinstance(item.get(field, ""), str) for field in FILE_FIELDS):
            raise BadAnswer(f"ComfyUI sent an output file whose name, subfolder or type is not text: {item!r:.200}")
    return files


def local_path(out_dir: Path, item: dict) -> Path:
    return Path(out_dir).joinpath(*folder_parts(item.get("subfolder", "")), file_name(item["filename"]))


def unused_path(path: Path) -> Path:
    """``path``, or ``name (2).ext`` and so on: a later run never overwrites an earlier result."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem} ({number}){path.suffix}")
    return candidate


def save_streamed(target: Path, write) -> Path:
    """Calls ``write(file)`` on a hidden ``.partial`` file beside ``target`` and renames it once
    ``write`` returns: an interrupted or refused download leaves nothing behind."""
    partial = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX)
        with os.fdopen(handle, "wb") as sink:
            write(sink)
        final = unused_path(target)
        os.replace(partial, final)
        return final
    except BaseException as error:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise cannot_save(f"{target.name} in {target.parent}", error) from None
        raise


def download_outputs(api: ComfyAPI, outputs: dict, out_dir: Path) -> list[Path]:
    return [
        save_streamed(local_path(out_dir, item),
                      functools.partial(api.view, item["filename"], item.get("subfolder", ""), item.get("type", "output")))
        for item in output_files(outputs)
    ]
