"""The tiny Wan2.1 builder reproduces the real model's key table (no ComfyUI needed)."""
from __future__ import annotations

import torch

from rewind.testbed.tiny_models import wan21_t2v_shapes


def test_tiny_wan21_matches_the_real_1_3b_layout_when_scaled_up():
    """At the 1.3B sizes the builder reproduces the released model's parameter count (1.42B
    with the text and time embeddings), so the key table is the real one, not a look-alike."""
    real = wan21_t2v_shapes(dim=1536, ffn_dim=8960, num_layers=30, in_dim=16, out_dim=16, text_dim=4096, freq_dim=256)
    parameters = sum(torch.Size(shape).numel() for shape in real.values())
    assert 1.40e9 < parameters < 1.45e9
