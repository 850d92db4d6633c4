"""The tiny models' key tables are the real architectures' (no ComfyUI needed)."""
from __future__ import annotations

import pytest
import torch

from rewind.presets import MODEL_TYPES
from rewind.testbed.tiny_models import (TINY_MODELS, cosmos_predict2_shapes, hunyuan_video_shapes, ltxv_shapes, mochi_shapes,
                                        tiny_conditioning, wan_shapes)

# (key table at a released model's sizes, its published parameter count): a builder that left out or
# mis-sized a layer would miss the count by far more than the tolerance.
RELEASED = {
    "Wan2.1 T2V 1.3B (1.42B with the text and time embeddings)":
        (wan_shapes(dim=1536, ffn_dim=8960, num_layers=30, in_dim=16, out_dim=16), 1.42e9),
    "Wan2.2 TI2V-5B": (wan_shapes(dim=3072, ffn_dim=14336, num_layers=30, in_dim=48, out_dim=48), 5.0e9),
    "HunyuanVideo 13B": (hunyuan_video_shapes(hidden_size=3072, depth=20, depth_single_blocks=40, in_channels=16,
                                              out_channels=16, context_in_dim=4096, vec_in_dim=768, guidance=True), 13e9),
    "HunyuanVideo 1.5 8.3B": (hunyuan_video_shapes(hidden_size=2048, depth=54, depth_single_blocks=0, in_channels=65,
                                                   out_channels=32, context_in_dim=3584, patch=(1, 1, 1), byt5_dim=1472,
                                                   vision_in_dim=1152), 8.3e9),
    "LTX-Video 2B": (ltxv_shapes(num_layers=28, attention_head_dim=64), 2e9),
    "Mochi 1 preview 10B": (mochi_shapes(depth=48, hidden_size_x=3072, hidden_size_y=1536, num_heads=24, t5_feat_dim=4096), 10e9),
    "Cosmos-Predict2 2B": (cosmos_predict2_shapes(model_channels=2048, num_blocks=28, num_heads=16), 2e9),
    "Cosmos-Predict2 14B": (cosmos_predict2_shapes(model_channels=5120, num_blocks=36, num_heads=40), 14e9),
}


@pytest.mark.parametrize("release", RELEASED)
def test_key_tables_scaled_up_match_the_released_parameter_counts(release):
    shapes, published = RELEASED[release]
    parameters = sum(torch.Size(shape).numel() for shape in shapes.values())
    assert abs(parameters / published - 1) < 0.05, f"{release}: {parameters / 1e9:.3f}B"


def test_every_tiny_model_is_a_model_type_and_conditions_on_its_text_width():
    for name, model in TINY_MODELS.items():
        assert name in MODEL_TYPES
        [[tokens, extras]] = tiny_conditioning(name, tokens=3)
        assert tokens.shape == (1, 3, model.text_dim) and "pooled_output" in extras
