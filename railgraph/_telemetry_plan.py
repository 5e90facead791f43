"""Turn a run's stored events into a tree of spans to export (pure data, no OpenTelemetry).

A run is exported one *segment* at a time: everything the store recorded since the last
export (a start up to its first pause, a resume up to the next pause or the end). Each segment
is one trace whose root is the run span ``invoke_workflow {graph}``; under it a span per node
visit, and under those a ``chat {model}`` span per model call and an ``execute_tool {tool}``
span per tool attempt. Gate outcomes, verdicts and budget checks are attributes of the gate's
span; review requests and decisions are events on the approve gate's span.

The attribute names follow the OpenTelemetry GenAI conventions (``gen_ai.*``), and add what
Arize Phoenix (OpenInference: ``openinference.span.kind``, ``graph.node.*``, ``session.id``,
``llm.*``) and Langfuse (``langfuse.observation.type``, ``langfuse.session.id``) read to draw
agent graphs. Everything comes from the events `railgraph show` prints, so the two agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkpointers import EventRecord, RunRecord
from railgraph._spec import GraphSpec

__all__ = [
    "TRACE_EXPORTED",
    "PlannedEvent",
    "PlannedSpan",
    "SpanAttr",
    "plan_segment",
    "redact",
]

TRACE_EXPORTED = "trace_exported"
"""Run event kind the exporter appends after a segment: its trace id, root span id and the
last event it covered, so the next segment starts after it and links back to it."""

SpanAttr = str | bool | int | float | Sequence[str]
"""An attribute value OpenTelemetry accepts (the ones railgraph uses)."""

PolicyOf = Callable[[str, Mapping[str, Any]], str | None]
"""What the graph's policy decides for a call of a tool with some arguments, if known."""

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(?i)(^|[_\-.])(api[_\-]?key|token|access[_\-]?token|password|passwd|secret|"
    r"authorization|auth|credentials?|cookie|private[_\-]?key)($|[_\-.])"
)
_MAX_TEXT = 4096

