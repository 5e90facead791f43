"""Two versions of a graph in one diagram: what was added, removed or changed.

A node is the same node in both versions when its id is; it *changed* when its kind or its
metadata (a tool's tier or policy, a gate's checks, a budget's envelope, …) differ. An edge is
identified by its source, target and label; it changed when its kind did.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from railgraph._spec import EdgeSpec, GraphSpec, NodeSpec, node_changes
from railgraph.visualize._design import design_diagram, diagram_node
from railgraph.visualize._model import Change, Diagram, DiagramEdge, DiagramNode, Mode
from railgraph.visualize._text import clip

__all__ = ["diff_diagram"]


def _short(value: Any) -> str:
    return clip(str(value), 18)


def _changes(old: NodeSpec, new: NodeSpec) -> tuple[str, ...]:
    return tuple(
        f"{field}: {_value(field, before)} → {_value(field, after)}"
        for field, before, after in node_changes(old, new)
    )


def _value(field: str, value: Any) -> str:
    # A limit missing from one side of a dict (``envelope.tool_calls``) reads as a dash.
    return _short("—" if value is None and "." in field else value)


def _key(edge: EdgeSpec | DiagramEdge) -> tuple[str, str, str | None]:
    return (edge.source, edge.target, edge.label)


def diff_diagram(
    old: GraphSpec, new: GraphSpec, *, old_name: str = "old", new_name: str = "new"
) -> Diagram:
    """``new`` drawn with what changed since ``old`` marked, and ``old``'s removed parts kept.

    Args:
        old: The earlier version (a saved spec, another reference).
        new: The version to draw.
        old_name: How the title names ``old``.
        new_name: How the title names ``new``.
    """
    before = {n.id: n for n in old.nodes}
    after = {n.id: n for n in new.nodes}
    nodes: list[DiagramNode] = []
    for node in design_diagram(new).nodes:
        if node.id not in before:
            nodes.append(replace(node, change=Change.ADDED, notes=("added",)))
            continue
        changes = _changes(before[node.id], after[node.id])
        if changes:
            nodes.append(replace(node, change=Change.CHANGED, notes=changes))
        else:
            nodes.append(node)
    removed = [n for n in old.nodes if n.id not in after]
    nodes += [replace(diagram_node(n), change=Change.REMOVED, notes=("removed",)) for n in removed]

    old_edges = {_key(e): e for e in old.edges}
    new_keys = {_key(e) for e in new.edges}
    edges: list[DiagramEdge] = []
    for edge in design_diagram(new).edges:
        previous = old_edges.get(_key(edge))
        if previous is None:
            edges.append(replace(edge, change=Change.ADDED))
        elif previous.kind is not edge.kind:
            edges.append(replace(edge, change=Change.CHANGED))
        else:
            edges.append(edge)
    gone = [e for e in design_diagram(old).edges if _key(e) not in new_keys]
    edges += [replace(e, change=Change.REMOVED) for e in gone]

    def tally(items: list[DiagramNode] | list[DiagramEdge], noun: str) -> str:
        counts = {c: sum(1 for i in items if i.change is c) for c in Change}
        parts = [f"{counts[c]} {c.value}" for c in Change if c is not Change.SAME and counts[c]]
        return f"{noun}: {', '.join(parts) or 'as before'}"

    subtitle: tuple[str, ...] = (
        f"{tally(nodes, 'nodes')} · {tally(edges, 'edges')}",
        f"signature {old.signature} → {new.signature}",
    )
    if old.budget != new.budget:
        moved = [
            f"{dim} {_short(old.budget.get(dim, '—'))} → {_short(new.budget.get(dim, '—'))}"
            for dim in sorted(set(old.budget) | set(new.budget))
            if old.budget.get(dim) != new.budget.get(dim)
        ]
        subtitle += (f"budget: {', '.join(moved)}",)
    if old.signature == new.signature:
        subtitle = ("no structural change", f"signature {new.signature}")
    return Diagram(
        name=new.name,
        mode=Mode.DIFF,
        title=f"{new.name} — {old_name} → {new_name}",
        subtitle=subtitle,
        nodes=tuple(nodes),
        edges=tuple(edges),
    )
