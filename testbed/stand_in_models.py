"""Random-weight stand-ins for the full-size files the AnimateDiff and Hotshot-XL workflows load.

A motion module is injected by block index and channel count, so unlike tests/tiny_models.py these
cannot be shrunk: the UNet, text encoders, VAE and ControlNet are ComfyUI's own classes built on
the meta device at the real sizes and written in checkpoint layout by ComfyUI's own saving code;
SDXL's UNet and ControlNet take Segmind Vega's transformer depths (see SDXL_UNET); the
motion modules follow the released files' key names (AnimateDiff v3 `mm_sd15_v3.safetensors`, the
safetensors release of `v3_sd15_mm.ckpt`;
Hotshot-XL `hsxl_temporal_layers`). Weights are deterministic and small, so activations stay
finite; files are fp16 and built once per cache folder.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from .tiny_models import _initial_value

SD15_UNET = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
# SDXL's blocks, channels, conditioning and text encoders with Segmind Vega's transformer depths
# (ComfyUI loads it as an SDXL model): the full SDXL UNet (2.6B parameters, ~10 GiB in fp32 on the
# CPU) would not fit beside the rest on a small test machine. Motion modules and ControlNet attach
# per block and channel, which Vega shares with SDXL.
SDXL_UNET = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4, "model_channels": 320,
    "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 1, 1, 2, 2], "channel_mult": [1, 2, 4],
    "transformer_depth_middle": -1, "use_linear_in_transformer": True, "context_dim": 2048, "num_head_channels": 64,
    "transformer_depth_output": [0, 0, 0, 1, 1, 1, 2, 2, 2],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
SD_VAE = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
          "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
# (UNet channels per down block, motion modules per down / up block, positional-encoding length).
MOTION_MODULES = {
    "AnimateDiff v3": ((320, 640, 1280, 1280), 2, 3, 32),
    "Hotshot-XL": ((320, 640, 1280), 2, 3, 24),
}


def _shapes(state_dict: dict) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def checkpoint_shapes(family: str) -> dict[str, tuple[int, ...]]:
    """Key → shape of a full SD1.5 or SDXL checkpoint, as ComfyUI's save_checkpoint lays it out."""
    import comfy.ldm.models.autoencoder
    import comfy.ops
    import comfy.supported_models

    config_cls, unet = {"SD1.5": (comfy.supported_models.SD15, SD15_UNET),
                        "SDXL": (comfy.supported_models.Segmind_Vega, SDXL_UNET)}[family]
    config = config_cls(dict(unet))
    config.set_inference_dtype(torch.float16, None)
    with torch.device("meta"):
        model = config.get_model({}, device="meta")
        clip = config.clip_target().clip(device="meta", dtype=torch.float16)
        vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=SD_VAE, embed_dim=4)
    return _shapes(model.state_dict_for_saving(clip.state_dict(), vae.state_dict()))


def controlnet_shapes(family: str) -> dict[str, tuple[int, ...]]:
    """Key → shape of a full ControlNet for `family`, in the `control_model.` layout of the ControlNet
    1.1 releases (control_v11p_sd15_canny)."""
    import comfy.cldm.cldm
    import comfy.ops

    unet = {"SD1.5": SD15_UNET, "SDXL": SDXL_UNET}[family]
    options = {k: v for k, v in unet.items() if k not in ("out_channels", "transformer_depth_output")}
    with torch.device("meta"):
        control = comfy.cldm.cldm.ControlNet(hint_channels=3, operations=comfy.ops.disable_weight_init,
                                             device="meta", **options)
    return {f"control_model.{key}": shape for key, shape in _shapes(control.state_dict()).items()}


