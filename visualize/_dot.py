"""Render a diagram as Graphviz DOT text: deterministic, so it can be snapshot-tested.

Every node and edge gets an ``id`` and ``class`` attributes (``rg-taken``, ``rg-faded``,
``rg-stop-paused``, ``rg-added``, …) that Graphviz copies into SVG, so a rendered picture can
be styled or checked by what each part means.
"""

from __future__ import annotations

import itertools
import re
from html import escape

import graphviz

from railgraph._spec import EdgeKind
from railgraph.visualize._model import Change, Diagram, DiagramEdge, DiagramNode, Emphasis, Mode
from railgraph.visualize._style import (
    CHANGE_COLOUR,
    FADED,
    STOP_LOOK,
    TAKEN_COLOUR,
    TIER_LOOK,
    LegendItem,
    edge_colour,
    legend,
    node_look,
    outcome_tone,
)
from railgraph.visualize._text import times
from railgraph.vocab import NodeKind

__all__ = ["to_dot"]

_FONT = "Helvetica"
_DETAIL_COLOUR = "#455a64"
_FADED_EDGE = "#cfd8dc"
_FADED_LABEL = "#90a4ae"
_SAME_DIFF = "#90a4ae"


def _h(text: str) -> str:
    return escape(text, quote=True).replace("\n", "<br/>")


def _css_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _classes(*names: str | None) -> str:
    return " ".join(n for n in names if n)


def _node_label(node: DiagramNode, detail_colour: str, note_colour: str) -> str:
    if node.kind in (NodeKind.START, NodeKind.END):
        return f"<<b>{_h(node.title)}</b>>"
    parts = [f"<b>{_h(node.title)}</b>"]
    parts += [f'<font point-size="10" color="{detail_colour}">{_h(d)}</font>' for d in node.details]
    if node.stop is not None:
        colour, _, word = STOP_LOOK[node.stop]
        parts.append(f'<font point-size="11" color="{colour}"><b>{_h(word)}</b></font>')
    parts += [
        f'<font point-size="10" color="{note_colour}"><b>{_h(n)}</b></font>' for n in node.notes
    ]
    if node.tools:
        # An HTML label is text or one table: the text goes in the table's first row.
        text = "<br/>".join(parts)
        return (
            '<<table border="0" cellborder="0" cellspacing="0">'
            f"<tr><td>{text}</td></tr><tr><td>{_chips(node)}</td></tr></table>>"
        )
    return "<" + "<br/>".join(parts) + ">"


_POLICY_MARK = {"auto": "auto", "approve": "needs approval", "block": "⊘ blocked"}


def _chips(node: DiagramNode) -> str:
    """An agent's tools as a grid of cells coloured by tier, three a row."""
    cells = []
    for chip in node.tools:
        look = TIER_LOOK.get(chip.tier, TIER_LOOK["read"])
        fill, border = look.fill, look.border
        if chip.emphasis is Emphasis.FADED:
            fill, border = FADED.fill, FADED.border
        policy = _POLICY_MARK.get(chip.policy, chip.rule or f"rule: {chip.policy}")
        lines = [
            f"<b>{_h(chip.name)}</b>",
            f'<font point-size="9">{_h(chip.tier)} · {_h(policy)}</font>',
        ]
        lines += [
            f'<font point-size="9" color="{TAKEN_COLOUR}"><b>{_h(n)}</b></font>' for n in chip.notes
        ]
        cells.append(f'<td bgcolor="{fill}" color="{border}">{"<br/>".join(lines)}</td>')
    rows = ["<tr>" + "".join(cells[i : i + 3]) + "</tr>" for i in range(0, len(cells), 3)]
    return (
        '<table border="0" cellborder="1" cellspacing="3" cellpadding="3">'
        + "".join(rows)
        + "</table>"
    )


