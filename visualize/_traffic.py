"""Aggregate many runs of one graph: how often each edge is taken, where runs fail or escalate.

An edge's width grows with how many times runs took it. A node's label counts the runs that
visited it and its visits, how many of those runs stopped there (failed, rejected, out of
budget, cancelled; and how many wait there for a person), and how many of all the runs
escalated there (reached an approve gate, or took a verify gate's ``fail`` outcome).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from railgraph._spec import GraphSpec
from railgraph.visualize._agent import traffic_overlay
from railgraph.visualize._design import design_diagram
from railgraph.visualize._model import Diagram, DiagramEdge, DiagramNode, Emphasis, Mode, StopStatus
from railgraph.visualize._path import RunPath
from railgraph.visualize._text import percent, wrap
from railgraph.vocab import GateOutcome, NodeKind, RunStatus

__all__ = ["escalated_at", "traffic_diagram"]


_STOPPED = {
    StopStatus.FAILED: "failed here",
    StopStatus.REJECTED: "rejected here",
    StopStatus.BUDGET_EXHAUSTED: "out of budget here",
    StopStatus.CANCELLED: "cancelled here",
}


def escalated_at(spec: GraphSpec, path: RunPath) -> set[str]:
    """The nodes where ``path`` escalated: approve gates it reached, verify gates it failed."""
    kinds = {n.id: n.kind for n in spec.nodes}
    out: set[str] = set()
    for visit in path.visits:
        kind = kinds.get(visit.node)
        if kind is NodeKind.APPROVE or (
            kind is NodeKind.VERIFY and visit.outcome == GateOutcome.FAIL
        ):
            out.add(visit.node)
    return out


def _node_notes(
    node: DiagramNode, runs: int, visits: int, stopped: Counter[str], escalated: int, total: int
) -> tuple[str, ...]:
    if not runs:
        return ()
    notes = [f"{runs} of {total} runs" + (f" · {visits} visits" if visits != runs else "")]
    for stop in StopStatus:
        count = stopped[stop.value]
        if count and stop is StopStatus.PAUSED:
            notes.append(f"waiting here: {count}")
        elif count:
            notes.append(f"{_STOPPED[stop]}: {count} of {runs} ({percent(count, runs)})")
    if escalated:
        notes.append(f"escalated: {escalated} of {total} runs ({percent(escalated, total)})")
    return tuple(notes)


def traffic_diagram(spec: GraphSpec, paths: Sequence[RunPath]) -> Diagram:
    """The designed graph with the traffic of ``paths`` on it (runs of this graph)."""
    design = design_diagram(spec)
    total = len(paths)
    runs_at: dict[str, set[str]] = defaultdict(set)
    visits_at: Counter[str] = Counter()
    stopped_at: dict[str, Counter[str]] = defaultdict(Counter)
    escalated: Counter[str] = Counter()
    edge_count: Counter[tuple[str, str, str | None]] = Counter()
    statuses: Counter[str] = Counter()
    escalated_runs = 0
    for path in paths:
        statuses[path.status] += 1
        for visit in path.visits:
            runs_at[visit.node].add(path.run_id)
            visits_at[visit.node] += 1
        for hop in path.hops:
            runs_at[hop.edge.source].add(path.run_id)
            runs_at[hop.edge.target].add(path.run_id)
            edge_count[(hop.edge.source, hop.edge.target, hop.edge.label)] += 1
        for node_id, stop in path.stops.items():
            stopped_at[node_id][stop.value] += 1
        where = escalated_at(spec, path)
        escalated.update(where)
        escalated_runs += bool(where)
    busiest = max(edge_count.values(), default=0)

    nodes = []
    for node in design.nodes:
        runs = len(runs_at.get(node.id, ()))
        notes = _node_notes(
            node, runs, visits_at[node.id], stopped_at[node.id], escalated[node.id], total
        )
        emphasis = Emphasis.TAKEN if runs else Emphasis.FADED
        drawn = replace(node, emphasis=emphasis, notes=notes)
        nodes.append(traffic_overlay(drawn, [p.calls for p in paths]))
    edges: list[DiagramEdge] = []
    for edge in design.edges:
        count = edge_count[(edge.source, edge.target, edge.label)]
        edges.append(
            replace(
                edge,
                emphasis=Emphasis.TAKEN if count else Emphasis.FADED,
                count=count,
                weight=round(count / busiest, 3) if busiest else 0.0,
            )
        )
    order: list[str] = [
        RunStatus.COMPLETED,
        RunStatus.PAUSED,
        RunStatus.RUNNING,
        RunStatus.REJECTED,
        RunStatus.BUDGET_EXHAUSTED,
        RunStatus.FAILED,
    ]
    order += sorted(set(statuses) - set(order))
    mix = [f"{statuses[s]} {s}" for s in order if statuses[s]]
    subtitle = [
        *wrap(mix, 100, sep=" · "),
        f"escalated: {escalated_runs} of {total} runs ({percent(escalated_runs, total)})",
    ]
    older = sum(1 for p in paths if p.signature and p.signature != spec.signature)
    if older:
        subtitle.append(f"{older} of them ran on an earlier version of the graph")
    return Diagram(
        name=spec.name,
        mode=Mode.TRAFFIC,
        title=f"{spec.name} — traffic of the last {total} runs",
        subtitle=tuple(subtitle),
        nodes=tuple(nodes),
        edges=tuple(edges),
    )
