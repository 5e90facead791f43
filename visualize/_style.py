"""The fixed look of every node kind, tool tier, gate outcome and overlay, and the legend.

Both renderers read these tables, so a DOT picture and a Mermaid one use the same colours.
Colours are chosen for contrast on white: a pale fill with a dark border and dark text of the
same hue; faded parts keep dark-enough grey text to stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from railgraph._spec import EdgeKind
from railgraph.visualize._model import (
    Change,
    Diagram,
    DiagramEdge,
    DiagramNode,
    Emphasis,
    Mode,
    StopStatus,
)
from railgraph.vocab import GateOutcome, NodeKind

__all__ = [
    "CHANGE_COLOUR",
    "FADED",
    "KIND_LOOK",
    "LegendItem",
    "Look",
    "STOP_LOOK",
    "TAKEN_COLOUR",
    "TIER_LOOK",
    "edge_colour",
    "legend",
    "node_look",
    "outcome_tone",
]


@dataclass(frozen=True)
class Look:
    """How a node is filled and outlined."""

    shape: str
    """Graphviz shape (Mermaid maps kinds to its own shapes)."""
    fill: str
    """Fill colour."""
    border: str
    """Outline colour."""
    text: str = "#212121"
    """Label colour."""
    rounded: bool = False
    """Rounded corners (boxes only)."""


KIND_LOOK: dict[NodeKind, Look] = {
    NodeKind.START: Look("circle", "#37474f", "#263238", "#ffffff"),
    NodeKind.END: Look("doublecircle", "#37474f", "#263238", "#ffffff"),
    NodeKind.STEP: Look("box", "#eceff1", "#546e7a", rounded=True),
    NodeKind.LLM: Look("ellipse", "#ede7f6", "#5e35b1"),
    NodeKind.TOOL: Look("box", "#e8f5e9", "#2e7d32"),
    NodeKind.ROUTE: Look("parallelogram", "#e3f2fd", "#1565c0"),
    NodeKind.VERIFY: Look("diamond", "#e0f7fa", "#00838f"),
    NodeKind.BUDGET: Look("octagon", "#fff8e1", "#8d6e00"),
    NodeKind.APPROVE: Look("house", "#fce4ec", "#ad1457"),
    NodeKind.AGENT: Look("component", "#e8eaf6", "#283593"),
}
"""Shape and colours of each node kind (a tool's colours come from its tier)."""

FAIL_LOOK = Look("doublecircle", "#c62828", "#8e0000", "#ffffff")
"""The ``__fail__`` terminal."""

TIER_LOOK: dict[str, Look] = {
    "read": Look("box", "#e8f5e9", "#2e7d32"),
    "write": Look("box", "#fff9c4", "#9e7c00"),
    "external": Look("box", "#ffe0b2", "#e65100"),
    "irreversible": Look("box", "#ffcdd2", "#b71c1c"),
}
"""A tool's colours by risk tier, from harmless (green) to impossible to undo (red)."""

STOP_LOOK: dict[StopStatus, tuple[str, str, str]] = {
    StopStatus.FAILED: ("#c62828", "#ffebee", "FAILED"),
    StopStatus.REJECTED: ("#ad1457", "#fce4ec", "REJECTED"),
    StopStatus.BUDGET_EXHAUSTED: ("#e65100", "#fff3e0", "OUT OF BUDGET"),
    StopStatus.PAUSED: ("#6a1b9a", "#f3e5f5", "PAUSED"),
    StopStatus.CANCELLED: ("#424242", "#eeeeee", "CANCELLED"),
}
"""For each way a run stops at a node: border colour, fill and the word shown."""

TAKEN_COLOUR = "#0d47a1"
"""Edges and outlines of what a run took (deep blue)."""

FADED = Look("box", "#fafafa", "#bdbdbd", "#8a8a8a")
"""Untaken parts of a run, and unchanged parts of a diff: pale but readable."""

CHANGE_COLOUR: dict[Change, tuple[str, str]] = {
    Change.ADDED: ("#2e7d32", "#e8f5e9"),
    Change.REMOVED: ("#c62828", "#ffebee"),
    Change.CHANGED: ("#ef6c00", "#fff3e0"),
}
"""Border and fill of what a diff added, removed or changed."""

_TONE: dict[str, str] = {
    GateOutcome.PASS: "good",
    GateOutcome.WITHIN: "good",
    GateOutcome.APPROVED: "good",
    GateOutcome.RETRY: "warn",
    GateOutcome.FAIL: "bad",
    GateOutcome.EXCEEDED: "bad",
    GateOutcome.REJECTED: "bad",
    GateOutcome.EXPIRED: "bad",
}
_TONE_COLOUR = {"good": "#2e7d32", "warn": "#ef6c00", "bad": "#c62828"}
_ROUTE_COLOUR = "#1565c0"
_NORMAL_COLOUR = "#455a64"


def outcome_tone(label: str | None) -> str | None:
    """``good``, ``warn`` or ``bad`` for a gate outcome, else ``None``."""
    return _TONE.get(label or "")


def node_look(node: DiagramNode) -> Look:
    """The node's look as designed, before any overlay."""
    if node.failure_terminal:
        return FAIL_LOOK
    if node.kind is NodeKind.TOOL and node.tier in TIER_LOOK:
        return TIER_LOOK[node.tier]
    return KIND_LOOK[node.kind]


def edge_colour(edge: DiagramEdge) -> str:
    """The edge's colour as designed: gate outcomes by tone, routes blue, others slate."""
    if edge.kind is EdgeKind.GATE:
        tone = outcome_tone(edge.label)
        return _TONE_COLOUR[tone] if tone else _NORMAL_COLOUR
    if edge.kind is EdgeKind.CONDITIONAL:
        return _ROUTE_COLOUR
    return _NORMAL_COLOUR


@dataclass(frozen=True)
class LegendItem:
    """One entry of a legend: a sample node or edge and what it means."""

    key: str
    """Stable id of the entry, used in DOT and Mermaid ids."""
    text: str
    """What the sample means (a newline breaks the line)."""
    node: DiagramNode | None = None
    """A sample node drawn as a real one would be."""
    edge: DiagramEdge | None = None
    """A sample edge drawn as a real one would be."""
    sample: str | None = None
    """A sample note line, as overlays write them under a node's title."""


_KIND_TEXT = {
    NodeKind.STEP: "step",
    NodeKind.LLM: "llm call",
    NodeKind.ROUTE: "route",
    NodeKind.VERIFY: "verify gate",
    NodeKind.BUDGET: "budget gate",
    NodeKind.APPROVE: "approve gate",
    NodeKind.AGENT: "agent loop",
}


def _node(key: str, kind: NodeKind, text: str, **changes: Any) -> LegendItem:
    node = replace(DiagramNode(id=f"legend_{key}", kind=kind, title=text), **changes)
    return LegendItem(key=key, text=text, node=node)


def _edge(key: str, kind: EdgeKind, label: str | None, text: str, **changes: Any) -> LegendItem:
    edge = replace(DiagramEdge(source="", target="", kind=kind, label=label), **changes)
    return LegendItem(key=key, text=text, edge=edge)


def legend(diagram: Diagram) -> tuple[LegendItem, ...]:
    """The legend entries for what ``diagram`` actually shows, in a fixed order."""
    kinds = {n.kind for n in diagram.nodes}
    tiers = {n.tier for n in diagram.nodes if n.kind is NodeKind.TOOL}
    tiers |= {chip.tier for n in diagram.nodes for chip in n.tools}
    items: list[LegendItem] = []
    for kind, text in _KIND_TEXT.items():
        if kind in kinds:
            items.append(_node(kind.value, kind, text))
    for tier in TIER_LOOK:
        # A diff draws unchanged tools pale, so tier colours would explain nothing there.
        if tier in tiers and diagram.mode is not Mode.DIFF:
            items.append(_node(f"tool_{tier}", NodeKind.TOOL, f"tool: {tier}", tier=tier))
    tones = {outcome_tone(e.label) for e in diagram.edges if e.kind is EdgeKind.GATE}
    if "good" in tones:
        items.append(_edge("good", EdgeKind.GATE, GateOutcome.PASS.value, "gate: go on"))
    if "warn" in tones:
        items.append(_edge("warn", EdgeKind.GATE, GateOutcome.RETRY.value, "gate: retry"))
    if "bad" in tones:
        items.append(_edge("bad", EdgeKind.GATE, GateOutcome.FAIL.value, "gate: stop or escalate"))
    if any(e.kind is EdgeKind.CONDITIONAL for e in diagram.edges):
        items.append(_edge("route", EdgeKind.CONDITIONAL, "label", "route choice"))
    items.extend(_overlay_items(diagram))
    return tuple(items)


def _overlay_items(diagram: Diagram) -> list[LegendItem]:
    taken, faded = Emphasis.TAKEN, Emphasis.FADED
    plain = EdgeKind.NORMAL
    items: list[LegendItem] = []
    if diagram.mode is Mode.RUN:
        items.append(_edge("taken", plain, None, "taken, hop #", emphasis=taken, steps=(1,)))
        items.append(_edge("untaken", plain, None, "not taken", emphasis=faded))
        items.append(
            LegendItem(
                "notes", "visits · time in the node · cost", sample="2 visits · 1.25 s · $0.01"
            )
        )
        stops = {n.stop for n in diagram.nodes if n.stop is not None}
        for stop in StopStatus:
            if stop in stops:
                word = STOP_LOOK[stop][2].lower()
                sample = _node(f"stop_{stop.value}", NodeKind.STEP, word, stop=stop)
                items.append(sample)
    elif diagram.mode is Mode.TRAFFIC:
        width = "width: how often taken"
        items.append(_edge("busy", plain, None, width, emphasis=taken, count=2, weight=1.0))
        items.append(_edge("untaken", plain, None, "taken by no run", emphasis=faded))
        items.append(
            LegendItem(
                "runs", "runs through the node · its visits", sample="8 of 20 runs · 9 visits"
            )
        )
        items.append(
            LegendItem(
                "escalations",
                "runs that reached this approve gate\nor failed this verify gate",
                sample="escalated: 5 of 20 runs (25%)",
            )
        )
    elif diagram.mode is Mode.DIFF:
        for change in (Change.ADDED, Change.REMOVED, Change.CHANGED):
            text = f"node {change.value}"
            items.append(_node(f"node_{change.value}", NodeKind.STEP, text, change=change))
        for change in (Change.ADDED, Change.REMOVED):
            text = f"edge {change.value}"
            items.append(_edge(f"edge_{change.value}", plain, None, text, change=change))
    return items
