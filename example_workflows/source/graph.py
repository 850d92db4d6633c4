"""A workflow written once in Python, rendered to both ComfyUI formats.

Nodes name their inputs by keyword (a plain value sets a widget, ``other["OUTPUT"]`` links an
output), so a recipe reads like the pipeline it is. ``/object_info`` supplies what a file needs
beyond that: widget order and defaults, socket order and types, display names. Both formats are
rendered from the same graph, so they cannot diverge.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
NOTE_TYPES = {"Note", "MarkdownNote"}
COLUMN_WIDTH, NODE_WIDTH, ROW_GAP = 420, 360, 80  # the gap also absorbs renderers drawing a node taller
TITLE_HEIGHT, SLOT_HEIGHT, WIDGET_HEIGHT = 30, 22, 24
MULTILINE_HEIGHT, UPLOAD_PREVIEW_HEIGHT = 90, 320  # a text box; a file upload's button and media preview
# The Note stands alone in the first column: Nodes 2.0 grows a note to fit its text, so nothing sits below it.
NOTE_SIZE = (400, 900)
# The frontend's "black" node colours: its text styles (grey body text, coloured inline code in Nodes 2.0)
# are unreadable on the default brown of a Note.
NOTE_COLORS = {"color": "#222", "bgcolor": "#000"}
GROUP_PADDING, GROUP_TITLE_HEIGHT, GROUP_GAP = 20, 40, 80  # around a stage's nodes; between stages
GROUP_COLOR = "#3f789e"  # the frontend's default group colour
MAX_COLUMN_HEIGHT = 800  # a taller column continues beside itself, so the graph opens readable
VIEWPORT_HEIGHT = 820  # the canvas of a 1600x1000 window, less the menus; the graph opens fitted to it
SCREEN_MARGIN = 80  # left of the graph: clear of the sidebar


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
    """``stages``: the titled groups the workflow is laid out in, left to right, each with the node types
    it holds; a node's ``column`` orders it within its stage (equal columns stack)."""

    name: str
    stages: dict[str, set[str]]
    nodes: list[Node] = field(default_factory=list)

    def node(self, type_: str, column: int, *, title: str | None = None, models=(), **values) -> Node:
        node = Node(len(self.nodes) + 1, type_, column, values, title, tuple(models))
        self.nodes.append(node)
        return node

    def note(self, text: str) -> Node:
        return self.node("MarkdownNote", 0, title="Models and settings", text=text)


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
        positions, groups = self._layout(inputs)
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
            "groups": groups,
            "config": {},
            "extra": {"ds": self._fitted_view(groups)},
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

    def stage(self, node: Node) -> str:
        found = [name for name, types in self.graph.stages.items() if node.type in types]
        if len(found) != 1:
            raise KeyError(f"{self.graph.name}: node type {node.type} must be in exactly one stage; add it to STAGES")
        return found[0]

    def _layout(self, inputs: dict) -> tuple[dict[int, tuple[list, list]], list[dict]]:
        """The Note in the first column, then one titled group per stage, left to right; inside a group
        the nodes' columns (in order) become sub-columns, nodes stack in declaration order, and a column
        taller than MAX_COLUMN_HEIGHT continues beside itself."""
        placed = {node.id: ([0, 0], list(NOTE_SIZE)) for node in self.graph.nodes if node.type in NOTE_TYPES}
        left = NOTE_SIZE[0] + GROUP_GAP if placed else 0
        groups = []
        for title in self.graph.stages:
            members = [node for node in self.real if self.stage(node) == title]
            if not members:
                continue
            heights, sub = {}, -1
            for column in sorted({node.column for node in members}):
                sub, top = sub + 1, 0
                for node in (node for node in members if node.column == column):
                    size = [NODE_WIDTH, self._height(node, inputs[node.id])]
                    if top and top + size[1] > MAX_COLUMN_HEIGHT:
                        sub, top = sub + 1, 0
                    placed[node.id] = ([left + GROUP_PADDING + sub * COLUMN_WIDTH, top], size)
                    top = heights[sub] = top + size[1] + ROW_GAP
            width = sub * COLUMN_WIDTH + NODE_WIDTH + 2 * GROUP_PADDING
            height = max(heights.values()) - ROW_GAP + GROUP_PADDING
            top = -TITLE_HEIGHT - GROUP_TITLE_HEIGHT
            groups.append({"id": len(groups) + 1, "title": title, "bounding": [left, top, width, height - top],
                           "color": GROUP_COLOR, "font_size": 24, "flags": {}})
            left += width + GROUP_GAP
        return placed, groups

    @staticmethod
    def _fitted_view(groups: list[dict]) -> dict:
        """The view a workflow opens in: its full height, from the left edge, never zoomed in; wider
        graphs pan right (fitting the width too would shrink nodes below what the renderers draw in detail)."""
        top = min(g["bounding"][1] for g in groups)
        bottom = max(g["bounding"][1] + g["bounding"][3] for g in groups)
        scale = min(1.0, int(VIEWPORT_HEIGHT / (bottom - top) * 20) / 20)
        return {"scale": scale, "offset": [round(SCREEN_MARGIN / scale), round(SCREEN_MARGIN / scale - top)]}

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
            "title": node.title, **NOTE_COLORS,
        }

    @staticmethod
    def _model_property(model: Model) -> dict:
        return {"name": model.name, "url": model.url, "directory": model.directory}
