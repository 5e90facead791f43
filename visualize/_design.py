"""Extract the designed graph from a spec: each node's title and detail lines, each edge."""

from __future__ import annotations

from typing import Any, cast

from railgraph._spec import EdgeKind, EdgeSpec, GraphSpec, NodeSpec
from railgraph.visualize._agent import agent_details, tool_chips
from railgraph.visualize._model import Diagram, DiagramEdge, DiagramNode, Mode
from railgraph.visualize._text import TIMES, money, number, wrap
from railgraph.vocab import FAIL_ID, GateOutcome, NodeKind, NodeMeta, RunStatus

__all__ = ["FAIL_ID", "design_diagram", "diagram_node", "node_details"]


_WIDTH = 30
_SHORT = {
    "steps": "steps",
    "llm_calls": "llm",
    "tool_calls": "tools",
    "tokens": "tokens",
    "cost_usd": "",
    "wall_s": "",
    "retries": "retries",
}
_DIMENSION = {
    "steps": "steps",
    "llm_calls": "llm calls",
    "tool_calls": "tool calls",
    "tokens": "tokens",
    "cost_usd": "cost",
    "wall_s": "time",
    "retries": "retries",
}


def _amount(dimension: str, value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    if dimension == "cost_usd":
        return money(float(value))
    if dimension == "wall_s":
        return f"{number(value)} s"
    return number(value)


def _limits(values: dict[str, Any], names: dict[str, str] = _DIMENSION) -> list[str]:
    known = [f"{names[dim]} {_amount(dim, values[dim])}".strip() for dim in names if dim in values]
    return known + [f"{d} {_amount(d, v)}" for d, v in sorted(values.items()) if d not in names]


def meta_of(node: NodeSpec) -> NodeMeta:
    """A spec node's meta, with its keys typed (a spec from JSON holds the same keys)."""
    return cast(NodeMeta, node.meta)


def node_details(node: NodeSpec) -> tuple[str, ...]:
    """The small lines under a node's title: what a reviewer needs to know about it."""
    meta = meta_of(node)
    lines: list[str] = []
    if node.kind is NodeKind.TOOL:
        tool = meta.get("tool")
        if tool and tool != node.id:
            lines.append(f"calls {tool}")
        tier, policy = meta.get("tier"), meta.get("policy")
        if tier or policy:
            lines.append(" · ".join(p for p in (tier, f"policy {policy}" if policy else "") if p))
        limits = []
        if meta.get("timeout_s") is not None:
            limits.append(f"timeout {number(meta['timeout_s'])} s")
        if meta.get("retries"):
            retries = int(meta["retries"])
            limits.append(f"{retries} {'retry' if retries == 1 else 'retries'}")
        if limits:
            lines.append(" · ".join(limits))
    elif node.kind is NodeKind.LLM:
        if meta.get("model"):
            lines.append(str(meta["model"]))
        if meta.get("output"):
            lines.append(f"→ {meta['output']}")
    elif node.kind is NodeKind.VERIFY:
        on = str(meta.get("on") or "")
        if on and not on.startswith("<"):
            lines.append(f"checks {on}:")
        checks = [str(c).split(":")[0] for c in meta.get("checks", [])]
        lines.extend(wrap(checks, 24, sep=", "))
    elif node.kind is NodeKind.BUDGET:
        envelope = dict(meta.get("envelope") or {})
        if envelope:
            lines.extend(wrap(_limits(envelope, _SHORT), _WIDTH))
        needs = dict(meta.get("needs") or {})
        if needs:
            lines.append("reserves " + ", ".join(_limits(needs, _SHORT)))
    elif node.kind is NodeKind.APPROVE:
        if meta.get("action"):
            lines.append(f"reviews {meta['action']}")
        else:
            lines.append("may the run go on?")
        reviewers = list(meta.get("reviewers") or [])
        if reviewers:
            lines.extend(wrap(reviewers, _WIDTH, sep=", "))
        if meta.get("expires_after_s"):
            lines.append(f"expires after {_amount('wall_s', meta['expires_after_s'])}")
    elif node.kind is NodeKind.AGENT:
        lines.extend(agent_details(node))
    return tuple(lines)


def diagram_node(node: NodeSpec) -> DiagramNode:
    """A spec node as drawn in the designed graph."""
    meta = meta_of(node)
    tier = meta.get("tier") if node.kind is NodeKind.TOOL else None
    return DiagramNode(
        id=node.id,
        kind=node.kind,
        title=node.label,
        details=node_details(node),
        tier=str(tier) if tier else None,
        failure_terminal=node.id == FAIL_ID or meta.get("status") == RunStatus.FAILED,
        tools=tool_chips(node),
    )


def _edge(spec: GraphSpec, edge: EdgeSpec) -> DiagramEdge:
    note = "join" if edge.kind.value == "join" else None
    if edge.kind is EdgeKind.GATE and edge.label == GateOutcome.RETRY:
        bound = meta_of(spec.node(edge.source)).get("max_retries")
        note = f"≤{bound}{TIMES}" if bound else None
    return DiagramEdge(
        source=edge.source, target=edge.target, kind=edge.kind, label=edge.label, note=note
    )


def design_diagram(spec: GraphSpec) -> Diagram:
    """The designed graph: every node with its shape, colour and facts, every edge labelled.

    Example:
        >>> from railgraph.graphs.refund import graph
        >>> diagram = design_diagram(graph.spec)
        >>> diagram.node("create_refund").details
        ('irreversible · policy conditional', 'timeout 10 s')
    """
    budget = _limits(dict(spec.budget))
    return Diagram(
        name=spec.name,
        mode=Mode.DESIGN,
        title=f"{spec.name} — designed graph",
        subtitle=(f"budget: {', '.join(budget)}",) if budget else (),
        nodes=tuple(diagram_node(n) for n in spec.nodes),
        edges=tuple(_edge(spec, e) for e in spec.edges),
    )
