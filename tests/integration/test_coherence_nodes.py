"""RewindLatentCoherence and RewindColorMatch as ComfyUI nodes (in-process ComfyUI)."""
from __future__ import annotations

import pytest
import torch

from rewind.samplers.hooks import LoopInfo



def test_coherence_node_builds_a_hook_the_resampler_can_run(comfy):
    from rewind.nodes.context import RewindLatentCoherence

    coherence = RewindLatentCoherence.execute("temporal", 0.5, 0.0, 1.0, 0.0).result[0]
    info = LoopInfo("resample", [3.0, 1.0, 0.0], 0, "eps")
    hook = coherence.make_hook(info)
    x = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    out = hook(x, x, 0, info)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_window_agreement_without_context_options_is_explained(comfy):
    from rewind.nodes.context import RewindLatentCoherence

    with pytest.raises(ValueError, match="RewindContextOptions"):
        RewindLatentCoherence.execute("window agreement", 0.5, 0.0, 1.0, 0.0)


def test_color_match_node_defaults_to_the_first_frame(comfy):
    from rewind.nodes.context import RewindColorMatch

    frames = torch.rand(3, 8, 8, 3, generator=torch.Generator().manual_seed(1)) * 0.5
    frames[1:] += 0.3
    out = RewindColorMatch.execute(frames, 1.0).result[0]
    assert out.shape == frames.shape
    assert (out[2].mean() - out[0].mean()).abs() < 0.25 * (frames[2].mean() - frames[0].mean()).abs()
