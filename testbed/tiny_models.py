"""Tiny random-weight diffusion models with the real architectures' key names and layouts.

No weights can be downloaded in tests, but ComfyUI's loaders detect a model from its state
dict's keys and shapes; a file shaped like the real one exercises the same detection, loading
and forward code at a size a CPU runs in milliseconds. One table (TINY_MODELS) lists every
architecture: its key table as a function of its sizes, the smallest sizes detection accepts,
and the class ComfyUI's detection picks for it. Builders use torch + safetensors only;
`load_tiny_model` needs ComfyUI importable.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

Shapes = dict[str, tuple[int, ...]]


def _linear(name: str, out_features: int, in_features: int, bias: bool = True) -> Shapes:
    return {f"{name}.weight": (out_features, in_features), **({f"{name}.bias": (out_features,)} if bias else {})}


def _layer_norm(name: str, dim: int) -> Shapes:
    return {f"{name}.weight": (dim,), f"{name}.bias": (dim,)}


def _feed_forward(name: str, dim: int, hidden: int, first: str = "0", second: str = "2", bias: bool = True) -> Shapes:
    """dim -> hidden -> dim."""
    return {**_linear(f"{name}.{first}", hidden, dim, bias), **_linear(f"{name}.{second}", dim, hidden, bias)}


def _embedder(name: str, in_dim: int, dim: int, first: str = "0", second: str = "2", bias: bool = True) -> Shapes:
    """in_dim -> dim -> dim (timestep, text and pooled-vector embedders)."""
    return {**_linear(f"{name}.{first}", dim, in_dim, bias), **_linear(f"{name}.{second}", dim, dim, bias)}


WAN_PATCH = (1, 2, 2)


def wan_shapes(dim: int, ffn_dim: int, num_layers: int, in_dim: int, out_dim: int, text_dim: int = 4096,
               freq_dim: int = 256) -> Shapes:
    """Wan2.1 / Wan2.2 text-to-video transformer, named as in the released ``diffusion_pytorch_model``
    files and ComfyUI's repackaged ``wan2.1_t2v_1.3B`` (dim 1536) and ``wan2.2_ti2v_5B`` (dim 3072, 48 ch)."""
    patch = math.prod(WAN_PATCH)
    shapes = {
        "patch_embedding.weight": (dim, in_dim, *WAN_PATCH), "patch_embedding.bias": (dim,),
        **_embedder("text_embedding", text_dim, dim), **_embedder("time_embedding", freq_dim, dim),
        **_linear("time_projection.1", 6 * dim, dim),
        "head.modulation": (1, 2, dim), **_linear("head.head", out_dim * patch, dim),
    }
    for block in range(num_layers):
        prefix = f"blocks.{block}."
        shapes[prefix + "modulation"] = (1, 6, dim)
        for attention in ("self_attn", "cross_attn"):
            for projection in ("q", "k", "v", "o"):
                shapes.update(_linear(f"{prefix}{attention}.{projection}", dim, dim))
            shapes[f"{prefix}{attention}.norm_q.weight"] = (dim,)
            shapes[f"{prefix}{attention}.norm_k.weight"] = (dim,)
        shapes.update({**_layer_norm(prefix + "norm3", dim), **_feed_forward(prefix + "ffn", dim, ffn_dim)})
    return shapes


HUNYUAN_HEAD = 128  # ComfyUI derives the head count as hidden_size // 128