def _node_attrs(node: DiagramNode, mode: Mode) -> dict[str, str]:
    look = node_look(node)
    fill, border, text, penwidth = look.fill, look.border, look.text, 1.4
    detail, note = _DETAIL_COLOUR, TAKEN_COLOUR
    style = ["rounded"] if look.rounded else []
    if node.kind in (NodeKind.START, NodeKind.END):
        detail = text
    if node.emphasis is Emphasis.FADED or (mode is Mode.DIFF and node.change is Change.SAME):
        if node.kind in (NodeKind.START, NodeKind.END):
            fill, border, text = "#b0bec5", "#90a4ae", "#ffffff"
        else:
            fill, border, text, detail = FADED.fill, FADED.border, FADED.text, FADED.text
    elif node.emphasis is Emphasis.TAKEN:
        penwidth = 2.6
    if node.stop is not None:
        border, fill, _ = STOP_LOOK[node.stop]
        text, note, penwidth = "#212121", border, 4.0
        style.append("bold")
    if node.change in CHANGE_COLOUR:
        border, fill = CHANGE_COLOUR[node.change]
        text, detail, note, penwidth = "#212121", _DETAIL_COLOUR, border, 3.0
        if node.change is Change.REMOVED:
            style.append("dashed")
    style.append("filled")
    attrs = {
        "id": f"node-{_css_id(node.id)}",
        "class": _classes(
            "rg-node",
            f"rg-kind-{node.kind.value}",
            f"rg-tier-{node.tier}" if node.tier else None,
            f"rg-{node.emphasis.value}" if node.emphasis is not Emphasis.NORMAL else None,
            f"rg-stop-{node.stop.value}" if node.stop else None,
            f"rg-{node.change.value}" if node.change is not Change.SAME else None,
        ),
        "label": _node_label(node, detail, note),
        "shape": look.shape,
        "style": ",".join(style),
        "fillcolor": fill,
        "color": border,
        "fontcolor": text,
        "penwidth": f"{penwidth:g}",
    }
    if node.kind in (NodeKind.START, NodeKind.END):
        attrs.update(fontsize="10", width="0.55", fixedsize="true")
    return attrs


def _badge(text: str, colour: str) -> str:
    return (
        f'<td bgcolor="{colour}"><font color="#ffffff" point-size="10">'
        f"<b>&nbsp;{_h(text)}&nbsp;</b></font></td>"
    )


def _steps_text(edge: DiagramEdge) -> str:
    if len(edge.steps) <= 3:
        return " ".join(f"#{s}" for s in edge.steps)
    return f"{times(len(edge.steps))}  #{edge.steps[0]}…#{edge.steps[-1]}"


def _edge_label(edge: DiagramEdge, colour: str, mode: Mode) -> str | None:
    cells: list[str] = []
    if edge.label:
        cells.append(f'<td><font color="{colour}">{_h(edge.label)}</font></td>')
    if edge.note:
        cells.append(f'<td><font color="{colour}" point-size="9">{_h(edge.note)}</font></td>')
    if mode is Mode.RUN and edge.steps:
        cells.append(_badge(_steps_text(edge), TAKEN_COLOUR))
    elif mode is Mode.TRAFFIC and edge.count:
        cells.append(_badge(times(edge.count), TAKEN_COLOUR))
    elif mode is Mode.DIFF and edge.change is not Change.SAME:
        cells.append(_badge(edge.change.value, CHANGE_COLOUR[edge.change][0]))
    if not cells:
        return None
    return (
        '<<table border="0" cellborder="0" cellspacing="2" cellpadding="1" bgcolor="#ffffff">'
        f"<tr>{''.join(cells)}</tr></table>>"
    )


def _edge_attrs(edge: DiagramEdge, mode: Mode, index: int) -> dict[str, str]:
    colour = edge_colour(edge)
    label_colour, penwidth = colour, 1.4
    style = "dashed" if edge.kind is EdgeKind.CONDITIONAL else "solid"
    if edge.emphasis is Emphasis.FADED:
        colour, label_colour = _FADED_EDGE, _FADED_LABEL
    elif edge.emphasis is Emphasis.TAKEN:
        colour = TAKEN_COLOUR
        penwidth = 3.0 if mode is Mode.RUN else 1.5 + 6.0 * edge.weight
        style = "solid"
    if mode is Mode.DIFF:
        if edge.change in CHANGE_COLOUR:
            colour = label_colour = CHANGE_COLOUR[edge.change][0]
            penwidth = 2.6
            style = "dashed" if edge.change is Change.REMOVED else "solid"
        else:
            colour = _SAME_DIFF
    tone = outcome_tone(edge.label) if edge.kind is EdgeKind.GATE else None
    attrs = {
        "id": f"edge-{index}-{_css_id(edge.source)}-{_css_id(edge.target)}",
        "class": _classes(
            "rg-edge",
            f"rg-edge-{edge.kind.value}",
            f"rg-outcome-{tone}" if tone else None,
            f"rg-{edge.emphasis.value}" if edge.emphasis is not Emphasis.NORMAL else None,
            f"rg-{edge.change.value}" if edge.change is not Change.SAME else None,
        ),
        "color": colour,
        "style": style,
        "penwidth": f"{penwidth:g}",
    }
    label = _edge_label(edge, label_colour, mode)
    if label is not None:
        attrs["label"] = label
    return attrs


