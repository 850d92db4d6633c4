"""A workflow written once in Python, rendered to both ComfyUI formats.

Nodes name their inputs by keyword (a plain value sets a widget, ``other["OUTPUT"]`` links an
output), so a family reads like the pipeline it is. ``/object_info`` supplies what a file needs
beyond that: widget order and defaults, socket order and types, display names. Both formats are
rendered from the same graph, so they cannot diverge.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
NOTE_TYPES = {"Note", "MarkdownNote"}
COLUMN_WIDTH, NODE_WIDTH, ROW_GAP = 420, 360, 60
TITLE_HEIGHT, SLOT_HEIGHT, WIDGET_HEIGHT = 30, 22, 24
MULTILINE_HEIGHT, UPLOAD_PREVIEW_HEIGHT = 90, 320  # a text box; a file upload's button and media preview
NOTE_SIZE = (NODE_WIDTH, 560)


@dataclass(frozen=True)
class Model:
    """A model file a loader needs: shown in the Note and attached as the frontend's ``models``
    property (name, where it goes, where to get it)."""

    name: str
    directory: str
    url: str
    page: str  # the human-readable source: "Hugging Face: org/repo"


@dataclass(frozen=True)
class Output:
    node: "Node"
    name: str


@dataclass
class Node:
    id: int
    type: str
    column: int
    values: dict
    title: str | None = None
    models: tuple[Model, ...] = ()

    def __getitem__(self, output_name: str) -> Output:
        return Output(self, output_name)  # resolved against /object_info when rendering


@dataclass
class Graph:
    name: str
    nodes: list[Node] = field(default_factory=list)

    def node(self, type_: str, column: int, *, title: str | None = None, models=(), **values) -> Node:
        node = Node(len(self.nodes) + 1, type_, column, values, title, tuple(models))
        self.nodes.append(node)
        return node

    def note(self, text: str, column: int = 0) -> Node:
        return self.node("MarkdownNote", column, title="Models and settings", text=text)


# --- /object_info helpers ----------------------------------------------------------------------

def input_specs(info: dict) -> list[tuple[str, list]]:
    """(name, spec) of every visible input in widget-creation order (required, then optional)."""
    order = info.get("input_order") or {s: list(info["input"].get(s, {})) for s in ("required", "optional")}
    return [(name, info["input"][section][name]) for section in ("required", "optional")
            for name in order.get(section, []) if name in info["input"].get(section, {})]


def _options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def is_widget(spec: list) -> bool:
    return (isinstance(spec[0], list) or spec[0] in WIDGET_TYPES) and not _options(spec).get("forceInput")


def widget_default(spec: list):
    options = _options(spec)
    if "default" in options:
        return options["default"]
    choices = spec[0] if isinstance(spec[0], list) else options.get("options")
    return choices[0] if choices else None


def input_type(spec: list) -> str:
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def output_slot(info: dict, output: Output) -> int:
    names = info.get("output_name") or info["output"]
    if output.name not in names:
        raise KeyError(f"{output.node.type} has no output {output.name!r}; it has {list(names)}")
    return list(names).index(output.name)


# --- rendering ---------------------------------------------------------------------------------

class Rendered:
    """Resolves a graph against /object_info once; renders the API and UI formats from that."""

    def __init__(self, graph: Graph, object_info: dict):
        self.graph, self.object_info = graph, object_info
        self.real = [n for n in graph.nodes if n.type not in NOTE_TYPES]
        for node in self.real:
            self._check(node)

    def info(self, node: Node) -> dict:
        return self.object_info[node.type]

    def _check(self, node: Node) -> None:
        if node.type not in self.object_info:
            raise KeyError(f"{self.graph.name}: no /object_info for node type {node.type}")
        names = {name for name, _ in input_specs(self.info(node))}
        unknown = set(node.values) - names
        if unknown:
            raise KeyError(f"{self.graph.name}: {node.type} has no input(s) {sorted(unknown)}; it has {sorted(names)}")

    def widget_values(self, node: Node) -> list:
        """Every widget's value in creation order: the graph's value, else (unset or linked) the default."""
        return [self._widget_value(node, name, spec) for name, spec in input_specs(self.info(node)) if is_widget(spec)]

    @staticmethod
    def _widget_value(node: Node, name: str, spec: list):
        value = node.values.get(name, widget_default(spec))
        return widget_default(spec) if isinstance(value, Output) else value

    def title(self, node: Node) -> str:
        return node.title or self.info(node).get("display_name") or node.type

    def links(self) -> list[tuple[Output, Node, str, str]]:
        """(source output, target node, input name, type) for every connection."""
        found = []
        for node in self.real:
            for name, _ in input_specs(self.info(node)):
                value = node.values.get(name)
                if isinstance(value, Output):
                    origin_info = self.info(value.node)
                    found.append((value, node, name, origin_info["output"][output_slot(origin_info, value)]))
        return found

    # API format ------------------------------------------------------------------------------

    def api(self) -> dict:
        prompt = {}
        for node in self.real:
            inputs = {}
            for name, spec in input_specs(self.info(node)):
                value = node.values.get(name)
                if isinstance(value, Output):
                    inputs[name] = [str(value.node.id), output_slot(self.info(value.node), value)]
                elif is_widget(spec):
                    inputs[name] = self._widget_value(node, name, spec)
            prompt[str(node.id)] = {"class_type": node.type, "inputs": inputs, "_meta": {"title": self.title(node)}}
        return prompt

    # UI format (workflow JSON 0.4) -----------------------------------------------------------

    def ui(self) -> dict:
        links = self.links()
        link_ids = {(target.id, name): index + 1 for index, (_, target, name, _) in enumerate(links)}
        inputs = {node.id: self._ui_inputs(node, link_ids) for node in self.real}
        outgoing: dict[tuple[int, int], list[int]] = {}
        for index, (source, target, name, _) in enumerate(links):
            outgoing.setdefault((source.node.id, output_slot(self.info(source.node), source)), []).append(index + 1)
        order = {node_id: position for position, node_id in enumerate(self._topological_order(links))}
        positions = self._layout(inputs)
        nodes = []
        for node in self.graph.nodes:
            if node.type in NOTE_TYPES:
                nodes.append(self._ui_note(node, positions[node.id], len(order)))
                continue
            info = self.info(node)
            entry = {
                "id": node.id, "type": node.type, "pos": positions[node.id][0], "size": positions[node.id][1],
                "flags": {}, "order": order[node.id], "mode": 0,
                "inputs": inputs[node.id],
                "outputs": [
                    {"name": name, "type": kind, "links": outgoing.get((node.id, slot), []), "slot_index": slot}
                    for slot, (name, kind) in enumerate(zip(info.get("output_name") or info["output"], info["output"]))
                ],
                "properties": {"Node name for S&R": node.type,
                               **({"models": [self._model_property(m) for m in node.models]} if node.models else {})},
                "widgets_values": self.widget_values(node),
            }
            if node.title:
                entry["title"] = node.title
            nodes.append(entry)
        ui_links = []
        for index, (source, target, name, kind) in enumerate(links):
            target_slot = next(i for i, slot in enumerate(inputs[target.id]) if slot["name"] == name)
            ui_links.append([index + 1, source.node.id, output_slot(self.info(source.node), source), target.id, target_slot, kind])
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"rewind/workflows/{self.graph.name}")),  # the frontend wants a UUID
            "revision": 0,
            "last_node_id": max(node.id for node in self.graph.nodes),
            "last_link_id": len(links),
            "nodes": nodes,
            "links": ui_links,
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": 0.6, "offset": [100, 220]}},
            "version": 0.4,
        }

    def _ui_inputs(self, node: Node, link_ids: dict) -> list[dict]:
        """Sockets first (in schema order), then widgets turned into inputs because they are linked."""
        sockets, linked_widgets = [], []
        for name, spec in input_specs(self.info(node)):
            link = link_ids.get((node.id, name))
            if not is_widget(spec):
                sockets.append({"name": name, "type": input_type(spec), "link": link})
            elif link is not None:
                linked_widgets.append({"name": name, "type": input_type(spec), "widget": {"name": name}, "link": link})
        return sockets + linked_widgets

    def _topological_order(self, links) -> list[int]:
        pending = {node.id: {source.node.id for source, target, _, _ in links if target is node} for node in self.real}
        order = []
        while pending:
            ready = sorted(node_id for node_id, sources in pending.items() if not sources - set(order))
            if not ready:
                raise ValueError(f"{self.graph.name}: the graph has a cycle")
            order += ready
            for node_id in ready:
                del pending[node_id]
        return order

    def _layout(self, inputs: dict) -> dict[int, tuple[list, list]]:
        """Columns left to right, nodes stacked in the order the family declares them."""
        heights: dict[int, int] = {}
        placed = {}
        for node in self.graph.nodes:
            if node.type in NOTE_TYPES:
                size = list(NOTE_SIZE)
            else:
                size = [NODE_WIDTH, self._height(node, inputs[node.id])]
            top = heights.get(node.column, 0)
            placed[node.id] = ([node.column * COLUMN_WIDTH, top], size)
            heights[node.column] = top + size[1] + ROW_GAP
        return placed

    def _height(self, node: Node, sockets: list) -> int:
        """Roughly what the frontend draws, so stacked nodes do not overlap (it only ever grows a node)."""
        info = self.info(node)
        height = TITLE_HEIGHT + SLOT_HEIGHT * max(len(sockets), len(info["output"])) + 10
        for name, spec in input_specs(info):
            if is_widget(spec):
                options = _options(spec)
                height += WIDGET_HEIGHT + (MULTILINE_HEIGHT if options.get("multiline") else 0)
                height += UPLOAD_PREVIEW_HEIGHT if any(key.endswith("_upload") and options[key] for key in options) else 0
        return height

    def _ui_note(self, node: Node, placement, order: int) -> dict:
        return {
            "id": node.id, "type": node.type, "pos": placement[0], "size": placement[1], "flags": {}, "order": order,
            "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": [node.values["text"]],
            "title": node.title, "color": "#432", "bgcolor": "#653",
        }

    @staticmethod
    def _model_property(model: Model) -> dict:
        return {"name": model.name, "url": model.url, "directory": model.directory}
