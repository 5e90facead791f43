"""The spans railgraph exports and their attributes, one kind of span or event at a time.

Attribute names follow the OpenTelemetry GenAI conventions (``gen_ai.*``), plus what Arize
Phoenix (OpenInference) and Langfuse read; values under secret-looking keys are redacted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from railgraph._settings import default_secret_words
from railgraph.checkpointers import EventRecord, Redactor, RunRecord
from railgraph.vocab import NodeEventKind

__all__ = [
    "PlannedEvent",
    "PlannedSpan",
    "PolicyOf",
    "SpanAttr",
    "as_json",
    "chat_span",
    "kind_attributes",
    "redact",
    "run_attributes",
    "span_event",
    "tool_span",
]

SpanAttr = str | bool | int | float | Sequence[str]
"""An attribute value OpenTelemetry accepts (the ones railgraph uses)."""

PolicyOf = Callable[[str, Mapping[str, Any]], str | None]
"""What the graph's policy decides for a call of a tool with some arguments, if known."""

# The store redacts events with the configured words before they are stored; spans redact
# again with the same rule, so a secret in an event written before redaction existed (or
# under an extra word) never leaves the machine either.
_REDACTOR = Redactor(default_secret_words())
_MAX_TEXT = 4096

_OPENINFERENCE = {
    "step": "CHAIN",
    "llm": "CHAIN",
    "tool": "CHAIN",
    "route": "CHAIN",
    "verify": "EVALUATOR",
    "budget": "GUARDRAIL",
    "approve": "GUARDRAIL",
    "agent": "AGENT",
}
_LANGFUSE = {
    "step": "chain",
    "llm": "chain",
    "tool": "chain",
    "route": "chain",
    "verify": "evaluator",
    "budget": "guardrail",
    "approve": "guardrail",
    "agent": "agent",
}


@dataclass
class PlannedEvent:
    """A span event: a review request, a decision, a refused call, a cancellation."""

    name: str
    """Event name, such as ``approval_decided``."""
    at: float
    """When, in unix seconds."""
    attributes: dict[str, SpanAttr]
    """Its attributes."""


@dataclass
class PlannedSpan:
    """One span to export, with its children."""

    name: str
    """Span name, such as ``execute_tool create_refund``."""
    start: float
    """Start, in unix seconds."""
    end: float
    """End, in unix seconds."""
    attributes: dict[str, SpanAttr] = field(default_factory=dict)
    """Its attributes."""
    events: list[PlannedEvent] = field(default_factory=list)
    """Its span events, in order."""
    children: list[PlannedSpan] = field(default_factory=list)
    """Spans under it, in order."""
    error: str | None = None
    """Set when the span failed: the status description."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """(trace id, span id) in hex of earlier segments' run spans this one continues."""


def redact(value: Any) -> Any:
    """``value`` with secrets (``SecretStr`` values, secret-named keys) replaced by
    ``[redacted]``, by the run store's rule."""
    return _REDACTOR.redact(value)


def as_json(value: Any) -> str:
    """Redacted, compact JSON text, cut to a size trace backends accept."""
    text = json.dumps(redact(value), sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def run_attributes(record: RunRecord, segment: int) -> dict[str, SpanAttr]:
    usage = record.usage
    attrs: dict[str, SpanAttr] = {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.agent.name": record.graph_name,
        "gen_ai.workflow.name": record.graph_name,
        "gen_ai.conversation.id": record.run_id,
        "session.id": record.run_id,
        "langfuse.session.id": record.run_id,
        "langfuse.observation.type": "agent",
        "openinference.span.kind": "AGENT",
        "graph.node.id": record.graph_name,
        "railgraph.run.id": record.run_id,
        "railgraph.run.status": record.status,
        "railgraph.run.segment": segment,
        "railgraph.graph.ref": record.graph,
        "railgraph.graph.signature": record.signature,
        "gen_ai.usage.input_tokens": int(usage.get("input_tokens", 0)),
        "gen_ai.usage.output_tokens": int(usage.get("output_tokens", 0)),
        "gen_ai.usage.cost": float(usage.get("cost_usd", 0.0)),
        "railgraph.usage": as_json(usage),
    }
    if record.started_by:
        attrs["user.id"] = record.started_by
        attrs["langfuse.user.id"] = record.started_by
    if record.error:
        attrs["railgraph.run.reason"] = record.error
    return attrs


def kind_attributes(node_kind: str) -> dict[str, SpanAttr]:
    return {
        "railgraph.node.kind": node_kind,
        "openinference.span.kind": _OPENINFERENCE.get(node_kind, "CHAIN"),
        "langfuse.observation.type": _LANGFUSE.get(node_kind, "span"),
    }


def chat_span(event: EventRecord) -> PlannedSpan:
    data = event.data
    model = str(data.get("model"))
    tokens_in, tokens_out = int(data.get("input_tokens", 0)), int(data.get("output_tokens", 0))
    cost = float(data.get("cost_usd", 0.0))
    attrs: dict[str, SpanAttr] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        "gen_ai.usage.cost": cost,
        "railgraph.cost_usd": cost,
        "railgraph.llm.priced": bool(data.get("priced", False)),
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.token_count.prompt": tokens_in,
        "llm.token_count.completion": tokens_out,
        "llm.token_count.total": tokens_in + tokens_out,
        "llm.cost.total": cost,
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": model,
    }
    if data.get("tool_calls"):
        attrs["railgraph.llm.tool_calls"] = as_json(data["tool_calls"])
    latency = float(data.get("latency_ms", 0.0)) / 1000
    return PlannedSpan(
        name=f"chat {model}", start=event.at - latency, end=event.at, attributes=attrs
    )


