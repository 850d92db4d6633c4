"""Writes the bundled sample clip: 24 frames, 256x256, 12 fps, shapes moving over a gradient.

Synthetic so it can be regenerated anywhere and carries no rights; the motion (a circle
orbiting, a square sliding) makes temporal flicker visible in the style-transfer output.
Run: `make sample-clip` (writes assets/sample.mp4).
"""
from __future__ import annotations

import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np

SIZE, FRAMES, FPS = 256, 24, 12


def frame(index: int) -> np.ndarray:
    """One RGB uint8 frame: a diagonal gradient with an orbiting circle and a sliding square."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / (SIZE - 1)
    image = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.8 - 0.5 * x * y], axis=-1)
    phase = 2 * np.pi * index / FRAMES
    cx, cy = 0.5 + 0.28 * np.cos(phase), 0.5 + 0.28 * np.sin(phase)
    image[(x - cx) ** 2 + (y - cy) ** 2 < 0.12**2] = (0.95, 0.85, 0.2)
    left = 0.1 + 0.6 * index / (FRAMES - 1)
    image[(x > left) & (x < left + 0.2) & (y > 0.7) & (y < 0.9)] = (0.15, 0.2, 0.7)
    return (image * 255).round().astype(np.uint8)


def write_clip(path: Path) -> None:
    writer = imageio_ffmpeg.write_frames(
        str(path), (SIZE, SIZE), fps=FPS, codec="libx264", pix_fmt_out="yuv420p",
        output_params=["-crf", "18", "-preset", "veryslow", "-map_metadata", "-1", "-fflags", "+bitexact"],
        macro_block_size=16,
    )
    writer.send(None)
    for index in range(FRAMES):
        writer.send(np.ascontiguousarray(frame(index)))
    writer.close()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "assets/sample.mp4")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_clip(target)
    print(target)
