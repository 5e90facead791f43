"""Render a diagram as Mermaid flowchart text: deterministic, for Markdown and code review.

Mermaid has no octagon or house, so shapes differ from the Graphviz picture where they must;
colours are the same. Kinds map to Mermaid shapes as follows: start = circle, end = double
circle, step = rounded box, llm = stadium, tool = box, route = parallelogram, verify =
rhombus, budget = hexagon, approve = trapezoid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from railgraph._spec import EdgeKind
from railgraph.visualize._model import Change, Diagram, DiagramEdge, DiagramNode, Emphasis, Mode
from railgraph.visualize._style import (
    CHANGE_COLOUR,
    FADED,
    STOP_LOOK,
    TAKEN_COLOUR,
    LegendItem,
    edge_colour,
    legend,
    node_look,
)
from railgraph.visualize._text import times
from railgraph.vocab import NodeKind

__all__ = ["to_mermaid"]

_SHAPES: dict[NodeKind, tuple[str, str]] = {
    NodeKind.START: ("((", "))"),
    NodeKind.END: ("(((", ")))"),
    NodeKind.STEP: ("(", ")"),
    NodeKind.LLM: ("([", "])"),
    NodeKind.TOOL: ("[", "]"),
    NodeKind.ROUTE: ("[/", "/]"),
    NodeKind.VERIFY: ("{", "}"),
    NodeKind.BUDGET: ("{{", "}}"),
    NodeKind.APPROVE: ("[/", "\\]"),
    NodeKind.AGENT: ("[[", "]]"),
}
_RESERVED = {
    "end",
    "graph",
    "subgraph",
    "flowchart",
    "style",
    "class",
    "classdef",
    "click",
    "linkstyle",
    "direction",
    "default",
}
_FADED_EDGE = "#cfd8dc"
_SAME_DIFF = "#90a4ae"


def _text(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return safe.replace('"', "#quot;").replace("\n", "<br/>")


def _safe_id(node_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", node_id)
    if safe.lower() in _RESERVED or not (safe[:1].isalpha() or safe.startswith("_")):
        safe = f"n_{safe}"
    return safe


def _ids(diagram: Diagram) -> dict[str, str]:
    """Mermaid ids for the diagram's nodes: the node id made safe, unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for node in diagram.nodes:
        safe = base = _safe_id(node.id)
        n = 1
        while safe in used:
            n += 1
            safe = f"{base}_{n}"
        used.add(safe)
        out[node.id] = safe
    return out


@dataclass(frozen=True)
class _Paint:
    fill: str
    stroke: str
    text: str
    width: float
    dashed: bool

    def css(self) -> str:
        dash = ",stroke-dasharray:5 3" if self.dashed else ""
        return (
            f"fill:{self.fill},stroke:{self.stroke},color:{self.text},"
            f"stroke-width:{self.width:g}px{dash}"
        )


def _paint(node: DiagramNode, mode: Mode) -> tuple[str, _Paint]:
    """A class name that says what the node's look means, and the look."""
    look = node_look(node)
    name = "fail_terminal" if node.failure_terminal else node.kind.value
    if node.tier:
        name += f"_{node.tier}"
    paint = _Paint(look.fill, look.border, look.text, 1.5, False)
    if node.emphasis is Emphasis.FADED or (mode is Mode.DIFF and node.change is Change.SAME):
        name += "_faded"
        paint = _Paint(FADED.fill, FADED.border, FADED.text, 1, False)
        if node.kind in (NodeKind.START, NodeKind.END):
            paint = _Paint("#b0bec5", "#90a4ae", "#ffffff", 1, False)
    elif node.emphasis is Emphasis.TAKEN:
        name += "_taken"
        paint = _Paint(look.fill, look.border, look.text, 3, False)
    if node.stop is not None:
        name = f"stop_{node.stop.value}"
        border, fill, _ = STOP_LOOK[node.stop]
        paint = _Paint(fill, border, "#212121", 4, False)
    if node.change in CHANGE_COLOUR:
        name = f"{node.change.value}"
        border, fill = CHANGE_COLOUR[node.change]
        paint = _Paint(fill, border, "#212121", 3, node.change is Change.REMOVED)
    return name, paint


def _label(node: DiagramNode) -> str:
    if node.kind in (NodeKind.START, NodeKind.END):
        return _text(node.title)
    lines = [f"<b>{_text(node.title)}</b>"]
    lines += [f"<small>{_text(d)}</small>" for d in node.details]
    if node.stop is not None:
        lines.append(f"<b>{_text(STOP_LOOK[node.stop][2])}</b>")
    lines += [f"<i>{_text(n)}</i>" for n in node.notes]
    # An agent's tools: Mermaid cannot colour part of a node, so tier and policy are words.
    for chip in node.tools:
        said = "".join(f" · {n}" for n in chip.notes)
        policy = chip.rule or chip.policy
        lines.append(f"<small>⚙ {_text(chip.name)}: {chip.tier}, {_text(policy + said)}</small>")
    return "<br/>".join(lines)


