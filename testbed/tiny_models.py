"""Tiny random-weight checkpoints with the real architectures' key names and layouts.

No weights can be downloaded in tests, but ComfyUI's loaders detect a model from its state
dict's keys and shapes; a file shaped like the real one exercises the same detection, loading
and forward code at a size a CPU runs in milliseconds. Builders use torch + safetensors only.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

WAN21_PATCH = (1, 2, 2)
# ComfyUI derives num_heads as dim // 128, so 128 is the smallest dim with one whole head.
TINY_WAN21 = {"dim": 128, "ffn_dim": 256, "num_layers": 1, "in_dim": 16, "out_dim": 16, "text_dim": 4096, "freq_dim": 256}


def wan21_t2v_shapes(dim: int, ffn_dim: int, num_layers: int, in_dim: int, out_dim: int, text_dim: int,
                     freq_dim: int) -> dict[str, tuple[int, ...]]:
    """Key → shape of a Wan2.1 text-to-video transformer, named as in the released
    ``diffusion_pytorch_model`` files and ComfyUI's repackaged ``wan2.1_t2v_1.3B`` (dim 1536)."""
    shapes = {
        "patch_embedding.weight": (dim, in_dim, *WAN21_PATCH), "patch_embedding.bias": (dim,),
        "text_embedding.0.weight": (dim, text_dim), "text_embedding.0.bias": (dim,),
        "text_embedding.2.weight": (dim, dim), "text_embedding.2.bias": (dim,),
        "time_embedding.0.weight": (dim, freq_dim), "time_embedding.0.bias": (dim,),
        "time_embedding.2.weight": (dim, dim), "time_embedding.2.bias": (dim,),
        "time_projection.1.weight": (6 * dim, dim), "time_projection.1.bias": (6 * dim,),
        "head.modulation": (1, 2, dim),
        "head.head.weight": (out_dim * WAN21_PATCH[0] * WAN21_PATCH[1] * WAN21_PATCH[2], dim),
        "head.head.bias": (out_dim * WAN21_PATCH[0] * WAN21_PATCH[1] * WAN21_PATCH[2],),
    }
    for block in range(num_layers):
        prefix = f"blocks.{block}."
        shapes[prefix + "modulation"] = (1, 6, dim)
        for attention in ("self_attn", "cross_attn"):
            for projection in ("q", "k", "v", "o"):
                shapes[f"{prefix}{attention}.{projection}.weight"] = (dim, dim)
                shapes[f"{prefix}{attention}.{projection}.bias"] = (dim,)
            shapes[f"{prefix}{attention}.norm_q.weight"] = (dim,)
            shapes[f"{prefix}{attention}.norm_k.weight"] = (dim,)
        shapes[prefix + "norm3.weight"] = (dim,)
        shapes[prefix + "norm3.bias"] = (dim,)
        shapes[prefix + "ffn.0.weight"] = (ffn_dim, dim)
        shapes[prefix + "ffn.0.bias"] = (ffn_dim,)
        shapes[prefix + "ffn.2.weight"] = (dim, ffn_dim)
        shapes[prefix + "ffn.2.bias"] = (dim,)
    return shapes


def _initial_value(key: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Norm scales 1, biases 0, weights small: activations stay finite through every layer."""
    if "norm" in key and key.endswith(".weight"):
        return torch.ones(shape)
    if key.endswith(".bias"):
        return torch.zeros(shape)
    return torch.randn(shape, generator=generator) * 0.02


def wan21_t2v_state_dict(seed: int = 0, prefix: str = "", dtype=torch.float16, **sizes) -> dict[str, torch.Tensor]:
    """A random Wan2.1 t2v state dict; ``prefix="model.diffusion_model."`` gives checkpoint layout."""
    generator = torch.Generator().manual_seed(seed)
    shapes = wan21_t2v_shapes(**{**TINY_WAN21, **sizes})
    return {prefix + key: _initial_value(key, shape, generator).to(dtype) for key, shape in shapes.items()}


def write_tiny_wan21_t2v(path: Path, seed: int = 0, **options) -> Path:
    """Writes the tiny Wan2.1 t2v model as safetensors (a ``diffusion_models`` file for UNETLoader)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(wan21_t2v_state_dict(seed, **options), str(path), metadata={"rewind_test_model": "tiny wan2.1 t2v"})
    return path
