"""Rebuild the path a run took on its designed graph from stored run events.

The run store keeps every node's ``node_finished`` event in order, with the gate or route
outcome it took; the runner adds ``approval_requested`` and the run-level ``run_failed``,
``budget_exhausted``, ``run_cancelled`` and ``run_finished``. Kinds are read with
:func:`railgraph.vocab.event_kind`, so a node-level event an older release wrote is never
taken for a run-level one. From those alone, :func:`path_from_events` rebuilds
each visit and the exact spec edge taken into it (see :func:`link_steps`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from railgraph._spec import EdgeSpec, GraphSpec
from railgraph.checkpointers import ApprovalRecord, EventRecord, RunRecord
from railgraph.visualize._agent import AgentCall, agent_calls
from railgraph.visualize._model import StopStatus
from railgraph.visualize._timeline import TimelineEntry, timeline_of
from railgraph.vocab import (
    END_ID,
    FAIL_ID,
    START_ID,
    ApprovalDecidedData,
    ApprovalStatus,
    NodeEventKind,
    NodeFinishedData,
    RunEventKind,
    RunStatus,
    event_kind,
)

__all__ = [
    "END_ID",
    "START_ID",
    "Decision",
    "Hop",
    "RunPath",
    "Visit",
    "link_steps",
    "path_from_events",
]

_STOP_EVENTS: dict[RunEventKind | NodeEventKind | None, StopStatus] = {
    RunEventKind.RUN_FAILED: StopStatus.FAILED,
    RunEventKind.BUDGET_EXHAUSTED: StopStatus.BUDGET_EXHAUSTED,
    RunEventKind.RUN_CANCELLED: StopStatus.CANCELLED,
}
_STOPPED_AT = (RunStatus.FAILED, RunStatus.REJECTED, RunStatus.BUDGET_EXHAUSTED)
"""Run statuses a node can set, which mark where the run stopped."""


@dataclass(frozen=True)
class Visit:
    """One execution of a node (or the node a run stopped in before it finished)."""

    node: str
    """The node."""
    step: int
    """Position in the run, from 1; nodes of one LangGraph superstep share it."""
    finished: bool = True
    """False for the node the run is paused in, or failed in."""
    outcome: str | None = None
    """The gate or route outcome the visit took."""
    duration_ms: float | None = None
    """How long the node ran, when that was recorded."""
    usage: dict[str, float] = field(default_factory=dict)
    """What the node spent: steps, tool calls, tokens, cost_usd, …"""


@dataclass(frozen=True)
class Hop:
    """One spec edge taken, with its place in the run's order."""

    order: int
    """1 for the first edge taken, and so on."""
    edge: EdgeSpec
    """The edge of the spec."""


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision at an approve gate (or the request still waiting for one)."""

    node: str
    """The approve node."""
    decision: str
    """``approve``, ``edit``, ``reject``, ``expire`` or ``pending``."""
    by: str | None = None
    """The reviewer."""
    reason: str | None = None
    """Why, when one was given."""
    args: dict[str, Any] | None = None
    """The arguments an edit changed."""


@dataclass(frozen=True)
class RunPath:
    """A run as the diagrams need it: visits, edges taken in order, and where it stopped."""

    run_id: str
    """The run (or LangGraph thread) id."""
    graph: str
    """The graph's name."""
    status: str
    """``running``, ``paused``, ``completed``, ``failed``, ``budget_exhausted``, …"""
    visits: tuple[Visit, ...]
    """Every node execution, in order."""
    hops: tuple[Hop, ...]
    """Every spec edge taken, in order."""
    stops: dict[str, StopStatus] = field(default_factory=dict)
    """Nodes where the run failed, was rejected, ran out of budget, is paused or cancelled."""
    reason: str | None = None
    """Why the run stopped, when it did not simply complete."""
    decisions: tuple[Decision, ...] = ()
    """Decisions at approve gates, in order (the last one per node counts)."""
    usage: dict[str, Any] = field(default_factory=dict)
    """What the whole run spent."""
    timeline: tuple[TimelineEntry, ...] = ()
    """What happened, in order, for a report."""
    started_at: float | None = None
    """When the run started, in unix seconds."""
    updated_at: float | None = None
    """When it last changed."""
    signature: str | None = None
    """The graph signature the run started on."""
    spec: GraphSpec | None = None
    """The spec the run started on, when the run store kept it."""
    calls: tuple[AgentCall, ...] = ()
    """Calls the models of agent nodes chose, with their decisions, in order."""


def _edges_into(spec: GraphSpec, target: str, source: Visit | None, start: bool) -> list[EdgeSpec]:
    """Spec edges from ``source`` (or the start) into ``target`` that its outcome allows."""
    node = START_ID if start else source.node if source else None
    edges = [e for e in spec.edges if e.source == node and e.target == target]
    outcome = source.outcome if source and not start else None
    labelled = [e for e in edges if e.label is not None]
    if outcome is not None and labelled:
        return [e for e in labelled if e.label == outcome]
    return edges