def _edge_text(edge: DiagramEdge, mode: Mode) -> str:
    parts = [p for p in (edge.label, edge.note) if p]
    if mode is Mode.RUN and edge.steps:
        steps = edge.steps
        parts.append(" ".join(f"#{s}" for s in steps) if len(steps) <= 3 else times(len(steps)))
    elif mode is Mode.TRAFFIC and edge.count:
        parts.append(times(edge.count))
    elif mode is Mode.DIFF and edge.change is not Change.SAME:
        parts.append(edge.change.value)
    return " · ".join(parts)


def _edge_style(edge: DiagramEdge, mode: Mode) -> tuple[str, str]:
    """The arrow and the ``linkStyle`` CSS of an edge."""
    colour, width = edge_colour(edge), 1.5
    arrow = "-.->" if edge.kind is EdgeKind.CONDITIONAL else "-->"
    if edge.emphasis is Emphasis.FADED:
        colour, width = _FADED_EDGE, 1
    elif edge.emphasis is Emphasis.TAKEN:
        arrow, colour = "==>", TAKEN_COLOUR
        width = 3 if mode is Mode.RUN else round(1.5 + 6 * edge.weight, 1)
    dash = ""
    if mode is Mode.DIFF:
        colour = _SAME_DIFF
        if edge.change in CHANGE_COLOUR:
            colour, width = CHANGE_COLOUR[edge.change][0], 2.5
            arrow = "-.->" if edge.change is Change.REMOVED else "==>"
            dash = ",stroke-dasharray:6 4" if edge.change is Change.REMOVED else ""
    return arrow, f"stroke:{colour},stroke-width:{width:g}px,color:{colour}{dash}"


class _Writer:
    def __init__(self, mode: Mode, ids: dict[str, str]) -> None:
        self.mode = mode
        self.ids = ids
        self.lines: list[str] = []
        self.classes: dict[str, _Paint] = {}
        self.members: dict[str, list[str]] = {}
        self.links: list[str] = []

    def node(self, node: DiagramNode, label: str | None = None, indent: str = "    ") -> None:
        opening, closing = _SHAPES[node.kind]
        text = _label(node) if label is None else _text(label)
        mid = self.ids.get(node.id) or _safe_id(node.id)
        self.lines.append(f'{indent}{mid}{opening}"{text}"{closing}')
        name, paint = _paint(node, self.mode)
        self.classes.setdefault(name, paint)
        self.members.setdefault(name, []).append(mid)

    def edge(self, edge: DiagramEdge, indent: str = "    ") -> None:
        arrow, css = _edge_style(edge, self.mode)
        text = _edge_text(edge, self.mode)
        label = f'|"{_text(text)}"|' if text else ""
        source = self.ids.get(edge.source) or _safe_id(edge.source)
        target = self.ids.get(edge.target) or _safe_id(edge.target)
        self.lines.append(f"{indent}{source} {arrow}{label} {target}")
        self.links.append(css)

    def legend(self, items: tuple[LegendItem, ...]) -> None:
        self.lines.append('    subgraph legend["Legend"]')
        for item in items:
            key = f"legend_{item.key}"
            if item.node is not None:
                self.node(item.node, label=item.text, indent="        ")
                continue
            if item.sample is not None:
                text = f"<i>{_text(item.sample)}</i><br/>{_text(item.text)}"
                self.lines.append(f'        {key}["{text}"]')
                self.members.setdefault("legend_text", []).append(key)
                continue
            assert item.edge is not None
            self.lines.append(f'        {key}_from[" "]')
            self.lines.append(f'        {key}_to["{_text(item.text)}"]')
            self.members.setdefault("legend_text", []).extend([f"{key}_from", f"{key}_to"])
            self.edge(
                replace(item.edge, source=f"{key}_from", target=f"{key}_to"), indent="        "
            )
        self.lines.append("    end")
        self.classes["legend_text"] = _Paint("#ffffff", "#ffffff", "#212121", 0, False)


def to_mermaid(diagram: Diagram, *, with_legend: bool = True) -> str:
    """The diagram as a Mermaid flowchart; the same diagram always gives identical text.

    Args:
        diagram: What to draw.
        with_legend: Add a legend subgraph of the kinds, tiers, outcomes and overlays shown.
    """
    out = _Writer(diagram.mode, _ids(diagram))
    for node in diagram.nodes:
        out.node(node)
    for edge in diagram.edges:
        out.edge(edge)
    if with_legend:
        out.legend(legend(diagram))
    title = json.dumps(diagram.title, ensure_ascii=False)
    header = ["---", f"title: {title}", "---", "flowchart TD"]
    header += [f"    %% {line}" for line in diagram.subtitle]
    # Class names get a prefix: Mermaid reads a bare `end` as the end of a subgraph.
    styles = [
        f"    classDef rg_{name} {paint.css()}" for name, paint in sorted(out.classes.items())
    ]
    styles += [f"    class {','.join(ids)} rg_{name}" for name, ids in sorted(out.members.items())]
    groups: dict[str, list[int]] = {}
    for index, css in enumerate(out.links):
        groups.setdefault(css, []).append(index)
    styles += [f"    linkStyle {','.join(map(str, i))} {css}" for css, i in groups.items()]
    return "\n".join(header + out.lines + styles) + "\n"
