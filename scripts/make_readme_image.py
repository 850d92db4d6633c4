"""Regenerates assets/readme_restyle.png, the picture the README opens with: the contact sheet
of the main job (`make run`) on the sample clip with its default prompt.

Run: `make readme-image` (provisions, starts a headless ComfyUI, runs the job, copies the sheet).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "assets" / "readme_restyle.png"
MAX_BYTES = 300_000  # the README's first screen should load fast


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from rewind_queue.main_job import main as run_main_job

    with tempfile.TemporaryDirectory() as out:
        status = run_main_job(["--out", out])
        sheets = sorted(Path(out).rglob("contact_sheet*.png"))
        if status or len(sheets) != 1:
            print(f"error: the main job exited {status} and wrote {len(sheets)} contact sheets", file=sys.stderr)
            return status or 1
        if sheets[0].stat().st_size > MAX_BYTES:
            print(f"error: {sheets[0]} is {sheets[0].stat().st_size} bytes, over {MAX_BYTES}", file=sys.stderr)
            return 1
        shutil.copyfile(sheets[0], TARGET)
    print(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