def link_steps(spec: GraphSpec, steps: Sequence[Sequence[Visit]], *, ended: bool) -> list[Hop]:
    """The spec edges a run took, given the nodes it ran in each step.

    A node is entered from the latest step holding a visited predecessor that has a spec edge
    to it (every such predecessor of that step, for nodes that join parallel branches); a gate
    or route predecessor counts only through the edge labelled with the outcome it took. The
    first step is entered from ``__start__``. When ``ended``, the last step is linked to the
    ``__end__`` or ``__fail__`` terminal it leads to.
    """
    hops: list[Hop] = []
    edges_in_order = {id(e): i for i, e in enumerate(spec.edges)}
    terminals = [n.id for n in spec.nodes if n.id in (END_ID, FAIL_ID)]
    all_steps: list[Sequence[Visit]] = list(steps)
    if ended and all_steps:
        last = all_steps[-1]
        reached: list[Visit] = []
        for terminal in terminals:
            if any(_edges_into(spec, terminal, v, False) for v in last):
                reached.append(Visit(node=terminal, step=last[0].step + 1))
        # A run ends in one place: prefer the terminal the outcome or plain edge names first.
        all_steps.append(reached[:1])
    for index, step in enumerate(all_steps):
        taken: list[EdgeSpec] = []
        for visit in step:
            chosen: list[EdgeSpec] = []
            for back in range(index - 1, -1, -1):
                for source in all_steps[back]:
                    chosen += _edges_into(spec, visit.node, source, False)
                if chosen:
                    break
            if not chosen:
                chosen = _edges_into(spec, visit.node, None, True)
            taken += [e for e in chosen if all(e is not t for t in taken)]
            if any(e.kind.value == "join" for e in chosen):
                # A join's target runs once, after all its sources: every join edge counts.
                visited = {v.node for earlier in all_steps[:index] for v in earlier}
                taken += [
                    e
                    for e in spec.edges
                    if e.kind.value == "join"
                    and e.target == visit.node
                    and e.source in visited
                    and all(e is not t for t in taken)
                ]
        for edge in sorted(taken, key=lambda e: edges_in_order[id(e)]):
            hops.append(Hop(order=len(hops) + 1, edge=edge))
    return hops


def path_from_events(
    spec: GraphSpec,
    record: RunRecord,
    events: Sequence[EventRecord],
    approvals: Sequence[ApprovalRecord] = (),
) -> RunPath:
    """Rebuild a railgraph run's path from its stored record, events and review requests."""
    visits: list[Visit] = []
    stops: dict[str, StopStatus] = {}
    decisions: list[Decision] = []
    waiting: dict[str, None] = {}  # nodes with a request still open, in order
    ended = False
    started_on: GraphSpec | None = None
    for event in events:
        d = event.data
        kind = event_kind(event.kind, d)
        if kind == RunEventKind.RUN_STARTED and isinstance(d.get("spec"), dict):
            try:
                started_on = GraphSpec.model_validate(d["spec"])
            except ValidationError:
                started_on = None  # written by another railgraph version: draw on the current
        elif kind == NodeEventKind.NODE_FINISHED and event.node:
            finished = cast(NodeFinishedData, d)
            visits.append(
                Visit(
                    node=event.node,
                    step=len(visits) + 1,
                    outcome=finished.get("outcome"),
                    duration_ms=float(finished.get("duration_ms") or 0.0),
                    usage={k: float(v) for k, v in (finished.get("usage") or {}).items()},
                )
            )
            status = finished.get("status")
            if status in _STOPPED_AT:
                stops[event.node] = StopStatus(status)
            waiting.pop(event.node, None)
        elif kind == NodeEventKind.APPROVAL_REQUESTED and event.node:
            waiting[event.node] = None
        elif kind == NodeEventKind.APPROVAL_DECIDED and event.node:
            decided = cast(ApprovalDecidedData, d)
            args = decided.get("args")
            decisions.append(
                Decision(
                    event.node,
                    str(decided.get("decision")),
                    decided.get("by"),
                    decided.get("reason"),
                    args if isinstance(args, dict) else None,
                )
            )
        elif kind in _STOP_EVENTS:
            # A node that raised never finished; a run cancelled while paused stops where it
            # waited.
            for node in [event.node] if event.node else list(waiting):
                stops[node] = _STOP_EVENTS[kind]
                visits.append(Visit(node=node, step=len(visits) + 1, finished=False))
            waiting.clear()
        elif kind == RunEventKind.RUN_FINISHED:
            ended = True
    if record.status == RunStatus.PAUSED:
        # Parallel branches may wait at several gates at once; each pending request is one.
        for node in waiting:
            stops[node] = StopStatus.PAUSED
            visits.append(Visit(node=node, step=len(visits) + 1, finished=False))
            pending = [
                a for a in approvals if a.node == node and a.status == ApprovalStatus.PENDING
            ]
            reason = pending[-1].request.get("reason") if pending else None
            decisions.append(Decision(node, ApprovalStatus.PENDING.value, None, reason))
    known = {n.id for n in spec.nodes}
    steps = [[v] for v in visits if v.node in known]
    hops = link_steps(spec, steps, ended=ended)
    timeline = timeline_of(events)
    return RunPath(
        run_id=record.run_id,
        graph=record.graph_name,
        status=record.status,
        visits=tuple(visits),
        hops=tuple(hops),
        stops=stops,
        reason=record.error,
        decisions=tuple(decisions),
        usage=dict(record.usage),
        timeline=timeline,
        started_at=record.created_at,
        updated_at=record.updated_at,
        signature=record.signature,
        spec=started_on,
        calls=agent_calls(events),
    )
