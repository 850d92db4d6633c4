"""The shipped API workflows made runnable without weights: every loader and text encoder swapped for
RewindReferenceModel (by the tests, never in the shipped files) and sizes shrunk to a few 64x64
frames and 4 steps. The server and browser tiers run these twins."""
from __future__ import annotations

import copy
import json

from rewind.example_workflows.source import WORKFLOWS_DIR

REFERENCE_ID = "reference"
# What each loader's outputs become: RewindReferenceModel gives (MODEL, VAE, CONDITIONING).
LOADER_OUTPUTS = {
    "CheckpointLoaderSimple": {0: 0, 2: 1},
    "UNETLoader": {0: 0},
    "VAELoader": {0: 1},
    "CLIPTextEncode": {0: 2},
    "ADE_UseEvolvedSampling": {0: 0},  # the motion-model MODEL (the browser tier runs the AnimateDiff workflows)
}
DROPPED = {"CLIPLoader"}
# Core-only recipes and the reference model type standing in for each; (frames, context length, overlap) in pixel frames.
MODEL_TYPES = {"sd15": "SD1.5", "sdxl": "SDXL", "wan21": "Wan2.1", "wan22_a14b": "Wan2.1", "wan22_5b": "Wan2.2 TI2V-5B"}
TINY = {"SD1.5": (5, 2, 0), "SDXL": (5, 2, 0), "Wan2.1": (9, 5, 4), "Wan2.2 TI2V-5B": (9, 5, 4)}
# A second diffusion model (Wan 2.2 A14B's high-noise expert) becomes a reference model of its own, over
# other data: two experts that differ, each loaded and unloaded on its own.
SECOND_MODEL_ID, SECOND_MODEL_DATA = "reference_high_noise", "gaussian"


def load_api(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())


def is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def ancestors(prompt: dict, node_ids) -> set[str]:
    seen, stack = set(), list(node_ids)
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.add(node_id)
            stack += [value[0] for value in prompt[node_id]["inputs"].values() if is_link(value)]
    return seen


def with_reference_model(workflow: dict, model_type: str) -> dict:
    """The workflow with every loader and text encoder replaced by RewindReferenceModel outputs and
    ControlNet passed through. Text encoders stay in the prompt, unconnected, so --prompt still finds them."""
    prompt = copy.deepcopy(workflow)
    replaced = {}
    unets = [node_id for node_id, node in prompt.items() if node["class_type"] == "UNETLoader"]
    for node_id, node in prompt.items():
        kind = node["class_type"]
        for slot, reference_slot in LOADER_OUTPUTS.get(kind, {}).items():
            replaced[(node_id, slot)] = [SECOND_MODEL_ID if node_id in unets[1:] else REFERENCE_ID, reference_slot]
        if kind in ("ControlNetApplyAdvanced", "ACN_AdvancedControlNetApply_v2"):
            replaced[(node_id, 0)], replaced[(node_id, 1)] = node["inputs"]["positive"], node["inputs"]["negative"]

    def resolve(value):
        while is_link(value) and tuple(value) in replaced:
            value = replaced[tuple(value)]
        return value

    for node in prompt.values():
        node["inputs"] = {key: resolve(value) for key, value in node["inputs"].items()}
    prompt[REFERENCE_ID] = reference_node(model_type, "mixture")
    if unets[1:]:
        prompt[SECOND_MODEL_ID] = reference_node(model_type, SECOND_MODEL_DATA)
    outputs = [node_id for node_id, node in prompt.items() if node["class_type"] == "RewindVideoCombine"]
    keep = ancestors(prompt, outputs)
    for node_id in list(prompt):
        node = prompt[node_id]
        if node["class_type"] == "CLIPTextEncode":
            node["inputs"].pop("clip")
        elif node_id not in keep or node["class_type"] in DROPPED:
            del prompt[node_id]
    return prompt


def reference_node(model_type: str, data: str) -> dict:
    return {"class_type": "RewindReferenceModel", "inputs": {"model_type": model_type, "data": data},
            "_meta": {"title": f"Reference model (test, {data})"}}


def shrunk(prompt: dict, model_type: str) -> dict:
    """A few 64x64 frames, 4 steps, 2 exact iterations, windows smaller than the clip so they are used."""
    frames, length, overlap = TINY[model_type]
    sizes = {
        "RewindLoadVideo": {"custom_width": 64, "custom_height": 64, "frame_load_cap": frames},
        "RewindAYSScheduler": {"steps": 4},
        "RewindUnsampler": {"exact_iterations": 2},
        "RewindContextOptions": {"context_length": length, "context_overlap": overlap},
        "RewindVideoCombine": {"filename_prefix": f"workflow_test/{model_type}"},
    }
    for node in prompt.values():
        node["inputs"].update(sizes.get(node["class_type"], {}))
    return prompt