def _temporal_transformer(prefix: str, channels: int, pe_length: int, pe_name: str) -> dict[str, tuple[int, ...]]:
    """One temporal transformer: two temporal self-attentions with positional encoding and a GEGLU feed-forward."""
    c = channels
    shapes = {f"{prefix}norm.weight": (c,), f"{prefix}norm.bias": (c,),
              f"{prefix}proj_in.weight": (c, c), f"{prefix}proj_in.bias": (c,),
              f"{prefix}proj_out.weight": (c, c), f"{prefix}proj_out.bias": (c,)}
    block = f"{prefix}transformer_blocks.0."
    for index in range(2):
        attention = f"{block}attention_blocks.{index}."
        shapes.update({f"{attention}{name}.weight": (c, c) for name in ("to_q", "to_k", "to_v", "to_out.0")})
        shapes[f"{attention}to_out.0.bias"] = (c,)
        shapes[f"{attention}pos_encoder.{pe_name}"] = (1, pe_length, c)
        shapes[f"{block}norms.{index}.weight"], shapes[f"{block}norms.{index}.bias"] = (c,), (c,)
    shapes.update({f"{block}ff.net.0.proj.weight": (8 * c, c), f"{block}ff.net.0.proj.bias": (8 * c,),
                   f"{block}ff.net.2.weight": (c, 4 * c), f"{block}ff.net.2.bias": (c,),
                   f"{block}ff_norm.weight": (c,), f"{block}ff_norm.bias": (c,)})
    return shapes


def motion_module_shapes(kind: str) -> dict[str, tuple[int, ...]]:
    """Key → shape of the AnimateDiff v3 or Hotshot-XL temporal layers, named as in the released files."""
    channels, per_down, per_up, pe_length = MOTION_MODULES[kind]
    hotshot = kind == "Hotshot-XL"
    shapes = {}
    for blocks, block_channels, count in (("down_blocks", channels, per_down), ("up_blocks", channels[::-1], per_up)):
        for index, c in enumerate(block_channels):
            for module in range(count):
                prefix = (f"{blocks}.{index}.temporal_attentions.{module}." if hotshot
                          else f"{blocks}.{index}.motion_modules.{module}.temporal_transformer.")
                shapes.update(_temporal_transformer(prefix, c, pe_length, "positional_encoding" if hotshot else "pe"))
    return shapes


def random_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """fp16 weights as tests/tiny_models.py draws them; CLIP's position_ids stay the token positions."""
    generator = torch.Generator().manual_seed(seed)
    return {key: (torch.arange(shape[-1]).expand(shape) if key.endswith("position_ids")
                  else _initial_value(key, shape, generator).half()).contiguous()
            for key, shape in shapes.items()}


# file name (as the workflows name it) → (model folder, builder of its shapes)
STAND_INS = {
    "v1-5-pruned-emaonly-fp16.safetensors": ("checkpoints", lambda: checkpoint_shapes("SD1.5")),
    "control_v11p_sd15_canny_fp16.safetensors": ("controlnet", lambda: controlnet_shapes("SD1.5")),
    "mm_sd15_v3.safetensors": ("animatediff_models", lambda: motion_module_shapes("AnimateDiff v3")),
    "sd_xl_base_1.0.safetensors": ("checkpoints", lambda: checkpoint_shapes("SDXL")),
    "controlnet-canny-sdxl-1.0.safetensors": ("controlnet", lambda: controlnet_shapes("SDXL")),
    "hsxl_temporal_layers.f16.safetensors": ("animatediff_models", lambda: motion_module_shapes("Hotshot-XL")),
}


def write_stand_in(name: str, models_dir: Path, seed: int = 0) -> Path:
    """Writes `models_dir/<folder>/<name>` unless it is already there (ComfyUI needs ComfyUI importable)."""
    folder, shapes = STAND_INS[name]
    path = Path(models_dir) / folder / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        state = random_state_dict(shapes(), seed)
        partial = path.with_name(path.name + ".partial")
        save_file(state, str(partial), metadata={"rewind_test_model": f"random stand-in for {name}"})
        partial.rename(path)
    return path
