"""The example workflows open readable: one titled group per stage around exactly its nodes, groups
apart, the Note alone at the left, and the opening view showing the whole height of the graph."""
from __future__ import annotations

import json

import pytest

from rewind.example_workflows.source import RECIPES, WORKFLOWS_DIR
from rewind.example_workflows.source.recipes import STAGES
from rewind.example_workflows.source.graph import NOTE_TYPES, TITLE_HEIGHT, VIEWPORT_HEIGHT

NAMES = sorted(RECIPES)


def box(node: dict) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 with the title bar the frontend draws above ``pos``."""
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - TITLE_HEIGHT, x + w, y + h


def inside(inner, outer) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def apart(a, b) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_is_a_titled_group_around_exactly_its_nodes(name):
    ui = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text())
    groups = {g["title"]: (g["bounding"][0], g["bounding"][1], g["bounding"][0] + g["bounding"][2],
                           g["bounding"][1] + g["bounding"][3]) for g in ui["groups"]}
    assert list(groups) == [title for title in STAGES if any(n["type"] in STAGES[title] for n in ui["nodes"])]
    for node in ui["nodes"]:
        holding = [title for title, bounds in groups.items() if not apart(box(node), bounds)]
        if node["type"] in NOTE_TYPES:
            assert holding == [], f"the Note overlaps {holding}"
        else:
            (title,) = holding
            assert node["type"] in STAGES[title] and inside(box(node), groups[title]), (node["type"], title)
    bounds = list(groups.values())
    assert all(apart(a, b) for i, a in enumerate(bounds) for b in bounds[i + 1:])


@pytest.mark.parametrize("name", NAMES)
def test_the_workflow_opens_showing_its_whole_height_at_a_readable_zoom(name):
    ui = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text())
    view = ui["extra"]["ds"]
    tops = [g["bounding"][1] for g in ui["groups"]]
    bottoms = [g["bounding"][1] + g["bounding"][3] for g in ui["groups"]]
    on_screen = lambda y: (y + view["offset"][1]) * view["scale"]  # noqa: E731 (litegraph's transform)
    assert on_screen(min(tops)) >= 0 and on_screen(max(bottoms)) <= VIEWPORT_HEIGHT + 100
    assert view["scale"] >= 0.6  # zoomed out to 0.41, Nodes 2.0 drew the nodes as blank placeholders