def tool_span(event: EventRecord, policy_of: PolicyOf | None) -> PlannedSpan:
    data = event.data
    tool = str(data.get("tool"))
    status = str(data.get("status"))
    key = data.get("idempotency_key")
    attrs: dict[str, SpanAttr] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.arguments": as_json(data.get("args")),
        "railgraph.tool.tier": str(data.get("tier")),
        "railgraph.tool.status": status,
        "railgraph.tool.attempt": int(data.get("attempt", 1)),
        "railgraph.tool.latency_ms": float(data.get("latency_ms", 0.0)),
        "openinference.span.kind": "TOOL",
        "tool.name": tool,
        "input.value": as_json(data.get("args")),
        "input.mime_type": "application/json",
        "langfuse.observation.type": "tool",
    }
    policy = policy_of(tool, data.get("args") or {}) if policy_of is not None else None
    if policy is not None:
        attrs["railgraph.tool.policy"] = policy
    if key:
        attrs["gen_ai.tool.call.id"] = str(key)
        attrs["railgraph.tool.idempotency_key"] = str(key)
        attrs["railgraph.tool.ledger"] = (
            "replayed"
            if status == "replayed"
            else "executed"
            if not data.get("error")
            else "failed"
        )
    error = data.get("error")
    if error is None:
        attrs["gen_ai.tool.call.result"] = as_json(data.get("result"))
        attrs["output.value"] = as_json(data.get("result"))
        attrs["output.mime_type"] = "application/json"
    latency = float(data.get("latency_ms", 0.0)) / 1000
    span = PlannedSpan(
        name=f"execute_tool {tool}", start=event.at - latency, end=event.at, attributes=attrs
    )
    if error is not None:
        span.error = f"{status}: {error}"
    return span


def span_event(event: EventRecord) -> PlannedEvent:
    data = event.data
    attrs: dict[str, SpanAttr] = {}
    if event.kind == NodeEventKind.APPROVAL_REQUESTED:
        request = data.get("request") or {}
        action = request.get("action") or {}
        attrs = {
            "railgraph.approval.request_id": str(data.get("request_id")),
            "railgraph.approval.reason": str(request.get("reason")),
            "railgraph.approval.reviewers": [str(r) for r in request.get("reviewers") or []],
        }
        if action:
            attrs["railgraph.approval.tool"] = str(action.get("tool"))
            attrs["railgraph.approval.tier"] = str(action.get("tier"))
            attrs["railgraph.approval.policy"] = str(action.get("policy"))
            attrs["railgraph.approval.args"] = as_json(action.get("args"))
        if request.get("expires_after_s") is not None:
            attrs["railgraph.approval.expires_after_s"] = float(request["expires_after_s"])
    elif event.kind in (NodeEventKind.APPROVAL_DECIDED, NodeEventKind.EFFECT_REVIEWED):
        attrs = {
            "railgraph.approval.decision": str(data.get("decision")),
            "railgraph.approval.reviewer": str(data.get("by")),
        }
        if data.get("reason"):
            attrs["railgraph.approval.reason"] = str(data["reason"])
        if data.get("args"):
            attrs["railgraph.approval.args"] = as_json(data["args"])
        if data.get("idempotency_key"):
            attrs["railgraph.tool.idempotency_key"] = str(data["idempotency_key"])
    else:
        attrs = {
            f"railgraph.{key}": value
            if isinstance(value, str | bool | int | float)
            else as_json(value)
            for key, value in sorted(redact(data).items())
            if value is not None
        }
    return PlannedEvent(event.kind, event.at, attrs)
