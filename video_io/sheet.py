"""Before/after contact sheets: rows of evenly spaced frames from clips of equal length, as one PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .encode import Target, written_atomically
from .metadata import encode_png

GAP = 4  # pixels of white between frames and rows
MAX_SHEET_WIDTH = 1920  # a sheet is for looking at: HD-clip frames are shrunk to fit a screen


def contact_sheet(rows: list[np.ndarray], columns: int, max_width: int = MAX_SHEET_WIDTH) -> np.ndarray:
    """Each row (T, H, W, 3) float in [0, 1] or uint8 contributes `columns` evenly spaced frames,
    the same frame indices in every row, so a column compares one moment: -> (H', W', 3) uint8.
    Frames are shrunk by a whole factor (box average) until the sheet is at most `max_width` wide."""
    if not rows or columns < 1:
        raise ValueError("a contact sheet needs at least one row and one column")
    frames, height, width = rows[0].shape[:3]
    if any(row.shape[:3] != (frames, height, width) for row in rows):
        raise ValueError(f"contact sheet rows differ in shape: {[tuple(row.shape) for row in rows]}")
    picks = np.linspace(0, frames - 1, min(columns, frames)).round().astype(int)
    factor = shrink_factor(width, len(picks), max_width)
    tile_height, tile_width = height // factor, width // factor
    sheet = np.full((len(rows) * (tile_height + GAP) - GAP, len(picks) * (tile_width + GAP) - GAP, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, index in enumerate(picks):
            y, x = r * (tile_height + GAP), c * (tile_width + GAP)
            sheet[y : y + tile_height, x : x + tile_width] = as_uint8(box_shrink(row[index, ..., :3], factor))
    return sheet


def shrink_factor(width: int, columns: int, max_width: int) -> int:
    """The smallest whole factor that fits `columns` frames of `width` (and the gaps) in `max_width`."""
    factor = 1
    while columns * (width // factor + GAP) - GAP > max_width and width // factor > 1:
        factor += 1
    return factor


def box_shrink(frame: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, 3) averaged over factor x factor blocks (edge rows and columns that do not fill a block dropped)."""
    if factor == 1:
        return frame
    height, width = frame.shape[0] // factor * factor, frame.shape[1] // factor * factor
    blocks = frame[:height, :width].astype(np.float64).reshape(height // factor, factor, width // factor, factor, 3)
    shrunk = blocks.mean(axis=(1, 3))
    return shrunk if frame.dtype != np.uint8 else shrunk / 255.0


def as_uint8(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.dtype == np.uint8 else (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def write_contact_sheet(target: Target, rows: list[np.ndarray], columns: int, metadata: dict | None = None) -> str:
    """Writes the sheet as a PNG onto a free name of `target` (never replacing a file, as every result); returns it."""
    with written_atomically(target) as (result,):
        Path(result.partial).write_bytes(encode_png(contact_sheet(rows, columns), metadata))
    return result.path
