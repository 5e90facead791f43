"""A run's events as a timeline a person reads: what happened, where, when, and how long."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checkpointers import EventRecord
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


def _json(value: Any) -> str:
    return clip(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), 120)


def _entry(event: EventRecord) -> TimelineEntry | None:
    d = event.data
    kind = event.kind
    text: str
    duration: float | None = None
    if kind == "node_finished":
        outcome = f" → {d['outcome']}" if d.get("outcome") else ""
        text = f"{d.get('kind', 'node')} {event.node} finished{outcome}"
        duration = float(d.get("duration_ms") or 0.0)
    elif kind == "tool_call":
        text = f"tool {d.get('tool')} ({d.get('tier')}), attempt {d.get('attempt')}: "
        text += f"{d.get('status')} · args {_json(d.get('args'))}"
        if d.get("error"):
            text += f" · error {d['error']}"
        elif d.get("result") is not None:
            text += f" · result {_json(d.get('result'))}"
        duration = float(d.get("latency_ms") or 0.0)
    elif kind == "llm_call":
        text = (
            f"llm {d.get('model')}: {d.get('input_tokens', 0)} in / "
            f"{d.get('output_tokens', 0)} out tokens, ${float(d.get('cost_usd') or 0):.6f}"
        )
        duration = float(d.get("latency_ms") or 0.0)
    elif kind == "verdict":
        failures = [
            f.get("message", "") for v in d.get("verdicts", []) for f in v.get("failures", [])
        ]
        text = f"verdict {d.get('outcome')} (attempt {d.get('attempt')})"
        if failures:
            text += ": " + "; ".join(str(f) for f in failures)
    elif kind == "budget_check":
        text = f"budget {d.get('outcome')}" + (
            f" on {d['dimension']}" if d.get("dimension") else ""
        )
    elif kind == "route":
        text = f"route chose {d.get('outcome')} → {d.get('target')}"
    elif kind == "approval_requested":
        request = d.get("request") or {}
        text = f"approval requested: {request.get('reason', '')}"
    elif kind == "approval_decided":
        text = f"decision {d.get('decision')} by {d.get('by')}"
        if d.get("reason"):
            text += f": {d['reason']}"
    elif kind == "agent_turn":
        calls = ", ".join(map(str, d.get("calls") or [])) or "no tool calls: answered"
        text = f"turn {d.get('turn')}: {calls}"
    elif kind == "agent_call":
        text = f"call {d.get('tool')} (turn {d.get('turn')}): {d.get('status')}"
        if d.get("by"):
            text += f", {d.get('decision')} by {d['by']}"
        elif d.get("decision") not in (None, "ok", d.get("status")):
            text += f" ({d.get('decision')})"
        text += f" · args {_json(d.get('args'))}"
        if d.get("ran_args") not in (None, d.get("args")):
            text += f" · ran {_json(d.get('ran_args'))}"
        duration = float(d.get("latency_ms") or 0.0)
    elif kind == "run_started":
        text = f"run started · input {_json(d.get('input'))}"
    elif kind in ("run_finished", "run_failed", "budget_exhausted", "run_cancelled"):
        detail = d.get("status") or d.get("error") or d.get("reason") or d.get("dimension") or ""
        text = f"{kind.replace('_', ' ')}" + (f": {detail}" if detail else "")
    elif kind == "node_started":
        return None  # its node_finished says the same, with the duration
    else:
        text = f"{kind.replace('_', ' ')}: {_json(d)}"
    return TimelineEntry(at=event.at, kind=kind, node=event.node, text=text, duration_ms=duration)


def timeline_of(events: Sequence[EventRecord]) -> tuple[TimelineEntry, ...]:
    """The events a report shows, in order: nodes, calls, verdicts, checks and decisions."""
    return tuple(entry for entry in map(_entry, events) if entry is not None)
