"""Before/after contact sheets: rows of evenly spaced frames from clips of equal length, as one PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .metadata import encode_png

GAP = 4  # pixels of white between frames and rows


def contact_sheet(rows: list[np.ndarray], columns: int) -> np.ndarray:
    """Each row (T, H, W, 3) float in [0, 1] or uint8 contributes `columns` evenly spaced frames,
    the same frame indices in every row, so a column compares one moment: -> (H', W', 3) uint8."""
    if not rows or columns < 1:
        raise ValueError("a contact sheet needs at least one row and one column")
    frames, height, width = rows[0].shape[:3]
    if any(row.shape[:3] != (frames, height, width) for row in rows):
        raise ValueError(f"contact sheet rows differ in shape: {[tuple(row.shape) for row in rows]}")
    picks = np.linspace(0, frames - 1, min(columns, frames)).round().astype(int)
    sheet = np.full((len(rows) * (height + GAP) - GAP, len(picks) * (width + GAP) - GAP, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        pixels = row if row.dtype == np.uint8 else (np.clip(row, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        for c, index in enumerate(picks):
            y, x = r * (height + GAP), c * (width + GAP)
            sheet[y : y + height, x : x + width] = pixels[index, ..., :3]
    return sheet


def write_contact_sheet(path: str | Path, rows: list[np.ndarray], columns: int, metadata: dict | None = None) -> Path:
    path = Path(path)
    path.write_bytes(encode_png(contact_sheet(rows, columns), metadata))
    return path
