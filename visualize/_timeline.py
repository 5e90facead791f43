"""A run's events as a timeline a person reads: what happened, where, when, and how long."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checkpointers import EventRecord
from railgraph.vocab import NodeEventKind, RunEventKind, event_kind
from visualize._text import clip

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
    if kind == NodeEventKind.NODE_FINISHED:
        outcome = f" → {d['outcome']}" if d.get("outcome") else ""
        text = f"{d.get('kind', 'node')} {event.node} finished{outcome}"
        duration = float(d.get("duration_ms") or 0.0)
    elif kind == NodeEventKind.TOOL_CALL:
        text = f"tool {d.get('tool')} ({d.get('tier')}), attempt {d.get('attempt')}: "
        text += f"{d.get('status')} · args {_json(d.get('args'))}"
        if d.get("error"):
            text += f" · error {d['error']}"
        elif d.get("result") is not None:
            text += f" · result {_json(d.get('result'))}"
        duration = float(d.get("latency_ms") or 0.0)
    elif kind == NodeEventKind.LLM_CALL:
        text = (
            f"llm {d.get('model')}: {d.get('input_tokens', 0)} in / "
            f"{d.get('output_tokens', 0)} out tokens, ${float(d.get('cost_usd') or 0):.6f}"
        )
        duration = float(d.get("latency_ms") or 0.0)
    elif kind == NodeEventKind.VERDICT:
        failures = [
            f.get("message", "") for v in d.get("verdicts", []) for f in v.get("failures", [])
        ]
        text = f"verdict {d.get('outcome')} (attempt {d.get('attempt')})"
        if failures:
            text += ": " + "; ".join(str(f) for f in failures)
    elif kind == NodeEventKind.BUDGET_CHECK:
        text = f"budget {d.get('outcome')}" + (
            f" on {d['dimension']}" if d.get("dimension") else ""
        )
    elif kind == NodeEventKind.ROUTE:
        text = f"route chose {d.get('outcome')} → {d.get('target')}"
    elif kind == NodeEventKind.APPROVAL_REQUESTED:
        request = d.get("request") or {}
        text = f"approval requested: {request.get('reason', '')}"
    elif kind == NodeEventKind.APPROVAL_DECIDED:
        text = f"decision {d.get('decision')} by {d.get('by')}"
        if d.get("reason"):
            text += f": {d['reason']}"
    elif kind == RunEventKind.RUN_STARTED:
        text = f"run started · input {_json(d.get('input'))}"
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
