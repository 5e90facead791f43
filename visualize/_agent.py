"""An agent node in diagrams: its tools as chips coloured by tier, and what a run did there.

The designed graph shows each tool the agent may call with its tier and policy. A run shows
the turns, each tool's calls with their decisions (auto, approved by, edited by, rejected
by, blocked) and verdicts, and the call waiting for review; traffic counts calls per tool.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from railgraph._spec import NodeSpec
from railgraph.checkpointers import EventRecord
from railgraph.visualize._model import DiagramNode, Emphasis, ToolChip
from railgraph.vocab import AgentCallOutcome, AgentCallStatus, NodeEventKind, NodeKind, event_kind

__all__ = [
    "AgentCall",
    "agent_calls",
    "agent_details",
    "run_overlay",
    "tool_chips",
    "traffic_overlay",
]


@dataclass(frozen=True)
class AgentCall:
    """One call an agent's model chose, as the trace recorded it."""

    node: str
    """The agent node."""
    turn: int
    """The model turn that made it."""
    call_id: str
    """The model's id for the call."""
    tool: str
    """The tool it named."""
    status: str
    """``ok``, ``needs_approval``, ``rejected``, ``blocked`` or ``error``."""
    decision: str | None
    """``ok``, ``approved``, ``edited``, ``rejected``, ``blocked``, ``invalid``, ``error``,
    ``verify_failed``; ``None`` while the call waits for a person."""
    by: str | None
    """Who decided it, for a call a person decided."""


def agent_calls(events: Iterable[EventRecord]) -> tuple[AgentCall, ...]:
    """The agent calls of a run, in order, from its stored events."""
    return tuple(
        AgentCall(
            node=e.node or "",
            turn=int(e.data.get("turn") or 0),
            call_id=str(e.data.get("call_id")),
            tool=str(e.data.get("tool")),
            status=str(e.data.get("status")),
            decision=e.data.get("decision"),
            by=e.data.get("by"),
        )
        for e in events
        if event_kind(e.kind, e.data) == NodeEventKind.AGENT_CALL
    )


def agent_details(node: NodeSpec) -> tuple[str, ...]:
    """The lines under an agent node's title: its model and turn bound."""
    lines = []
    if node.meta.get("model"):
        lines.append(str(node.meta["model"]))
    if node.meta.get("max_turns"):
        lines.append(f"≤{node.meta['max_turns']} turns")
    return tuple(lines)


def tool_chips(node: NodeSpec) -> tuple[ToolChip, ...]:
    """An agent node's tools as designed."""
    if node.kind is not NodeKind.AGENT:
        return ()
    tools: list[dict[str, Any]] = list(node.meta.get("tools") or [])
    return tuple(
        ToolChip(
            name=str(t["name"]),
            tier=str(t["tier"]),
            policy=str(t["policy"]),
            rule=str(t["rule"]) if t.get("rule") else None,
        )
        for t in tools
    )


_ASKED = AgentCallStatus.NEEDS_APPROVAL
"""The status of a call waiting for a person (its decision comes in a later event)."""

_WORD: dict[str, str] = {
    AgentCallOutcome.APPROVED: "approved",
    AgentCallOutcome.EDITED: "edited",
    AgentCallOutcome.REJECTED: "rejected",
}


def _call_notes(calls: Sequence[AgentCall]) -> tuple[str, ...]:
    made = [c for c in calls if c.status != _ASKED or c.decision is not None]
    notes: list[str] = []
    done = [c for c in made if c.status != _ASKED]
    if done:
        notes.append(f"{len(done)} call" + ("" if len(done) == 1 else "s"))
    for call in done:
        if call.decision in _WORD:
            notes.append(f"{_WORD[call.decision]} by {call.by or 'unknown'}")
        elif call.decision == AgentCallOutcome.BLOCKED:
            notes.append("blocked")
        elif call.decision == AgentCallOutcome.VERIFY_FAILED:
            notes.append("failed verification")
        elif call.decision in (AgentCallOutcome.INVALID, AgentCallOutcome.ERROR):
            notes.append("error")
    return tuple(notes)


def run_overlay(node: DiagramNode, calls: Sequence[AgentCall]) -> DiagramNode:
    """``node`` (an agent) with a run's turns, calls, decisions and waiting call drawn on it."""
    mine = [c for c in calls if c.node == node.id]
    if node.kind is not NodeKind.AGENT:
        return node
    by_tool: dict[str, list[AgentCall]] = defaultdict(list)
    for call in mine:
        by_tool[call.tool].append(call)
    decided = {(c.turn, c.call_id) for c in mine if c.status != _ASKED}
    waiting = [c for c in mine if c.status == _ASKED and (c.turn, c.call_id) not in decided]
    chips = tuple(
        replace(
            chip,
            notes=_call_notes(by_tool.get(chip.name, []))
            + tuple("awaiting review" for c in waiting if c.tool == chip.name),
            emphasis=Emphasis.TAKEN if chip.name in by_tool else Emphasis.FADED,
        )
        for chip in node.tools
    )
    turns = max((c.turn for c in mine), default=0)
    notes = list(node.notes)
    if turns:
        count = len({(c.turn, c.call_id) for c in mine})
        notes.insert(
            0,
            f"{turns} turn{'' if turns == 1 else 's'} · {count} call{'' if count == 1 else 's'}",
        )
    notes += [f"waiting: {c.tool} (turn {c.turn})" for c in waiting]
    return replace(node, tools=chips, notes=tuple(notes))


def traffic_overlay(node: DiagramNode, runs: Sequence[Sequence[AgentCall]]) -> DiagramNode:
    """``node`` (an agent) with its calls per tool counted over many runs."""
    if node.kind is not NodeKind.AGENT:
        return node
    counts: Counter[str] = Counter()
    held: Counter[str] = Counter()
    for calls in runs:
        for call in calls:
            if call.node != node.id or call.status == _ASKED:
                continue
            counts[call.tool] += 1
            if call.decision in (AgentCallOutcome.BLOCKED, AgentCallOutcome.REJECTED):
                held[call.tool] += 1
    chips = tuple(
        replace(
            chip,
            notes=(
                (f"{counts[chip.name]} call{'' if counts[chip.name] == 1 else 's'}",)
                + ((f"{held[chip.name]} held back",) if held[chip.name] else ())
            )
            if counts[chip.name]
            else (),
            emphasis=Emphasis.TAKEN if counts[chip.name] else Emphasis.FADED,
        )
        for chip in node.tools
    )
    return replace(node, tools=chips)
