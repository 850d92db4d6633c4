"""bench/gpu.py runs (toy sizes without CUDA) and benches every unsample mode RewindUnsampler offers."""
from __future__ import annotations

import re
import subprocess
import sys

from rewind.testbed import REPO_ROOT


def test_the_gpu_bench_runs_at_toy_sizes_and_lists_every_unsample_mode(comfy):
    from rewind.samplers.modes import UNSAMPLE_SOLVERS

    result = subprocess.run([sys.executable, "bench/gpu.py", "--toy", "--steps", "1"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    sections = result.stdout.split("\n\n")[1:]
    assert [section.splitlines()[0] for section in sections] == ["SD1.5 (toy)", "Wan2.1 (toy)"]
    for section in sections:
        modes = re.findall(r"^  (native euler|rewind [\w +]+?) +\d", section, re.M)
        expected = ["native euler", *(f"rewind {solver}" for solver in UNSAMPLE_SOLVERS), "rewind euler + trajectory"]
        assert sorted(modes) == sorted(expected)
        assert re.search(r"trajectory recording costs \d+\.\d\dx", section)