def _title(diagram: Diagram) -> str:
    lines = [f'<font point-size="18"><b>{_h(diagram.title)}</b></font>']
    lines += [f'<font point-size="12" color="#37474f">{_h(s)}</font>' for s in diagram.subtitle]
    return "<" + '<br align="left"/>'.join(lines) + '<br align="left"/>>'


def _legend_item(box: graphviz.Digraph, item: LegendItem, mode: Mode) -> tuple[str, str]:
    """Add one legend entry to ``box``; return its first and last node."""
    key = f"legend_{item.key}"
    if item.node is not None:
        attrs = _node_attrs(item.node, mode)
        attrs.update(id=key, fontsize="10", label=f"<{_h(item.text)}>", **{"class": "rg-legend"})
        if item.node.kind in (NodeKind.VERIFY, NodeKind.BUDGET, NodeKind.APPROVE):
            attrs.update(height="0.45")
        box.node(key, **attrs)
        return key, key
    if item.sample is not None:
        label = (
            f'<<font color="{TAKEN_COLOUR}"><b>{_h(item.sample)}</b></font><br/>{_h(item.text)}>'
        )
        box.node(key, label=label, shape="plaintext", fontsize="10", **{"class": "rg-legend"})
        return key, key
    assert item.edge is not None
    attrs = _edge_attrs(item.edge, mode, 0)
    attrs.update(id=key, **{"class": "rg-legend"})
    box.node(f"{key}_from", label="", shape="point", width="0.05", color="#ffffff")
    box.node(f"{key}_to", label=f"<{_h(item.text)}>", shape="plaintext", fontsize="10")
    box.edge(f"{key}_from", f"{key}_to", **attrs)
    return f"{key}_from", f"{key}_to"


def _legend(graph: graphviz.Digraph, diagram: Diagram, items: tuple[LegendItem, ...]) -> None:
    """A boxed legend, two entries a row, beside the graph."""
    with graph.subgraph(name="cluster_legend") as box:
        box.attr(
            label="<<b>Legend</b>>",
            style="rounded",
            color="#b0bec5",
            fontsize="12",
            margin="10",
            labeljust="l",
        )
        previous: str | None = None
        for start in range(0, len(items), 2):
            with box.subgraph(name=f"legend_row{start // 2 + 1}") as row:
                row.attr(rank="same")
                ends = [_legend_item(row, item, diagram.mode) for item in items[start : start + 2]]
                # Keeps the row's entries in the legend's order, left to right.
                for (_, left), (right, _) in itertools.pairwise(ends):
                    row.edge(left, right, style="invis")
            if previous is not None:
                box.edge(previous, ends[0][0], style="invis")
            previous = ends[0][0]


def to_dot(diagram: Diagram, *, with_legend: bool = True) -> str:
    """The diagram as DOT text; the same diagram always gives byte-identical text.

    Args:
        diagram: What to draw.
        with_legend: Add a legend of the kinds, tiers, outcomes and overlays it shows.
    """
    graph = graphviz.Digraph(name=_css_id(diagram.name))
    graph.attr(
        "graph",
        label=_title(diagram),
        labelloc="t",
        labeljust="l",
        fontname=_FONT,
        rankdir="TB",
        nodesep="0.35",
        ranksep="0.45",
        pad="0.3",
        bgcolor="#ffffff",
    )
    graph.attr("node", fontname=_FONT, fontsize="12", margin="0.12,0.06")
    graph.attr("edge", fontname=_FONT, fontsize="10", arrowsize="0.8")
    for node in diagram.nodes:
        graph.node(node.id, **_node_attrs(node, diagram.mode))
    for index, edge in enumerate(diagram.edges, start=1):
        graph.edge(edge.source, edge.target, **_edge_attrs(edge, diagram.mode, index))
    if with_legend:
        _legend(graph, diagram, legend(diagram))
    text: str = graph.source
    return text
