"""The stand-ins for the AnimateDiff/Hotshot-XL workflows' files have the released files' sizes and
are what ComfyUI takes for the real models (detected from keys and shapes alone, on the meta device)."""
from __future__ import annotations

import math

import pytest
import torch



@pytest.fixture(scope="module")
def stand_ins(comfy):
    from rewind.testbed import stand_in_models

    return stand_in_models


def meta_state_dict(shapes: dict) -> dict:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize("name, parameters", [
    ("v1-5-pruned-emaonly-fp16.safetensors", 1.066e9),  # 2.13 GB in fp16, as released
    ("control_v11p_sd15_canny_fp16.safetensors", 0.361e9),  # 723 MB
    ("mm_sd15_v3.safetensors", 0.418e9),  # 837 MB
    ("hsxl_temporal_layers.f16.safetensors", 0.237e9),  # 475 MB
])
def test_the_full_size_stand_ins_have_the_released_parameter_counts(stand_ins, name, parameters):
    _, shapes = stand_ins.STAND_INS[name]
    assert sum(math.prod(shape) for shape in shapes().values()) == pytest.approx(parameters, rel=0.005)


@pytest.mark.parametrize("family, model_class", [("SD1.5", "SD15"), ("SDXL", "Segmind_Vega")])
def test_comfyui_detects_the_checkpoint_and_controlnet_stand_ins(stand_ins, family, model_class):
    import comfy.model_detection
    import comfy.supported_models

    for shapes, prefix in ((stand_ins.checkpoint_shapes(family), "model.diffusion_model."),
                           (stand_ins.controlnet_shapes(family), "control_model.")):
        config = comfy.model_detection.model_config_from_unet(meta_state_dict(shapes), prefix)
        assert type(config) is getattr(comfy.supported_models, model_class)
    assert issubclass(comfy.supported_models.Segmind_Vega, comfy.supported_models.SDXL)  # loads as an SDXL model
