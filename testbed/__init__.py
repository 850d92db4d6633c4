"""What the tests and the benchmarks run against: ComfyUI imported in-process, test models (closed-form,
tiny random-weight, learned fixtures with their training scripts), a test double of newer ComfyUI, and
what more than one test tier shares (a hostile server client, a corpus of hostile media).

Both tests/ and bench/ import from here; neither imports the other.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
