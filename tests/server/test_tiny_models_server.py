"""The tiny Wan2.1 file through a real server: listed by core UNETLoader and loaded as a flow model."""
from __future__ import annotations

from rewind.testbed.tiny_models import write_tiny_model


def test_core_unet_loader_on_the_server_loads_the_tiny_file(comfy_server, tmp_path):
    """Through the server: the copied file is listed (the running server re-lists the folder)
    and core UNETLoader loads it as a flow model (the in-process tests pin the exact class)."""
    from rewind.rewind_queue.api import ComfyAPI
    from rewind.rewind_queue.cli import run_prompt

    [installed] = comfy_server.install_models("diffusion_models", [write_tiny_model("Wan2.1", tmp_path / "tiny_wan21_t2v.safetensors")])
    api = ComfyAPI(comfy_server.url)
    listed = api.get_json("/object_info/UNETLoader")["UNETLoader"]["input"]["required"]["unet_name"][0]
    assert installed.name in listed
    prompt = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": installed.name, "weight_dtype": "default"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    log_before = len(comfy_server.log_path.read_text())
    result = run_prompt(api, prompt, tmp_path / "out")
    assert any("ModelPatcher" in text for text in result.texts), result.texts
    assert "model_type FLOW" in comfy_server.log_path.read_text()[log_before:]
