"""Readable reports of ComfyUI's validation and execution errors, from whatever shape a server
sent: a field of the wrong type is read as absent, never a crash.

``/prompt`` rejects a workflow with ``node_errors`` keyed by node id; a missing model shows up
there as ``value_not_in_list`` on a loader's file input, which deserves a message saying which
file, which models folder and where to get it.
"""
from __future__ import annotations

from pathlib import Path

from .transport import as_object

MODEL_FOLDERS = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("DiffControlNetLoader", "control_net_name"): "controlnet",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("ADE_LoadAnimateDiffModel", "model_name"): "animatediff_models",
    ("ADE_AnimateDiffLoaderGen1", "model_name"): "animatediff_models",
}

# Where the models the example workflows use are published.
MODEL_SOURCES = {
    "wan2.1_t2v_1.3B": "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged (split_files/diffusion_models)",
    "wan_2.1_vae": "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged (split_files/vae)",
    "umt5_xxl": "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged (split_files/text_encoders)",
    "v1-5-pruned-emaonly": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive",
    "sd_xl_base_1.0": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0",
    "mm_sd_v15_v2": "https://huggingface.co/guoyww/animatediff",
    "hsxl_temporal_layers": "https://huggingface.co/hotshotco/Hotshot-XL",
    "control_v11p_sd15": "https://huggingface.co/comfyanonymous/ControlNet-v1-1_fp16_safetensors",
}


def model_source(filename: str, known_urls: dict[str, str] | None = None) -> str:
    if known_urls and filename in known_urls:
        return known_urls[filename]
    for stem, source in MODEL_SOURCES.items():
        if filename.startswith(stem):
            return source
    return "the model's download page (see the workflow's notes)"


def missing_model_message(class_type: str, error: dict, known_urls: dict[str, str] | None = None,
                          models_dir: Path | None = None) -> str | None:
    """A "download X into models/Y" message when the error is a loader missing its file;
    ``models_dir`` is the server's models folder when the caller knows it."""
    extra = as_object(error.get("extra_info"))
    folder = MODEL_FOLDERS.get((class_type, extra.get("input_name")))
    if error.get("type") != "value_not_in_list" or folder is None:
        return None
    filename = extra.get("received_value")
    target = f"{models_dir / folder}/" if models_dir else f"ComfyUI's models/{folder}/"
    return (
        f"missing model file {filename!r}: put it in {target} "
        f"(get it from {model_source(str(filename), known_urls)}) and run again"
    )


def node_level_reason(error: dict) -> str | None:
    """The node's own reason when its VALIDATE_INPUTS failed: ComfyUI repeats that one verdict
    once per input as ``"<input> - <reason>"``; the reason alone is said once per node."""
    if error.get("type") != "custom_validation_failed":
        return None
    input_name = str(as_object(error.get("extra_info")).get("input_name", ""))
    details = str(error.get("details", ""))
    return details[len(input_name) + 3:] if details.startswith(f"{input_name} - ") else None


def format_node_error(node_id: str, class_type: str, error: dict, known_urls=None, models_dir=None) -> str:
    extra = as_object(error.get("extra_info"))
    where = f"node {node_id} ({class_type})"
    reason = node_level_reason(error)
    if reason:
        return f"{where}: {reason}"
    if extra.get("input_name"):
        where += f", input '{extra['input_name']}'"
    message = missing_model_message(class_type, error, known_urls, models_dir)
    if message is None:
        message = str(error.get("message", "error"))
        if error.get("details"):
            message += f": {error['details']}"
    return f"{where}: {message}"


def format_prompt_rejection(body: dict, known_urls: dict[str, str] | None = None, models_dir: Path | None = None) -> str:
    """The text for a 400 from ``/prompt``: the overall error, then one line per node error."""
    error = body.get("error")
    error = {"message": error} if isinstance(error, str) else as_object(error)  # ComfyUI says "no prompt" as text
    lines = [f"ComfyUI rejected the workflow: {error.get('message', 'invalid prompt')}"]
    node_errors = as_object(body.get("node_errors"))
    if error.get("details") and not node_errors:  # with node errors, details only repeats them
        lines[0] += f" ({error['details']})"
    for node_id, report in node_errors.items():
        report = as_object(report)
        errors = report.get("errors")
        for node_error in errors if isinstance(errors, list) else []:
            line = "  " + format_node_error(node_id, report.get("class_type", "?"), as_object(node_error), known_urls, models_dir)
            if line not in lines:
                lines.append(line)
    return "\n".join(lines)


def format_execution_error(data: dict) -> str:
    """The text for an ``execution_error`` message (from /ws or the history's status messages)."""
    lines = [
        f"ComfyUI failed while running node {data.get('node_id')} ({data.get('node_type')}): "
        f"{data.get('exception_type', 'error')}: {str(data.get('exception_message', '')).strip()}"
    ]
    traceback = data.get("traceback")
    if traceback and isinstance(traceback, list):
        lines.append("  last frames of the server traceback:")
        lines += ["    " + line.rstrip() for line in "".join(map(str, traceback)).splitlines()[-6:]]
    return "\n".join(lines)