_OPENINFERENCE = {
    "step": "CHAIN",
    "llm": "CHAIN",
    "tool": "CHAIN",
    "route": "CHAIN",
    "verify": "EVALUATOR",
    "budget": "GUARDRAIL",
    "approve": "GUARDRAIL",
}
_LANGFUSE = {
    "step": "chain",
    "llm": "chain",
    "tool": "chain",
    "route": "chain",
    "verify": "evaluator",
    "budget": "guardrail",
    "approve": "guardrail",
}
_RUN_ENDS = {"run_finished", "run_failed", "budget_exhausted", "rejected", "cancelled"}


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
    """``value`` with what sits under secret-looking keys (api_key, token, password, …)
    replaced by ``[redacted]``, inside dicts and lists."""
    if isinstance(value, Mapping):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def as_json(value: Any) -> str:
    """Redacted, compact JSON text, cut to a size trace backends accept."""
    text = json.dumps(redact(value), sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def plan_segment(
    record: RunRecord,
    events: Sequence[EventRecord],
    spec: GraphSpec | None,
    policy_of: PolicyOf | None = None,
) -> PlannedSpan | None:
    """The span tree of the run's events since the last export, or ``None`` if none are new.

    Args:
        record: The run as stored now (status, usage, result).
        events: All of the run's events, in order.
        spec: The designed graph, for the nodes' predecessors; ``None`` if unknown.
        policy_of: The graph's policy, to name the decision on each tool call.
    """
    markers = [i for i, e in enumerate(events) if e.kind == TRACE_EXPORTED]
    after = markers[-1] + 1 if markers else 0
    segment = [e for e in events[after:] if e.kind != TRACE_EXPORTED]
    if not segment:
        return None
    root = PlannedSpan(
        name=f"invoke_workflow {record.graph_name}",
        start=segment[0].at,
        end=max(e.at for e in segment),
        attributes=_run_attributes(record, len(markers) + 1),
        links=[
            (str(events[i].data["trace_id"]), str(events[i].data["span_id"])) for i in markers[-1:]
        ],
    )
    predecessors = _predecessors(spec)
    kinds = _kinds(spec)
    history = list(events[:after])
    open_spans: dict[str, PlannedSpan] = {}
    for event in segment:
        _apply(root, event, open_spans, history, predecessors, kinds, record, policy_of)
        history.append(event)
    for span in open_spans.values():
        # A gate parked for a person, or a node stopped by a review of an unknown effect.
        span.attributes["railgraph.node.outcome"] = "waiting"
    if record.status == "failed":
        root.error = record.error or "failed"
    return root


def _run_attributes(record: RunRecord, segment: int) -> dict[str, SpanAttr]:
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


def _predecessors(spec: GraphSpec | None) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for edge in spec.edges if spec is not None else ():
        found.setdefault(edge.target, set()).add(edge.source)
    return found


def _kinds(spec: GraphSpec | None) -> dict[str, str]:
    return {n.id: n.kind.value for n in spec.nodes} if spec is not None else {}


def _parent_node(
    node: str, history: Sequence[EventRecord], predecessors: Mapping[str, set[str]], graph: str
) -> str:
    """The node the run came from: the last finished predecessor in the spec, else the last
    finished node, else the graph itself."""
    finished = [e.node for e in history if e.kind == "node_finished" and e.node]
    before = predecessors.get(node, set())
    for candidate in reversed(finished):
        if candidate in before:
            return candidate
    return finished[-1] if finished else graph


def _apply(
    root: PlannedSpan,
    event: EventRecord,
    open_spans: dict[str, PlannedSpan],
    history: Sequence[EventRecord],
    predecessors: Mapping[str, set[str]],
    kinds: Mapping[str, str],
    record: RunRecord,
    policy_of: PolicyOf | None,
) -> None:
    data, kind, node = event.data, event.kind, event.node
    if kind == "run_started":
        root.attributes["input.value"] = as_json(data.get("input"))
        root.attributes["input.mime_type"] = "application/json"
        return
    if node is None or kind in _RUN_ENDS or kind == "run_cancelled":
        _run_event(root, event, open_spans, record)
        return
    span = open_spans.get(node)
    if span is None or kind == "node_started":
        # A node that failed left its events but no node_started: the spec knows its kind.
        node_kind = str(data.get("kind", "")) if kind == "node_started" else kinds.get(node, "")
        span = _node_span(node, node_kind, event, history, predecessors, record.graph_name)
        root.children.append(span)
        open_spans[node] = span
    span.end = max(span.end, event.at)
    if kind == "node_started":
        return
    if kind == "node_finished":
        _finish_node(span, data)
        del open_spans[node]
    elif kind == "llm_call":
        span.children.append(_chat_span(event))
    elif kind == "tool_call":
        span.children.append(_tool_span(event, policy_of))
    elif kind == "verdict":
        passed = all(bool(v.get("passed")) for v in data.get("verdicts") or [])
        span.attributes.update(
            {
                "railgraph.gate.outcome": str(data.get("outcome")),
                "railgraph.verify.attempt": int(data.get("attempt", 1)),
                "railgraph.verify.passed": passed,
                "railgraph.verify.verdicts": as_json(data.get("verdicts")),
            }
        )
    elif kind == "budget_check":
        span.attributes.update(
            {
                "railgraph.gate.outcome": str(data.get("outcome")),
                "railgraph.budget.usage": as_json(data.get("usage")),
                "railgraph.budget.limits": as_json(data.get("limits")),
                "railgraph.budget.needs": as_json(data.get("needs")),
            }
        )
        if data.get("dimension"):
            span.attributes["railgraph.budget.dimension"] = str(data["dimension"])
    elif kind == "route":
        span.attributes["railgraph.gate.outcome"] = str(data.get("outcome"))
        span.attributes["railgraph.route.target"] = str(data.get("target"))
    else:
        span.events.append(_span_event(event))


def _node_span(
    node: str,
    node_kind: str,
    event: EventRecord,
    history: Sequence[EventRecord],
    predecessors: Mapping[str, set[str]],
    graph: str,
) -> PlannedSpan:
    start = event.at
    if event.kind in ("tool_call", "llm_call"):
        start -= float(event.data.get("latency_ms", 0.0)) / 1000
    attrs: dict[str, SpanAttr] = {
        "railgraph.node.id": node,
        "graph.node.id": node,
        "graph.node.parent_id": _parent_node(node, history, predecessors, graph),
    }
    if node_kind:
        attrs.update(_kind_attributes(node_kind))
    return PlannedSpan(
        name=f"{node_kind or 'node'} {node}", start=start, end=event.at, attributes=attrs
    )


def _kind_attributes(node_kind: str) -> dict[str, SpanAttr]:
    return {
        "railgraph.node.kind": node_kind,
        "openinference.span.kind": _OPENINFERENCE.get(node_kind, "CHAIN"),
        "langfuse.observation.type": _LANGFUSE.get(node_kind, "span"),
    }


def _finish_node(span: PlannedSpan, data: Mapping[str, Any]) -> None:
    node_kind = str(data.get("kind", ""))
    if "railgraph.node.kind" not in span.attributes and node_kind:
        span.attributes.update(_kind_attributes(node_kind))
        span.name = f"{node_kind} {span.attributes['railgraph.node.id']}"
    outcome = data.get("outcome")
    span.attributes["railgraph.node.outcome"] = str(outcome) if outcome else "done"
    span.attributes["railgraph.node.duration_ms"] = float(data.get("duration_ms", 0.0))
    if data.get("status"):
        span.attributes["railgraph.node.status"] = str(data["status"])
    if data.get("usage"):
        span.attributes["railgraph.node.usage"] = as_json(data["usage"])


def _chat_span(event: EventRecord) -> PlannedSpan:
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


def _tool_span(event: EventRecord, policy_of: PolicyOf | None) -> PlannedSpan:
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


def _span_event(event: EventRecord) -> PlannedEvent:
    data = event.data
    attrs: dict[str, SpanAttr] = {}
    if event.kind == "approval_requested":
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
    elif event.kind in ("approval_decided", "effect_reviewed"):
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


def _run_event(
    root: PlannedSpan, event: EventRecord, open_spans: dict[str, PlannedSpan], record: RunRecord
) -> None:
    data = event.data
    if event.kind == "run_cancelled":
        root.events.append(
            PlannedEvent(
                "run_cancelled",
                event.at,
                {
                    "railgraph.cancel.by": str(data.get("by")),
                    "railgraph.cancel.reason": str(data.get("reason")),
                },
            )
        )
        return
    if event.kind in _RUN_ENDS:
        status = str(data.get("status") or ("failed" if event.kind == "run_failed" else event.kind))
        root.attributes["railgraph.run.outcome"] = status
        if record.result is not None:
            root.attributes["output.value"] = as_json(record.result)
            root.attributes["output.mime_type"] = "application/json"
        failed = open_spans.pop(event.node, None) if event.node else None
        if failed is not None:
            failed.attributes["railgraph.node.outcome"] = "error"
            failed.end = max(failed.end, event.at)
            if event.kind == "run_failed" or status == "failed":
                failed.error = str(data.get("error"))
        return
    root.events.append(_span_event(event))
