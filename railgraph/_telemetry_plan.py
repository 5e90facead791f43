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

from collections.abc import Mapping, Sequence
from typing import Any

from railgraph._spec import GraphSpec
from railgraph._telemetry_spans import (
    PlannedEvent,
    PlannedSpan,
    PolicyOf,
    SpanAttr,
    as_json,
    chat_span,
    kind_attributes,
    run_attributes,
    span_event,
    tool_span,
)
from railgraph.checkpointers import EventRecord, RunRecord
from railgraph.vocab import NodeEventKind, RunEventKind, RunStatus, event_kind, superseded

__all__ = ["TRACE_EXPORTED", "plan_segment"]

TRACE_EXPORTED = RunEventKind.TRACE_EXPORTED
"""Run event kind the exporter appends after a segment: its trace id, root span id and the
last event it covered, so the next segment starts after it and links back to it."""

_RUN_ENDS = {
    RunEventKind.RUN_FINISHED,
    RunEventKind.RUN_FAILED,
    RunEventKind.BUDGET_EXHAUSTED,
    RunEventKind.CANCEL_SETTLED,
}


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
        attributes=run_attributes(record, len(markers) + 1),
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
    if record.status == RunStatus.FAILED:
        root.error = record.error or "failed"
    return root


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
    finished = [e.node for e in history if e.kind == NodeEventKind.NODE_FINISHED and e.node]
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
    data, kind, node = event.data, event_kind(event.kind, event.data), event.node
    if superseded(event.kind, data):
        return  # an older release's node-level copy of the run's budget_exhausted
    if kind == RunEventKind.RUN_STARTED:
        root.attributes["input.value"] = as_json(data.get("input"))
        root.attributes["input.mime_type"] = "application/json"
        return
    if node is None or kind in _RUN_ENDS or kind == RunEventKind.RUN_CANCELLED:
        _run_event(root, event, open_spans, record)
        return
    span = open_spans.get(node)
    if span is None or kind == NodeEventKind.NODE_STARTED:
        # Only a parked gate (and any node of an older release) writes node_started; for
        # the others, and a node that failed, the spec knows the kind.
        started = kind == NodeEventKind.NODE_STARTED
        node_kind = str(data.get("kind", "")) if started else kinds.get(node, "")
        span = _node_span(node, node_kind, event, history, predecessors, record.graph_name)
        root.children.append(span)
        open_spans[node] = span
    span.end = max(span.end, event.at)
    if kind == NodeEventKind.NODE_STARTED:
        return
    if kind == NodeEventKind.NODE_FINISHED:
        # A node's start is its node_finished's `at` less its duration (older releases
        # wrote a node_started too, which opened the span at the same moment).
        span.start = min(span.start, event.at - float(data.get("duration_ms", 0.0)) / 1000)
        _finish_node(span, data)
        del open_spans[node]
    elif kind == NodeEventKind.LLM_CALL:
        span.children.append(chat_span(event))
    elif kind == NodeEventKind.TOOL_CALL:
        span.children.append(tool_span(event, policy_of))
    elif kind == NodeEventKind.VERDICT:
        passed = all(bool(v.get("passed")) for v in data.get("verdicts") or [])
        span.attributes.update(
            {
                "railgraph.gate.outcome": str(data.get("outcome")),
                "railgraph.verify.attempt": int(data.get("attempt", 1)),
                "railgraph.verify.passed": passed,
                "railgraph.verify.verdicts": as_json(data.get("verdicts")),
            }
        )
    elif kind == NodeEventKind.BUDGET_CHECK:
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
    elif kind == NodeEventKind.ROUTE:
        span.attributes["railgraph.gate.outcome"] = str(data.get("outcome"))
        span.attributes["railgraph.route.target"] = str(data.get("target"))
    else:
        span.events.append(span_event(event))


def _node_span(
    node: str,
    node_kind: str,
    event: EventRecord,
    history: Sequence[EventRecord],
    predecessors: Mapping[str, set[str]],
    graph: str,
) -> PlannedSpan:
    start = event.at
    if event.kind in (NodeEventKind.TOOL_CALL, NodeEventKind.LLM_CALL):
        start -= float(event.data.get("latency_ms", 0.0)) / 1000
    elif event.kind == NodeEventKind.NODE_FINISHED:
        start -= float(event.data.get("duration_ms", 0.0)) / 1000
    attrs: dict[str, SpanAttr] = {
        "railgraph.node.id": node,
        "graph.node.id": node,
        "graph.node.parent_id": _parent_node(node, history, predecessors, graph),
    }
    if node_kind:
        attrs.update(kind_attributes(node_kind))
    return PlannedSpan(
        name=f"{node_kind or 'node'} {node}", start=start, end=event.at, attributes=attrs
    )


def _finish_node(span: PlannedSpan, data: Mapping[str, Any]) -> None:
    node_kind = str(data.get("kind", ""))
    if "railgraph.node.kind" not in span.attributes and node_kind:
        span.attributes.update(kind_attributes(node_kind))
        span.name = f"{node_kind} {span.attributes['railgraph.node.id']}"
    outcome = data.get("outcome")
    span.attributes["railgraph.node.outcome"] = str(outcome) if outcome else "done"
    span.attributes["railgraph.node.duration_ms"] = float(data.get("duration_ms", 0.0))
    if data.get("status"):
        span.attributes["railgraph.node.status"] = str(data["status"])
    if data.get("usage"):
        span.attributes["railgraph.node.usage"] = as_json(data["usage"])


def _run_event(
    root: PlannedSpan, event: EventRecord, open_spans: dict[str, PlannedSpan], record: RunRecord
) -> None:
    data = event.data
    kind = event_kind(event.kind, data)
    if kind == RunEventKind.RUN_CANCELLED:
        root.events.append(
            PlannedEvent(
                RunEventKind.RUN_CANCELLED.value,
                event.at,
                {
                    "railgraph.cancel.by": str(data.get("by")),
                    "railgraph.cancel.reason": str(data.get("reason")),
                },
            )
        )
        return
    if kind in _RUN_ENDS:
        failed_run = kind == RunEventKind.RUN_FAILED
        status = str(data.get("status") or (RunStatus.FAILED.value if failed_run else event.kind))
        root.attributes["railgraph.run.outcome"] = status
        if record.result is not None:
            root.attributes["output.value"] = as_json(record.result)
            root.attributes["output.mime_type"] = "application/json"
        failed = open_spans.pop(event.node, None) if event.node else None
        if failed is not None:
            failed.attributes["railgraph.node.outcome"] = "error"
            failed.end = max(failed.end, event.at)
            if failed_run or status == RunStatus.FAILED:
                failed.error = str(data.get("error"))
        return
    root.events.append(span_event(event))