def hunyuan_video_shapes(hidden_size: int, depth: int, depth_single_blocks: int, in_channels: int, out_channels: int,
                         context_in_dim: int, patch: tuple[int, int, int] = (1, 2, 2), vec_in_dim: int | None = None,
                         guidance: bool = False, byt5_dim: int | None = None, vision_in_dim: int | None = None) -> Shapes:
    """HunyuanVideo (1.0, and 1.5 with its ByT5, vision and condition-type inputs), named as Tencent's
    released transformer and ComfyUI's repackaged files are (``img_attn_qkv``, ``mlp.fc1``), which
    ComfyUI renames to its own modules on load."""
    h, mlp = hidden_size, 4 * hidden_size
    shapes = {
        "img_in.proj.weight": (h, in_channels, *patch), "img_in.proj.bias": (h,),
        **_embedder("time_in.mlp", 256, h), **_linear("txt_in.input_embedder", h, context_in_dim),
        **_embedder("txt_in.t_embedder.mlp", 256, h),
        **_embedder("txt_in.c_embedder", context_in_dim, h, "linear_1", "linear_2"),
        **_linear("final_layer.linear", out_channels * patch[1] * patch[2], h), **_linear("final_layer.adaLN_modulation.1", 2 * h, h),
    }
    if vec_in_dim is not None:
        shapes.update(_embedder("vector_in", vec_in_dim, h, "in_layer", "out_layer"))
    if guidance:
        shapes.update(_embedder("guidance_in.mlp", 256, h))
    for block in range(2):  # the text refiner has two blocks in every release
        prefix = f"txt_in.individual_token_refiner.blocks.{block}."
        shapes.update({**_layer_norm(prefix + "norm1", h), **_linear(prefix + "self_attn_qkv", 3 * h, h),
                       **_linear(prefix + "self_attn_proj", h, h), **_layer_norm(prefix + "norm2", h),
                       **_feed_forward(prefix + "mlp", h, mlp, "fc1", "fc2"), **_linear(prefix + "adaLN_modulation.1", 2 * h, h)})
    for block in range(depth):
        for stream in ("img", "txt"):
            prefix = f"double_blocks.{block}.{stream}_"
            shapes.update({**_linear(prefix + "mod.linear", 6 * h, h), **_linear(prefix + "attn_qkv", 3 * h, h),
                           prefix + "attn_q_norm.weight": (HUNYUAN_HEAD,), prefix + "attn_k_norm.weight": (HUNYUAN_HEAD,),
                           **_linear(prefix + "attn_proj", h, h), **_feed_forward(prefix + "mlp", h, mlp, "fc1", "fc2")})
    for block in range(depth_single_blocks):
        prefix = f"single_blocks.{block}."
        shapes.update({**_linear(prefix + "linear1", 3 * h + mlp, h), **_linear(prefix + "linear2", h, h + mlp),
                       prefix + "q_norm.weight": (HUNYUAN_HEAD,), prefix + "k_norm.weight": (HUNYUAN_HEAD,),
                       **_linear(prefix + "modulation.linear", 3 * h, h)})
    if byt5_dim is not None:
        shapes.update({**_layer_norm("byt5_in.layernorm", byt5_dim), **_linear("byt5_in.fc1", 2048, byt5_dim),
                       **_linear("byt5_in.fc2", 2048, 2048), **_linear("byt5_in.fc3", h, 2048)})
    if vision_in_dim is not None:
        shapes.update({**_layer_norm("vision_in.proj.0", vision_in_dim), **_linear("vision_in.proj.1", vision_in_dim, vision_in_dim),
                       **_linear("vision_in.proj.3", h, vision_in_dim), **_layer_norm("vision_in.proj.4", h),
                       "cond_type_embedding.weight": (3, h)})
    return shapes


LTXV_HEADS = 32  # ComfyUI reads the head size as to_k's width / 32


def ltxv_shapes(num_layers: int, attention_head_dim: int, in_channels: int = 128, caption_channels: int = 4096) -> Shapes:
    """LTX-Video transformer, named as in Lightricks' released ``ltx-video-2b`` files (diffusers-style
    ``transformer_blocks.N.attn1.to_q``)."""
    d = LTXV_HEADS * attention_head_dim
    shapes = {
        "scale_shift_table": (2, d), **_linear("patchify_proj", d, in_channels), **_linear("proj_out", in_channels, d),
        **_embedder("adaln_single.emb.timestep_embedder", 256, d, "linear_1", "linear_2"),
        **_linear("adaln_single.linear", 6 * d, d),
        **_embedder("caption_projection", caption_channels, d, "linear_1", "linear_2"),
    }
    for block in range(num_layers):
        prefix = f"transformer_blocks.{block}."
        shapes[prefix + "scale_shift_table"] = (6, d)
        for attention in ("attn1", "attn2"):
            shapes.update({f"{prefix}{attention}.q_norm.weight": (d,), f"{prefix}{attention}.k_norm.weight": (d,),
                           **{key: shape for projection in ("to_q", "to_k", "to_v", "to_out.0")
                              for key, shape in _linear(f"{prefix}{attention}.{projection}", d, d).items()}})
        shapes.update({**_linear(prefix + "ff.net.0.proj", 4 * d, d), **_linear(prefix + "ff.net.2", d, 4 * d)})
    return shapes


