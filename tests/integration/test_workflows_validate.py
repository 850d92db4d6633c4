"""The example workflows against the live schemas: every node, input, value and link exists and
fits; the committed files are what the source renders; each UI file converts to its API twin.

Rewind's schemas come from the node classes (ComfyUI's V3 → /object_info conversion), core,
AnimateDiff-Evolved and Advanced-ControlNet from the repo's trimmed peer /object_info dumps, so a
renamed input fails here at once.
"""
from __future__ import annotations

import json
import numbers

import pytest

from rewind.rewind_queue.workflow import ui_to_api, widget_inputs
from rewind.example_workflows.source import RECIPES, WORKFLOWS_DIR, stale_files
from rewind.example_workflows.source.graph import NOTE_TYPES, input_specs, input_type
from rewind.example_workflows.source.schemas import peer_object_info, rewind_object_info, used_node_types

NAMES = sorted(RECIPES)
PACK_OF_REWIND = "Rewind (live)"
PEER_PACKS = ("ComfyUI 0.3.75", "AnimateDiff-Evolved", "Advanced-ControlNet", "VideoHelperSuite")


@pytest.fixture(scope="module")
def schemas(comfy) -> dict[str, dict]:
    """pack name → its /object_info; Rewind's from the live node classes."""
    return {**peer_object_info(), PACK_OF_REWIND: rewind_object_info()}


@pytest.fixture(scope="module")
def object_info(schemas) -> dict:
    combined = {}
    for pack in schemas.values():
        combined.update(pack)
    return combined


def load(name: str) -> tuple[dict, dict]:
    return (json.loads((WORKFLOWS_DIR / f"{name}.json").read_text()),
            json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text()))


def pack_of(node_type: str, schemas: dict) -> str | None:
    return next((pack for pack in (PACK_OF_REWIND, *PEER_PACKS) if node_type in schemas[pack]), None)


