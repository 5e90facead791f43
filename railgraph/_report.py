"""A run as one report: the record, its path, tool calls, decisions and spend.

``railgraph show RUN --json`` prints :func:`trace`, the shape of the minimal agent trace
event: request and run id, agent role, model, policy, tool calls with latency and status,
outcome with status and reason, cost and latency.
"""

from __future__ import annotations

from typing import Any, cast

from railgraph._settings import default_secret_words
from railgraph.checkpointers import ApprovalRecord, EventRecord, Redactor, RunRecord
from railgraph.vocab import AgentCallData, NodeEventKind, ToolCallData, event_kind, shown

__all__ = ["display_redactor", "path_of", "trace"]


def display_redactor() -> Redactor:
    """The redactor for what the faces show: ``$RAILGRAPH_REDACT`` or railgraph's list.

    It also covers rows that older releases stored before they redacted anything.
    """
    return Redactor(default_secret_words())


def path_of(events: list[EventRecord]) -> list[str]:
    """The nodes the run finished, in order (a node appears once per visit)."""
    return [e.node for e in events if _is(e, NodeEventKind.NODE_FINISHED) and e.node]


def _is(event: EventRecord, kind: NodeEventKind) -> bool:
    return event_kind(event.kind, event.data) == kind


def _tool_call(node: str | None, call: ToolCallData) -> dict[str, Any]:
    return {
        "node": node,
        "tool": call.get("tool"),
        "tier": call.get("tier"),
        "args": call.get("args"),
        "result": call.get("result"),
        "error": call.get("error"),
        "status": call.get("status"),
        "attempt": call.get("attempt"),
        "latency_ms": call.get("latency_ms"),
        "idempotency_key": call.get("idempotency_key"),
    }


def _agent_call(node: str | None, call: AgentCallData) -> dict[str, Any]:
    return {
        "node": node,
        "turn": call.get("turn"),
        "call_id": call.get("call_id"),
        "tool": call.get("tool"),
        "args": call.get("args"),
        "ran_args": call.get("ran_args"),
        "status": call.get("status"),
        "decision": call.get("decision"),
        "by": call.get("by"),
        "rule": call.get("rule"),
        "latency_ms": call.get("latency_ms"),
    }


def trace(
    record: RunRecord,
    events: list[EventRecord],
    approvals: list[ApprovalRecord],
    redactor: Redactor | None = None,
) -> dict[str, Any]:
    """The run as JSON-able data in the trace-event shape, plus path, decisions and events.

    Secrets are redacted (by ``redactor``, else :func:`display_redactor`).
    """
    redactor = redactor or display_redactor()
    record = redactor.run(record)
    events = [redactor.event(e) for e in events]
    approvals = [redactor.approval(a) for a in approvals]
    models = sorted({str(e.data.get("model")) for e in events if _is(e, NodeEventKind.LLM_CALL)})
    tool_calls = [
        _tool_call(e.node, cast(ToolCallData, e.data))
        for e in events
        if _is(e, NodeEventKind.TOOL_CALL)
    ]
    # Calls an agent's model chose, each with its decision: ok, needs_approval, rejected,
    # blocked or error (the tool_call entries above are the executions among them).
    agent_calls = [
        _agent_call(e.node, cast(AgentCallData, e.data))
        for e in events
        if _is(e, NodeEventKind.AGENT_CALL)
    ]
    node_ms = sum(
        float(e.data.get("duration_ms", 0)) for e in events if _is(e, NodeEventKind.NODE_FINISHED)
    )
    report = {
        "request_id": record.run_id,
        "run_id": record.run_id,
        "agent": {"role": record.graph_name, "graph": record.graph, "signature": record.signature},
        "model": models[0] if len(models) == 1 else (models or None),
        "policy": {"budget": record.budget},
        "input": record.input,
        "status": record.status,
        "outcome": {"status": record.status, "reason": record.error},
        "path": path_of(events),
        "tool_calls": tool_calls,
        "agent_calls": agent_calls,
        "decisions": [
            {
                "request_id": a.request_id,
                "node": a.node,
                "action": (a.request.get("action") or {}).get("tool"),
                "status": a.status,
                "by": a.decided_by,
                "os_user": (a.decision or {}).get("os_user"),
                "host": (a.decision or {}).get("host"),
                "reason": (a.decision or {}).get("reason"),
                "args": (a.decision or {}).get("args"),
                "requested_at": a.created_at,
                "decided_at": a.decided_at,
            }
            for a in approvals
        ],
        "usage": record.usage,
        "cost_usd": float(record.usage.get("cost_usd", 0.0)),
        "latency_ms": {
            "nodes": round(node_ms, 3),
            "elapsed": round((record.updated_at - record.created_at) * 1000, 3),
        },
        "started_by": record.started_by,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "result": record.result,
        "events": [e.model_dump(mode="json") for e in events],
    }
    # For people, and valid JSON: the run's input and result may hold NaN or infinities.
    for_people: dict[str, Any] = shown(report)
    return for_people