MOCHI_MLP_X = 12288  # ComfyUI's block asserts hidden_size_x * mlp_ratio_x == 1536 * 8


def mochi_shapes(depth: int, hidden_size_x: int, hidden_size_y: int, num_heads: int, t5_feat_dim: int,
                 in_channels: int = 12) -> Shapes:
    """Genmo Mochi 1 preview's asymmetric joint DiT, named as in Genmo's released ``dit.safetensors``."""
    x, y, head = hidden_size_x, hidden_size_y, hidden_size_x // num_heads
    swiglu_x = 256 * math.ceil(int(2 * MOCHI_MLP_X / 3) / 256)
    shapes = {
        "pos_frequencies": (3, num_heads, head // 2),
        "x_embedder.proj.weight": (x, in_channels, 2, 2), "x_embedder.proj.bias": (x,),
        **_embedder("t_embedder.mlp", 256, x),
        **_linear("t5_y_embedder.to_kv", 2 * t5_feat_dim, t5_feat_dim), **_linear("t5_y_embedder.to_q", t5_feat_dim, t5_feat_dim),
        **_linear("t5_y_embedder.to_out", x, t5_feat_dim), **_linear("t5_yproj", y, t5_feat_dim),
        **_linear("final_layer.mod", 2 * x, x), **_linear("final_layer.linear", 4 * in_channels, x),
    }
    for block in range(depth):
        prefix, update_y = f"blocks.{block}.", block < depth - 1  # the last block leaves the text alone
        shapes.update({**_linear(prefix + "mod_x", 4 * x, x), **_linear(prefix + "mod_y", 4 * y if update_y else y, x),
                       **_linear(prefix + "attn.qkv_x", 3 * x, x, bias=False), **_linear(prefix + "attn.qkv_y", 3 * x, y, bias=False),
                       **{f"{prefix}attn.{norm}.weight": (head,) for norm in ("q_norm_x", "k_norm_x", "q_norm_y", "k_norm_y")},
                       **_linear(prefix + "attn.proj_x", x, x),
                       **_linear(prefix + "mlp_x.w1", 2 * swiglu_x, x, bias=False), **_linear(prefix + "mlp_x.w2", x, swiglu_x, bias=False)})
        if update_y:
            swiglu_y = 256 * math.ceil(int(2 * 4 * y / 3) / 256)
            shapes.update({**_linear(prefix + "attn.proj_y", y, x), **_linear(prefix + "mlp_y.w1", 2 * swiglu_y, y, bias=False),
                           **_linear(prefix + "mlp_y.w2", y, swiglu_y, bias=False)})
    return shapes


COSMOS_ADALN_LORA = 256  # ComfyUI fixes adaln_lora_dim (and the 1024-wide T5 cross-attention) for Predict2


def cosmos_predict2_shapes(model_channels: int, num_blocks: int, num_heads: int, in_channels: int = 16,
                           crossattn_dim: int = 1024) -> Shapes:
    """NVIDIA Cosmos-Predict2's MiniTrainDIT, named as in the released ``cosmos-predict2`` files."""
    c, head, lora = model_channels, model_channels // num_heads, COSMOS_ADALN_LORA

    def adaln(name: str, chunks: int) -> Shapes:
        return {**_linear(f"{name}.1", lora, c, bias=False), **_linear(f"{name}.2", chunks * c, lora, bias=False)}

    shapes = {
        **_linear("t_embedder.1.linear_1", c, c, bias=False), **_linear("t_embedder.1.linear_2", 3 * c, c, bias=False),
        **_linear("x_embedder.proj.1", c, (in_channels + 1) * 4, bias=False), "t_embedding_norm.weight": (c,),
        **_linear("final_layer.linear", 4 * 16, c, bias=False), **adaln("final_layer.adaln_modulation", 2),
    }
    for block in range(num_blocks):
        prefix = f"blocks.{block}."
        for attention, context in (("self_attn", c), ("cross_attn", crossattn_dim)):
            shapes.update({**_linear(f"{prefix}{attention}.q_proj", c, c, bias=False), f"{prefix}{attention}.q_norm.weight": (head,),
                           **_linear(f"{prefix}{attention}.k_proj", c, context, bias=False), f"{prefix}{attention}.k_norm.weight": (head,),
                           **_linear(f"{prefix}{attention}.v_proj", c, context, bias=False),
                           **_linear(f"{prefix}{attention}.output_proj", c, c, bias=False)})
        shapes.update({**_feed_forward(prefix + "mlp", c, 4 * c, "layer1", "layer2", bias=False),
                       **adaln(prefix + "adaln_modulation_self_attn", 3), **adaln(prefix + "adaln_modulation_cross_attn", 3),
                       **adaln(prefix + "adaln_modulation_mlp", 3)})
    return shapes


@dataclass(frozen=True)
class TinyModel:
    """One architecture at the smallest size ComfyUI's detection accepts."""

    name: str  # the model type, as presets/ names it
    shapes: Callable[..., Shapes]
    sizes: dict
    detected_as: str  # the comfy.supported_models class detection picks
    text_dim: int  # width of the text encoder's tokens the model cross-attends to
    pooled_dim: int | None = None  # width of a pooled text vector it also takes (HunyuanVideo's CLIP-L)
    attention_mask: bool = False  # whether its text encoder hands over a token mask
    # unet_config values detection hard-codes whatever the file holds (Mochi is always 48 blocks of
    # 3072): the tiny file's own sizes replace them at load, and only them.
    hard_coded: dict = field(default_factory=dict)


# Mochi's last block leaves the text alone, so two blocks are the fewest that hold both kinds.
TINY_MOCHI = {"depth": 2, "hidden_size_x": 64, "hidden_size_y": 32, "num_heads": 1, "t5_feat_dim": 64}
# ComfyUI derives Wan's and HunyuanVideo's head count as width // 128, so 128 is the smallest width with one head.
# Cosmos-Predict2's detection keeps the constructor's 10 blocks of 16 heads below 2048 channels; 192 gives
# heads of 12, the smallest its 3-D rotary embedding splits (it divides by head // 6 * 2 - 2).
TINY_MODELS = {model.name: model for model in (
    TinyModel("Wan2.1", wan_shapes, {"dim": 128, "ffn_dim": 256, "num_layers": 1, "in_dim": 16, "out_dim": 16},
              "WAN21_T2V", text_dim=4096),
    TinyModel("Wan2.2 TI2V-5B", wan_shapes, {"dim": 128, "ffn_dim": 256, "num_layers": 1, "in_dim": 48, "out_dim": 48},
              "WAN22_T2V", text_dim=4096),
    # ComfyUI 0.3.52's detection fixes HunyuanVideo's width at 3072 (24 heads); later ones read it from the file.
    TinyModel("HunyuanVideo", hunyuan_video_shapes,
              {"hidden_size": 128, "depth": 1, "depth_single_blocks": 1, "in_channels": 16, "out_channels": 16,
               "context_in_dim": 4096, "vec_in_dim": 768, "guidance": True}, "HunyuanVideo",
              text_dim=4096, pooled_dim=768, attention_mask=True, hard_coded={"hidden_size": 128, "num_heads": 1}),
    TinyModel("HunyuanVideo 1.5", hunyuan_video_shapes,
              {"hidden_size": 128, "depth": 1, "depth_single_blocks": 0, "in_channels": 65, "out_channels": 32,
               "context_in_dim": 3584, "patch": (1, 1, 1), "byt5_dim": 1472, "vision_in_dim": 1152}, "HunyuanVideo15",
              text_dim=3584, attention_mask=True),
    TinyModel("LTX-Video", ltxv_shapes, {"num_layers": 1, "attention_head_dim": 2}, "LTXV", text_dim=4096,
              attention_mask=True),
    # Detection fixes every Mochi size (48 blocks of 3072, a 4096-wide T5): the tiny ones replace them.
    TinyModel("Mochi", mochi_shapes, TINY_MOCHI, "GenmoMochi", text_dim=TINY_MOCHI["t5_feat_dim"], attention_mask=True,
              hard_coded={**TINY_MOCHI, "mlp_ratio_x": MOCHI_MLP_X / TINY_MOCHI["hidden_size_x"]}),
    TinyModel("Cosmos Predict2", cosmos_predict2_shapes, {"model_channels": 192, "num_blocks": 10, "num_heads": 16},
              "CosmosT2IPredict2", text_dim=1024),
)}


def _initial_value(key: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Norm scales 1, biases 0, weights small: activations stay finite through every layer."""
    if "norm" in key and key.endswith(".weight"):
        return torch.ones(shape)
    if key.endswith(".bias"):
        return torch.zeros(shape)
    return torch.randn(shape, generator=generator) * 0.02


def tiny_shapes(name: str) -> Shapes:
    model = TINY_MODELS[name]
    return model.shapes(**model.sizes)


def tiny_conditioning(name: str, seed: int = 0, tokens: int = 4) -> list:
    """A CONDITIONING of random prompt tokens shaped as `name`'s text encoder hands them over."""
    model = TINY_MODELS[name]
    generator = torch.Generator().manual_seed(seed)
    # CLIPTextEncode always hands over a pooled_output, None where the text encoder has none
    pooled = None if model.pooled_dim is None else torch.randn(1, model.pooled_dim, generator=generator)
    extras = {"pooled_output": pooled}
    if model.attention_mask:
        extras["attention_mask"] = torch.ones(1, tokens, dtype=torch.long)
    return [[torch.randn(1, tokens, model.text_dim, generator=generator), extras]]


def tiny_state_dict(name: str, seed: int = 0, prefix: str = "", dtype=torch.float16) -> dict[str, torch.Tensor]:
    """Random weights for `name`; ``prefix="model.diffusion_model."`` gives checkpoint layout."""
    generator = torch.Generator().manual_seed(seed)
    return {prefix + key: _initial_value(key, shape, generator).to(dtype) for key, shape in tiny_shapes(name).items()}


def write_tiny_model(name: str, path: Path, seed: int = 0, **options) -> Path:
    """Writes `name` as safetensors (a ``diffusion_models`` file for UNETLoader)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tiny_state_dict(name, seed, **options), str(path), metadata={"rewind_test_model": f"tiny {name}"})
    return path


def load_tiny_model(name: str, seed: int = 0, dtype=torch.float32):
    """`name` as a ComfyUI MODEL, through ComfyUI's own loader (UNETLoader's path)."""
    import comfy.sd

    with _detection_sized_by_file(TINY_MODELS[name].hard_coded):
        return comfy.sd.load_diffusion_model_state_dict(tiny_state_dict(name, seed, dtype=dtype))


@contextlib.contextmanager
def _detection_sized_by_file(sizes: dict):
    """ComfyUI's detection as it is, except that the unet_config values it hard-codes for every file
    of an architecture take the tiny file's sizes (it still decides which model the file is)."""
    import comfy.model_detection

    detect = comfy.model_detection.detect_unet_config

    def detect_tiny(state_dict, key_prefix, metadata=None):
        config = detect(state_dict, key_prefix, metadata=metadata)
        if config is not None and sizes:
            unknown = set(sizes) - set(config)
            if unknown:
                raise KeyError(f"detection no longer sets {sorted(unknown)}: update the tiny model's hard_coded sizes")
            config = {**config, **sizes}
        return config

    comfy.model_detection.detect_unet_config = detect_tiny
    try:
        yield
    finally:
        comfy.model_detection.detect_unet_config = detect
