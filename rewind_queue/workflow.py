"""Workflow files: UI format → API format, and the edits the command line makes.

The conversion follows what ComfyUI's frontend does when it queues a graph: virtual nodes
(notes, reroutes, primitives) vanish, muted nodes are dropped, bypassed nodes pass their
matching input through, and ``widgets_values`` fill the widget inputs in ``/object_info`` order.
"""
from __future__ import annotations

import json
from pathlib import Path

VIRTUAL_NODE_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MODE_MUTED, MODE_BYPASSED = 2, 4
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
SEED_INPUT_NAMES = {"seed", "noise_seed"}
UPLOAD_OPTIONS = {"image_upload", "video_upload", "audio_upload"}
UPLOAD_WIDGET_VALUES = {"image", "video", "audio"}
VIDEO_LOADER_INPUTS = {"RewindLoadVideo": "video", "VHS_LoadVideo": "video", "LoadVideo": "file"}
RESAMPLER_TYPES = {"RewindResampler"}


class WorkflowError(ValueError):
    """A workflow the client cannot queue; the message says which node and what to do."""


def load_workflow(path: Path) -> dict:
    try:
        workflow = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WorkflowError(f"workflow file {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise WorkflowError(f"workflow file {path} is not valid JSON: {error}") from None
    if not isinstance(workflow, dict):
        raise WorkflowError(f"workflow file {path} must hold a JSON object (API or UI format)")
    return workflow


def is_ui_format(workflow: dict) -> bool:
    return isinstance(workflow.get("nodes"), list) and "links" in workflow


def checked_api_prompt(workflow: dict) -> dict:
    """An API-format prompt (also accepted wrapped as a ``/prompt`` payload), checked node by node."""
    prompt = workflow["prompt"] if isinstance(workflow.get("prompt"), dict) else workflow
    malformed = [key for key, node in prompt.items() if not (isinstance(node, dict) and "class_type" in node)]
    if malformed or not prompt:
        raise WorkflowError(
            f"not a workflow: entries {malformed[:3]} have no class_type (API format) and there are no "
            "nodes/links (UI format); save it from ComfyUI with Workflow → Save, or Workflow → Export (API)"
        )
    for node in prompt.values():
        node.setdefault("inputs", {})
    return prompt


# --- UI → API ---------------------------------------------------------------------------------

def _links_by_id(ui: dict) -> dict[int, tuple[int, int]]:
    """link id → (origin node id, origin slot); links are lists in format 0.4, objects in 1.0."""
    links = {}
    for link in ui.get("links") or []:
        if isinstance(link, dict):
            links[link["id"]] = (link["origin_id"], link["origin_slot"])
        else:
            links[link[0]] = (link[1], link[2])
    return links


def _input_specs(info: dict) -> list[tuple[str, list]]:
    """(name, spec) for every visible input, in the order ComfyUI creates their widgets."""
    order = info.get("input_order") or {section: list(info["input"].get(section, {})) for section in ("required", "optional")}
    return [
        (name, info["input"][section][name])
        for section in ("required", "optional")
        for name in order.get(section, [])
        if name in info["input"].get(section, {})
    ]


def _is_widget(spec: list) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def _has_seed_control(name: str, spec: list) -> bool:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return bool(options.get("control_after_generate")) or (spec[0] == "INT" and name in SEED_INPUT_NAMES)


def _has_upload_widget(spec: list) -> bool:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return any(options.get(key) for key in UPLOAD_OPTIONS)


def widget_inputs(node: dict, info: dict) -> dict:
    """Maps a UI node's ``widgets_values`` to input names, skipping the frontend-only values
    (``control_after_generate`` after seeds, the upload button after file combos)."""
    values = node.get("widgets_values")
    specs = [(name, spec) for name, spec in _input_specs(info) if _is_widget(spec)]
    if isinstance(values, dict):
        return {name: values[name] for name, _ in specs if name in values}
    values = list(values or [])
    inputs, position = {}, 0
    for name, spec in specs:
        if position >= len(values):
            break
        inputs[name] = values[position]
        position += 1
        next_value = values[position] if position < len(values) else None
        if _has_seed_control(name, spec) and next_value in SEED_CONTROL_VALUES:
            position += 1
        elif _has_upload_widget(spec) and next_value in UPLOAD_WIDGET_VALUES:
            position += 1
    return inputs


def _describe(node: dict) -> str:
    title = node.get("title")
    return f"node {node['id']} ({node.get('type')}{f', titled {title!r}' if title else ''})"


def ui_to_api(ui: dict, object_info: dict) -> dict:
    """Converts a workflow saved from the ComfyUI editor into the API format ``/prompt`` takes."""
    if (ui.get("definitions") or {}).get("subgraphs"):
        raise WorkflowError(
            "this workflow contains subgraphs, which the queue client does not expand: unpack them in "
            "ComfyUI (right-click → Unpack Subgraph) or save it with Workflow → Export (API)"
        )
    nodes = {node["id"]: node for node in ui["nodes"]}
    links = _links_by_id(ui)

    def source_of(link_id: int, link_type) -> tuple[dict, int] | None:
        """The real (node, slot) a link starts from, looking through reroutes and bypassed nodes."""
        seen = set()
        while link_id is not None and link_id in links and link_id not in seen:
            seen.add(link_id)
            origin_id, slot = links[link_id]
            origin = nodes.get(origin_id)
            if origin is None or origin.get("mode") == MODE_MUTED:
                return None
            if origin["type"] == "Reroute":
                link_id = (origin.get("inputs") or [{}])[0].get("link")
            elif origin.get("mode") == MODE_BYPASSED:
                link_id = _bypass_input_link(origin, slot, link_type)
            else:
                return origin, slot
        return None

    prompt = {}
    for node in ui["nodes"]:
        kind = node.get("type")
        if kind in VIRTUAL_NODE_TYPES or node.get("mode") in (MODE_MUTED, MODE_BYPASSED):
            continue
        info = object_info.get(kind)
        if info is None:
            raise WorkflowError(
                f"{_describe(node)}: the server has no node type {kind!r}; install the custom node pack "
                "that provides it (ComfyUI Manager → Install Missing Custom Nodes) and restart ComfyUI"
            )
        inputs = widget_inputs(node, info)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            source = source_of(slot["link"], slot.get("type"))
            if source is None:
                continue
            origin, origin_slot = source
            if origin["type"] == "PrimitiveNode":
                inputs[slot["name"]] = (origin.get("widgets_values") or [None])[0]
            else:
                inputs[slot["name"]] = [str(origin["id"]), origin_slot]
        prompt[str(node["id"])] = {
            "class_type": kind,
            "inputs": inputs,
            "_meta": {"title": node.get("title") or info.get("display_name") or kind},
        }
    return prompt


def _bypass_input_link(node: dict, output_slot: int, link_type) -> int | None:
    """A bypassed node passes through the input of the output's type (same slot first)."""
    inputs = node.get("inputs") or []
    candidates = ([inputs[output_slot]] if output_slot < len(inputs) else []) + inputs
    for candidate in candidates:
        if candidate.get("type") == link_type and candidate.get("link") is not None:
            return candidate["link"]
    return None


def widget_default(spec: list):
    """The value the editor would show for a fresh widget: its default, else the first option."""
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    return choices[0] if choices else None


def with_required_defaults(prompt: dict, object_info: dict) -> dict:
    """Fills every missing required widget input with its default, as dropping a fresh node in
    the editor would: workflows built in code then only name the inputs they care about."""
    for node in prompt.values():
        info = object_info.get(node["class_type"])
        for name, spec in _input_specs(info) if info else []:
            if name in info["input"].get("required", {}) and name not in node["inputs"] and _is_widget(spec):
                default = widget_default(spec)
                if default is not None:
                    node["inputs"][name] = default
    return prompt


# --- edits ------------------------------------------------------------------------------------

def find_node(prompt: dict, reference: str) -> str:
    """A node id from an id or a title (``_meta.title``)."""
    if reference in prompt:
        return reference
    matches = [node_id for node_id, node in prompt.items() if node.get("_meta", {}).get("title") == reference]
    if len(matches) == 1:
        return matches[0]
    titles = ", ".join(f"{node_id}={node.get('_meta', {}).get('title', node['class_type'])!r}" for node_id, node in prompt.items())
    if matches:
        raise WorkflowError(f"title {reference!r} names several nodes ({', '.join(matches)}): use a node id instead")
    raise WorkflowError(f"no node with id or title {reference!r}; the workflow has: {titles}")


def parse_value(text: str):
    """JSON when it parses (numbers, booleans, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignment(assignment: str) -> tuple[str, str, str]:
    """``NODE.INPUT=VALUE`` → (node, input, raw value); NODE may be a title containing dots."""
    target, equals, value = assignment.partition("=")
    node, dot, input_name = target.rpartition(".")
    if not equals or not dot or not node or not input_name:
        raise WorkflowError(f"--set {assignment!r}: expected NODE.INPUT=VALUE, e.g. --set 3.seed=42 or --set KSampler.cfg=6.5")
    return node, input_name, value


def set_input(prompt: dict, node_reference: str, input_name: str, value) -> str:
    node_id = find_node(prompt, node_reference)
    prompt[node_id]["inputs"][input_name] = value
    return node_id


def video_loaders(prompt: dict) -> list[str]:
    return [node_id for node_id, node in prompt.items() if node["class_type"] in VIDEO_LOADER_INPUTS]


def set_video(prompt: dict, uploaded_name: str) -> str:
    """Points the workflow's one video loader at an uploaded file."""
    loaders = video_loaders(prompt)
    if len(loaders) != 1:
        found = ", ".join(f"{node_id} ({prompt[node_id]['class_type']})" for node_id in loaders) or "none"
        raise WorkflowError(
            f"--video needs exactly one video loader node ({', '.join(VIDEO_LOADER_INPUTS)}); found {found}. "
            "Use --set NODE.video=@FILE to choose one."
        )
    node_id = loaders[0]
    prompt[node_id]["inputs"][VIDEO_LOADER_INPUTS[prompt[node_id]["class_type"]]] = uploaded_name
    return node_id


def _upstream_text_nodes(prompt: dict, node_id: str, seen: set) -> list[str]:
    """Text-encoder nodes a conditioning input comes from, through any conditioning nodes between."""
    if node_id in seen or node_id not in prompt:
        return []
    seen.add(node_id)
    node = prompt[node_id]
    if isinstance(node["inputs"].get("text"), str):
        return [node_id]
    found = []
    for value in node["inputs"].values():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            found += _upstream_text_nodes(prompt, value[0], seen)
    return found


def positive_text_nodes(prompt: dict) -> list[str]:
    """Nodes whose ``text`` is the positive prompt: a text node titled "positive", else the
    encoders feeding the resamplers' ``positive`` (or, without a resampler, any sampler's)."""
    titled = [
        node_id for node_id, node in prompt.items()
        if "positive" in node.get("_meta", {}).get("title", "").lower() and isinstance(node["inputs"].get("text"), str)
    ]
    if titled:
        return titled
    samplers = [node_id for node_id, node in prompt.items() if isinstance(node["inputs"].get("positive"), list)]
    resamplers = [node_id for node_id in samplers if prompt[node_id]["class_type"] in RESAMPLER_TYPES]
    found: list[str] = []
    for sampler in resamplers or samplers:
        for node_id in _upstream_text_nodes(prompt, prompt[sampler]["inputs"]["positive"][0], set()):
            if node_id not in found:
                found.append(node_id)
    return found


def set_positive_prompt(prompt: dict, text: str) -> list[str]:
    nodes = positive_text_nodes(prompt)
    if not nodes:
        raise WorkflowError(
            "--prompt found no text encoder feeding a sampler's `positive` input; title the node "
            "'Positive' in ComfyUI or use --set NODE.text=..."
        )
    for node_id in nodes:
        prompt[node_id]["inputs"]["text"] = text
    return nodes