def value_problem(value, spec: list, model_files: set[str]) -> str | None:
    """Why `value` does not fit the input `spec`, or None when it does. Folder listings (models,
    uploaded videos) depend on the machine: there a value must be a model file the node declares
    (so the Note names it) or a file for an upload combo."""
    kind, options = input_type(spec), (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if kind == "COMBO":
        choices = spec[0] if isinstance(spec[0], list) else options.get("options", [])
        is_upload = any(key.endswith("_upload") and options[key] for key in options)
        if value in choices or value in model_files or (is_upload and isinstance(value, str) and value):
            return None
        return f"{value!r} is not one of {choices} nor a model file the node declares"
    expected = {"INT": numbers.Integral, "FLOAT": numbers.Real, "BOOLEAN": bool, "STRING": str}.get(kind)
    if expected is None:
        return f"has type {kind}, which is not a widget type"
    if not isinstance(value, expected) or (kind != "BOOLEAN" and isinstance(value, bool)):
        return f"{value!r} is not {kind}"
    if kind in ("INT", "FLOAT") and not options.get("min", value) <= value <= options.get("max", value):
        return f"{value} is outside [{options.get('min')}, {options.get('max')}]"
    return None


def test_the_committed_files_are_what_the_source_renders(object_info):
    stale = stale_files(object_info)
    assert stale == [], f"regenerate with `python scripts/build_workflows.py`: {[str(p) for p in stale]}"


def test_the_repos_peer_schemas_hold_exactly_the_peer_node_types_the_workflows_use(schemas):
    placed = used_node_types() | {node["type"] for name in NAMES for node in load(name)[0]["nodes"]} - NOTE_TYPES
    rewind = set(schemas[PACK_OF_REWIND])
    peer = set().union(*(schemas[pack] for pack in PEER_PACKS))
    assert placed - rewind - peer == set(), "run scripts/build_workflows.py --refresh-peer-schemas DIR"
    assert peer - placed == set(), "trimmed copy holds node types no workflow uses"


def test_there_are_seven_recipes_in_both_formats():
    assert NAMES == ["animatediff", "hotshot_xl", "sd15", "sdxl", "wan21", "wan22_5b", "wan22_a14b"]
    for name in NAMES:
        assert (WORKFLOWS_DIR / f"{name}.json").is_file() and (WORKFLOWS_DIR / "api" / f"{name}.json").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_every_node_input_and_value_exists_in_its_pack(name, schemas, object_info):
    ui, api = load(name)
    problems = []
    for node in ui["nodes"]:
        if node["type"] in NOTE_TYPES:
            continue
        pack = pack_of(node["type"], schemas)
        if pack is None:
            problems.append(f"node {node['id']}: {node['type']} is in no known pack")
            continue
        specs = dict(input_specs(object_info[node["type"]]))
        required = object_info[node["type"]]["input"].get("required", {})
        prompt_inputs = api[str(node["id"])]["inputs"]
        problems += [f"node {node['id']} ({node['type']}): no input {key!r}" for key in prompt_inputs if key not in specs]
        problems += [f"node {node['id']} ({node['type']}): required input {key!r} unset" for key in required if key not in prompt_inputs]
        for key, value in widget_inputs(node, object_info[node["type"]]).items():
            problem = value_problem(value, specs[key], {m["name"] for m in node["properties"].get("models", [])})
            if problem:
                problems.append(f"node {node['id']} ({node['type']}).{key}: {problem}")
    assert problems == []


@pytest.mark.parametrize("name", NAMES)
def test_every_link_joins_an_output_to_an_input_of_the_same_type(name, object_info):
    ui, _ = load(name)
    nodes = {node["id"]: node for node in ui["nodes"]}
    problems = []
    for link_id, origin_id, origin_slot, target_id, target_slot, link_type in ui["links"]:
        origin, target = nodes[origin_id], nodes[target_id]
        produced = object_info[origin["type"]]["output"][origin_slot]
        slot = target["inputs"][target_slot]
        wanted = input_type(dict(input_specs(object_info[target["type"]]))[slot["name"]])
        if not (produced == link_type == slot["type"] and (wanted == produced or "*" in (wanted, produced))):
            problems.append(f"link {link_id}: {origin['type']}[{origin_slot}] gives {produced}, "
                            f"{target['type']}.{slot['name']} takes {wanted} (link says {link_type})")
        if slot["link"] != link_id or link_id not in origin["outputs"][origin_slot]["links"]:
            problems.append(f"link {link_id} is not recorded on both ends")
    assert problems == []


@pytest.mark.parametrize("name", NAMES)
def test_the_ui_file_converts_to_its_api_twin_through_the_queue_client(name, object_info):
    ui, api = load(name)
    assert ui_to_api(ui, object_info) == api


@pytest.mark.parametrize("name", NAMES)
def test_the_note_names_every_model_file_its_folder_and_where_to_get_it(name, object_info):
    ui, api = load(name)
    note = "\n".join(node["widgets_values"][0] for node in ui["nodes"] if node["type"] in NOTE_TYPES)
    models = [model for node in ui["nodes"] for model in node["properties"].get("models", [])]
    assert models, "the loaders carry no models property"
    for model in models:
        assert f"**{model['name']}** → ComfyUI/models/{model['directory']}/ — Hugging Face:" in note
        assert model["url"].startswith("https://huggingface.co/")
    listed = {model["name"] for model in models}
    file_inputs = {value for node in api.values() for key, value in node["inputs"].items()
                   if key.endswith("_name") and isinstance(value, str)}
    assert file_inputs == listed, "every model file a loader names must be in its models property and the Note"


@pytest.mark.parametrize("name", NAMES)
def test_the_style_transfer_recipe_holds(name):
    """Exact unsample at cfg 1, zero-noise resample retracing it at a higher cfg, same conditioning and windows, 16 AYS steps."""
    _, api = load(name)
    (unsampler,) = [n for n in api.values() if n["class_type"] == "RewindUnsampler"]
    (resampler,) = [n for n in api.values() if n["class_type"] == "RewindResampler"]
    (schedule,) = [n for n in api.values() if n["class_type"] == "RewindAYSScheduler"]
    assert (unsampler["inputs"]["solver"], unsampler["inputs"]["cfg"]) == ("bdia", 1.0)
    assert resampler["inputs"]["solver"] == "match unsampler" and resampler["inputs"]["cfg"] > unsampler["inputs"]["cfg"]
    for shared in ("model", "positive", "negative", "context_options"):
        assert unsampler["inputs"].get(shared) == resampler["inputs"].get(shared), shared
    assert resampler["inputs"]["latent"][0] in [k for k, n in api.items() if n["class_type"] == "RewindUnsampler"]
    assert schedule["inputs"]["steps"] == 16
    assert "coherence" in resampler["inputs"]
    uses_ade = any(n["class_type"].startswith("ADE_") for n in api.values())
    assert ("context_options" in resampler["inputs"]) != uses_ade, "one windowing: Rewind's or AnimateDiff-Evolved's"


@pytest.mark.parametrize("name", NAMES)
def test_two_experts_switch_alike_on_both_passes(name):
    """Wan 2.2 A14B: the same high-noise model (not the sampler's own) and boundary on the unsampler and the
    resampler, unsampled at cfg 1 and resampled above it; one-model recipes give neither pass an expert."""
    _, api = load(name)
    passes = [n["inputs"] for n in api.values() if n["class_type"] in ("RewindUnsampler", "RewindResampler")]
    experts = [api[inputs["high_noise_expert"][0]]["inputs"] for inputs in passes if "high_noise_expert" in inputs]
    assert len(experts) == (2 if name == "wan22_a14b" else 0)
    if experts:
        unsampling, resampling = experts
        assert unsampling["high_noise_model"] == resampling["high_noise_model"] != passes[0]["model"]
        assert unsampling["boundary"] == resampling["boundary"] == 0.875
        assert unsampling["cfg"] == 1.0 < resampling["cfg"]
