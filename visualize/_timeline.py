"""A run's events as a timeline a person reads: what happened, where, when, and how long."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from railgraph.checkpointers import EventRecord
from railgraph.visualize._text import clip
from railgraph.vocab import (
    AgentCallData,
    AgentCallStatus,
    AgentTurnData,
    ApprovalDecidedData,
    ApprovalRequestedData,
    BudgetCheckData,
    LlmCallData,
    NodeEventKind,
    NodeFinishedData,
    RouteData,
    RunEventKind,
    RunStartedData,
    ToolCallData,
    VerdictData,
    event_kind,
)

__all__ = ["TimelineEntry", "timeline_of"]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a run report's timeline."""

    at: float
    """When, in unix seconds."""
    kind: str
    """What happened: ``node_finished``, ``tool_call``, ``verdict``, …"""
    node: str | None
    """Where."""
    text: str
    """What a person reads."""
    duration_ms: float | None = None
    """How long it took, when that is known."""


_RUN_ENDS = (
    RunEventKind.RUN_FINISHED,
    RunEventKind.RUN_FAILED,
    RunEventKind.BUDGET_EXHAUSTED,
    RunEventKind.RUN_CANCELLED,
)


def _json(value: Any) -> str:
    return clip(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), 120)


def _entry(event: EventRecord) -> TimelineEntry | None:
    d = event.data
    kind = event_kind(event.kind, d)
    text: str
    duration: float | None = None
    # Each kind's payload is typed (stored rows may lack keys a newer release writes: read
    # them with .get).
    if kind == NodeEventKind.NODE_FINISHED:
        finished = cast(NodeFinishedData, d)
        outcome = f" → {finished['outcome']}" if finished.get("outcome") else ""
        text = f"{finished.get('kind', 'node')} {event.node} finished{outcome}"
        duration = float(finished.get("duration_ms") or 0.0)
    elif kind == NodeEventKind.TOOL_CALL:
        call = cast(ToolCallData, d)
        text = f"tool {call.get('tool')} ({call.get('tier')}), attempt {call.get('attempt')}: "
        text += f"{call.get('status')} · args {_json(call.get('args'))}"
        if call.get("error"):
            text += f" · error {call.get('error')}"
        elif call.get("result") is not None:
            text += f" · result {_json(call.get('result'))}"
        duration = float(call.get("latency_ms") or 0.0)
    elif kind == NodeEventKind.LLM_CALL:
        llm = cast(LlmCallData, d)
        text = (
            f"llm {llm.get('model')}: {llm.get('input_tokens', 0)} in / "
            f"{llm.get('output_tokens', 0)} out tokens, ${float(llm.get('cost_usd') or 0):.6f}"
        )
        duration = float(llm.get("latency_ms") or 0.0)
    elif kind == NodeEventKind.VERDICT:
        verdict = cast(VerdictData, d)
        failures = [
            f.get("message", "") for v in verdict.get("verdicts", []) for f in v.get("failures", [])
        ]
        text = f"verdict {verdict.get('outcome')} (attempt {verdict.get('attempt')})"
        if failures:
            text += ": " + "; ".join(str(f) for f in failures)
    elif kind == NodeEventKind.BUDGET_CHECK:
        check = cast(BudgetCheckData, d)
        text = f"budget {check.get('outcome')}" + (
            f" on {check.get('dimension')}" if check.get("dimension") else ""
        )
    elif kind == NodeEventKind.ROUTE:
        route = cast(RouteData, d)
        text = f"route chose {route.get('outcome')} → {route.get('target')}"
    elif kind == NodeEventKind.APPROVAL_REQUESTED:
        request = cast(ApprovalRequestedData, d).get("request") or {}
        text = f"approval requested: {request.get('reason', '')}"
    elif kind == NodeEventKind.APPROVAL_DECIDED:
        decided = cast(ApprovalDecidedData, d)
        text = f"decision {decided.get('decision')} by {decided.get('by')}"
        if decided.get("reason"):
            text += f": {decided.get('reason')}"
    elif kind == NodeEventKind.AGENT_TURN:
        turn = cast(AgentTurnData, d)
        calls = ", ".join(map(str, turn.get("calls") or [])) or "no tool calls: answered"
        text = f"turn {turn.get('turn')}: {calls}"
    elif kind == NodeEventKind.AGENT_CALL:
        agent_call = cast(AgentCallData, d)
        status = agent_call.get("status")
        decision = agent_call.get("decision")
        text = f"call {agent_call.get('tool')} (turn {agent_call.get('turn')}): {status}"
        if agent_call.get("by"):
            text += f", {decision} by {agent_call.get('by')}"
        elif decision not in (None, AgentCallStatus.OK, status):
            text += f" ({decision})"
        text += f" · args {_json(agent_call.get('args'))}"
        if agent_call.get("ran_args") not in (None, agent_call.get("args")):
            text += f" · ran {_json(agent_call.get('ran_args'))}"
        duration = float(agent_call.get("latency_ms") or 0.0)
    elif kind == RunEventKind.RUN_STARTED:
        text = f"run started · input {_json(cast(RunStartedData, d).get('input'))}"
    elif kind in _RUN_ENDS:
        detail = d.get("status") or d.get("error") or d.get("reason") or d.get("dimension") or ""
        text = f"{event.kind.replace('_', ' ')}" + (f": {detail}" if detail else "")
    elif kind == NodeEventKind.NODE_STARTED:
        return None  # its node_finished says the same, with the duration
    else:
        # A kind this release does not draw (or an older release's node-level refusal).
        text = f"{event.kind.replace('_', ' ')}: {_json(d)}"
    return TimelineEntry(
        at=event.at, kind=event.kind, node=event.node, text=text, duration_ms=duration
    )


def timeline_of(events: Sequence[EventRecord]) -> tuple[TimelineEntry, ...]:
    """The events a report shows, in order: nodes, calls, verdicts, checks and decisions."""
    return tuple(entry for entry in map(_entry, events) if entry is not None)
