"""Overlay one run's path on the designed graph.

Taken edges are drawn bold and numbered in the order they were taken; visited nodes show
their visit count, time and cost; the rest is faded but still there; the node where the run
failed, was rejected, ran out of budget, is paused or was cancelled is marked, and an approve
node shows the decision and who took it.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

from railgraph._spec import GraphSpec
from railgraph.visualize._agent import run_overlay
from railgraph.visualize._design import design_diagram
from railgraph.visualize._model import Diagram, DiagramEdge, DiagramNode, Emphasis, Mode
from railgraph.visualize._path import Decision, RunPath, Visit
from railgraph.visualize._text import clip, duration, money, number
from railgraph.vocab import CANCEL_DECISION, ApprovalStatus, DecisionKind, NodeKind

__all__ = ["run_diagram", "spend_line", "when"]

_DECIDED: dict[str, str] = {
    DecisionKind.APPROVE: ApprovalStatus.APPROVED,
    DecisionKind.EDIT: ApprovalStatus.EDITED,
    DecisionKind.REJECT: ApprovalStatus.REJECTED,
    CANCEL_DECISION: ApprovalStatus.CANCELLED,
}
_NOBODY: dict[str, str] = {DecisionKind.EXPIRE: "expired: nobody decided in time"}
_NOTE_WIDTH = 34


def when(ts: float | None) -> str:
    """A timestamp as UTC text, or an empty string."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def spend_line(usage: dict[str, object], node_ms: float | None = None) -> str:
    """What a run spent, in one line: steps, calls, tokens, cost and time."""
    parts: list[str] = []
    for key, one, many in (
        ("steps", "step", "steps"),
        ("llm_calls", "llm call", "llm calls"),
        ("tool_calls", "tool call", "tool calls"),
        ("tokens", "token", "tokens"),
        ("retries", "retry", "retries"),
    ):
        value = usage.get(key)
        if isinstance(value, int | float) and value:
            parts.append(f"{number(value)} {one if value == 1 else many}")
    cost = usage.get("cost_usd")
    if isinstance(cost, int | float) and cost:
        parts.append(money(float(cost)))
    if node_ms is not None:
        parts.append(f"{duration(node_ms)} in nodes")
    return " · ".join(parts) or "nothing spent"


def _visit_note(visits: list[Visit]) -> str | None:
    done = [v for v in visits if v.finished]
    if not done:
        return None
    parts = [f"{len(done)} visit" + ("" if len(done) == 1 else "s")]
    timed = [v.duration_ms for v in done if v.duration_ms is not None]
    if timed:
        parts.append(duration(sum(timed)))
    cost = sum(v.usage.get("cost_usd", 0.0) for v in done)
    if cost:
        parts.append(money(cost))
    return " · ".join(parts)


def _decision_notes(decision: Decision) -> list[str]:
    if decision.decision == ApprovalStatus.PENDING:
        notes = ["awaiting a reviewer"]
    elif decision.decision in _NOBODY:
        return [_NOBODY[decision.decision]]
    else:
        word = _DECIDED.get(decision.decision, decision.decision)
        notes = [f"{word} by {decision.by or 'unknown'}"]
        if decision.args:
            changed = ", ".join(f"{k}={v}" for k, v in sorted(decision.args.items()))
            notes.append(clip(f"→ {changed}", _NOTE_WIDTH))
    if decision.reason:
        notes += _reason_lines(f"“{decision.reason}”")
    return notes


def _reason_lines(reason: str) -> list[str]:
    lines = list(textwrap.wrap(" ".join(reason.split()), _NOTE_WIDTH))
    if len(lines) > 2:
        lines = [lines[0], clip(" ".join(lines[1:]), _NOTE_WIDTH)]
    return lines


def _final_stop(path: RunPath) -> str | None:
    """The node whose mark explains the run's final status (the last such visit)."""
    for visit in reversed(path.visits):
        stop = path.stops.get(visit.node)
        if stop is not None and stop.value == path.status:
            return visit.node
    return None


def run_diagram(spec: GraphSpec, path: RunPath) -> Diagram:
    """The designed graph with ``path`` drawn on it.

    When the graph changed since the run started and the run store kept the spec the run
    started on, the run is drawn on that spec (and the subtitle says so): its path is then
    exact. Otherwise it is drawn on ``spec``, without edges that no longer exist.
    """
    current = spec
    if path.spec is not None and path.spec.signature != spec.signature:
        spec = path.spec
    design = design_diagram(spec)
    visits: dict[str, list[Visit]] = defaultdict(list)
    for visit in path.visits:
        visits[visit.node].append(visit)
    decisions = {d.node: d for d in path.decisions}
    steps: dict[tuple[str, str, str | None], list[int]] = defaultdict(list)
    for hop in path.hops:
        steps[(hop.edge.source, hop.edge.target, hop.edge.label)].append(hop.order)
    entered = {hop.edge.target for hop in path.hops} | {hop.edge.source for hop in path.hops}
    final = _final_stop(path)

    nodes: list[DiagramNode] = []
    for node in design.nodes:
        seen = visits.get(node.id, [])
        notes: list[str] = []
        visit_note = _visit_note(seen)
        if visit_note:
            notes.append(visit_note)
        if node.id in decisions and node.kind is not NodeKind.AGENT:
            notes += _decision_notes(decisions[node.id])
        elif node.id == final and path.reason:
            notes += _reason_lines(path.reason)
        stop = path.stops.get(node.id)
        taken = bool(seen) or node.id in entered
        drawn = replace(
            node,
            emphasis=Emphasis.TAKEN if taken else Emphasis.FADED,
            stop=stop,
            notes=tuple(notes),
        )
        nodes.append(run_overlay(drawn, path.calls))
    edges: list[DiagramEdge] = []
    for edge in design.edges:
        orders = tuple(steps.get((edge.source, edge.target, edge.label), ()))
        edges.append(
            replace(
                edge,
                emphasis=Emphasis.TAKEN if orders else Emphasis.FADED,
                steps=orders,
                count=len(orders),
            )
        )
    timed = [v.duration_ms for v in path.visits if v.duration_ms is not None]
    subtitle = []
    if path.usage or timed:
        subtitle.append(spend_line(path.usage, sum(timed) if timed else None))
    if path.started_at is not None:
        subtitle.append(f"started {when(path.started_at)}")
    if path.reason:
        subtitle.append(f"reason: {clip(path.reason, 90)}")
    if spec is not current:
        subtitle.append(
            f"drawn on the graph as this run started it (signature {spec.signature}); "
            f"it is {current.signature} now"
        )
    elif path.signature and path.signature != spec.signature:
        subtitle.append(
            f"the graph changed since this run (signature {path.signature} → {spec.signature}): "
            "edges it took that no longer exist are not drawn"
        )
    return Diagram(
        name=spec.name,
        mode=Mode.RUN,
        title=f"{spec.name} — run {path.run_id}: {path.status}",
        subtitle=tuple(subtitle),
        nodes=tuple(nodes),
        edges=tuple(edges),
    )
