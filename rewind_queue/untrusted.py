"""Text and names a server sends, made safe to print and to save under: a hostile server must
not be able to recolour, retitle or rewrite the user's terminal, nor choose where in (or outside)
``--out`` a download lands."""
from __future__ import annotations

import re

from .failures import BadAnswer

ESCAPE_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks, the clipboard
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM and APC strings
    r"|\x1b[ -/]*[0-~]?"  # every other escape, and a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # CSI as a single C1 character
)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # tab, newline stay
NOT_IN_FILE_NAMES = re.compile(r'[\t\n<>:"|?*]')  # and what Windows refuses
PATH_SEPARATORS = re.compile(r"[\\/]")
NO_NAMES = ("", ".", "..")


def printable(text) -> str:
    """``text`` without terminal escape sequences, control or bidi characters (tab and newline stay)."""
    return CONTROL_CHARACTERS.sub("", ESCAPE_SEQUENCES.sub("", str(text)))


def _name_part(text: str) -> str:
    return NOT_IN_FILE_NAMES.sub("_", printable(text)).strip()


def file_name(name: str) -> str:
    """A server's file name as a local one: its last path component, printable; refused when
    nothing usable is left."""
    part = _name_part(PATH_SEPARATORS.split(name)[-1])
    if part in NO_NAMES:
        raise BadAnswer(f"ComfyUI named an output {name!r}, which leaves no usable file name")
    return part


def folder_parts(subfolder: str) -> list[str]:
    """A server's subfolder as local folder names, with no way up (``..``) or out (``/``)."""
    return [part for part in map(_name_part, PATH_SEPARATORS.split(subfolder)) if part not in NO_NAMES]
