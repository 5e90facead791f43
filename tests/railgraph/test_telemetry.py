"""OpenTelemetry export: exact span trees of the reference graphs through the SDK's in-memory
exporter, with the attributes GenAI conventions, Phoenix and Langfuse read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id
from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, InputError, Runner
from railgraph._telemetry_plan import TRACE_EXPORTED
from railgraph._telemetry_sdk import tracer_provider_from_env
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs._services import ServiceCatalogue
from railgraph.graphs.incident import make_graph as make_incident
from railgraph.graphs.refund import make_graph as make_refund
from railgraph.graphs.support_agent import make_graph as make_support_agent
from railgraph.nodes import ToolRegistry


def in_memory() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider that keeps every finished span in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def tree(spans: Sequence[ReadableSpan]) -> list[str]:
    """One line per span, indented under its parent; siblings in the order they were emitted.

    A span is followed by ``[event, ...]`` when it has span events, and by ``!`` when its
    status is an error.
    """
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent, []).append(span)
    # Exported on end, so a parent follows its children: emission order is start order.
    order = {id(s): i for i, s in enumerate(spans)}
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        kids = children.get(parent, [])
        for span in sorted(kids, key=lambda s: (s.start_time or 0, order[id(s)])):
            line = "  " * depth + span.name
            if span.events:
                line += " [" + ", ".join(e.name for e in span.events) + "]"
            if span.status.status_code.name == "ERROR":
                line += " !"
            lines.append(line)
            assert span.context is not None
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return lines


def find(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    """The spans called ``name``, in emission order."""
    return [s for s in spans if s.name == name]


def attrs(span: ReadableSpan, *keys: str) -> dict[str, Any]:
    """The span's attributes named ``keys`` (missing ones as None)."""
    found = dict(span.attributes or {})
    return {k: found.get(k) for k in keys}


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    return in_memory()


@pytest.fixture
async def traced(
    tmp_path: Path, fake_time: Any, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> AsyncIterator[Runner]:
    async with Runner.open(
        tmp_path / "rg.db", clock=fake_time.clock, timer=fake_time.timer, tracer_provider=spans[0]
    ) as runner:
        yield runner


def take(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    finished = exporter.get_finished_spans()
    exporter.clear()
    return finished


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [span] = find(spans, name)
    return span


def root_of(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    [root] = [s for s in spans if s.parent is None]
    return root


REFUND_HEAD = [
    "invoke_workflow refund",
    "  tool load_ticket",
    "    execute_tool load_ticket",
    "  llm classify",
    "    chat scripted-support-model",
    "  route by_intent",
    "  tool lookup_invoice",
    "    execute_tool lookup_invoice",
    "  verify verify_invoice",
    "  budget budget",
]


async def test_a_small_refund_is_one_trace_with_node_chat_and_tool_spans(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    graph = make_refund(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    outcome = await traced.start(graph, {"ticket_id": "T-1001"}, started_by="carol")
    exported = take(spans[1])

    assert outcome.status == "completed"
    assert tree(exported) == [
        *REFUND_HEAD,
        "  route by_amount",
        "  tool create_refund",
        "    execute_tool create_refund",
        "  tool notify_customer",
        "    execute_tool notify_customer",
    ]
    assert len({s.context.trace_id for s in exported if s.context}) == 1
    root = root_of(exported)
    assert attrs(
        root,
        "gen_ai.operation.name",
        "gen_ai.agent.name",
        "gen_ai.conversation.id",
        "session.id",
        "langfuse.session.id",
        "langfuse.user.id",
        "openinference.span.kind",
        "langfuse.observation.type",
        "graph.node.id",
        "railgraph.run.status",
        "railgraph.run.outcome",
        "railgraph.run.segment",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    ) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.agent.name": "refund",
        "gen_ai.conversation.id": outcome.run_id,
        "session.id": outcome.run_id,
        "langfuse.session.id": outcome.run_id,
        "langfuse.user.id": "carol",
        "openinference.span.kind": "AGENT",
        "langfuse.observation.type": "agent",
        "graph.node.id": "refund",
        "railgraph.run.status": "completed",
        "railgraph.run.outcome": "completed",
        "railgraph.run.segment": 1,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 2,
    }
    assert root.attributes is not None
    assert json.loads(str(root.attributes["input.value"])) == dict.fromkeys(
        ("intent", "invoice", "notification", "refund", "ticket")
    ) | {"ticket_id": "T-1001"}
    assert list(root.links) == []

    chat = one(exported, "chat scripted-support-model")
    cost = (120 * 0.15 + 2 * 0.60) / 1e6
    assert attrs(
        chat,
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cost",
        "openinference.span.kind",
        "llm.token_count.total",
        "langfuse.observation.type",
    ) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "scripted-support-model",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.usage.cost": pytest.approx(cost),
        "openinference.span.kind": "LLM",
        "llm.token_count.total": 122,
        "langfuse.observation.type": "generation",
    }

    events = await traced.store.list_events(outcome.run_id)
    [refund_call] = [e for e in events if e.kind == "tool_call" and e.node == "create_refund"]
    refund = one(exported, "execute_tool create_refund")
    assert attrs(
        refund,
        "gen_ai.operation.name",
        "gen_ai.tool.name",
        "gen_ai.tool.call.id",
        "railgraph.tool.tier",
        "railgraph.tool.policy",
        "railgraph.tool.idempotency_key",
        "railgraph.tool.ledger",
        "railgraph.tool.status",
        "openinference.span.kind",
        "langfuse.observation.type",
    ) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "create_refund",
        "gen_ai.tool.call.id": refund_call.data["idempotency_key"],
        "railgraph.tool.tier": "irreversible",
        "railgraph.tool.policy": "auto",  # 42.50 is under the auto-approval limit
        "railgraph.tool.idempotency_key": refund_call.data["idempotency_key"],
        "railgraph.tool.ledger": "executed",
        "railgraph.tool.status": "ok",
        "openinference.span.kind": "TOOL",
        "langfuse.observation.type": "tool",
    }
    assert refund.attributes is not None
    assert json.loads(str(refund.attributes["gen_ai.tool.call.arguments"])) == {
        "amount": 42.5,
        "invoice_id": "INV-5001",
        "ticket_id": "T-1001",
    }
    assert (
        json.loads(str(refund.attributes["gen_ai.tool.call.result"])) == refund_call.data["result"]
    )
    # A read tool has no effect, so no key and no ledger entry.
    assert attrs(
        one(exported, "execute_tool load_ticket"),
        "railgraph.tool.tier",
        "railgraph.tool.ledger",
        "gen_ai.tool.call.id",
    ) == {"railgraph.tool.tier": "read", "railgraph.tool.ledger": None, "gen_ai.tool.call.id": None}

    verify = one(exported, "verify verify_invoice")
    assert attrs(
        verify,
        "railgraph.node.kind",
        "railgraph.gate.outcome",
        "railgraph.verify.passed",
        "railgraph.verify.attempt",
        "openinference.span.kind",
        "langfuse.observation.type",
    ) == {
        "railgraph.node.kind": "verify",
        "railgraph.gate.outcome": "pass",
        "railgraph.verify.passed": True,
        "railgraph.verify.attempt": 1,
        "openinference.span.kind": "EVALUATOR",
        "langfuse.observation.type": "evaluator",
    }
    assert verify.attributes is not None
    [verdict] = [e for e in events if e.kind == "verdict"]
    assert (
        json.loads(str(verify.attributes["railgraph.verify.verdicts"])) == verdict.data["verdicts"]
    )
    assert attrs(
        one(exported, "budget budget"),
        "railgraph.gate.outcome",
        "railgraph.budget.needs",
        "langfuse.observation.type",
    ) == {
        "railgraph.gate.outcome": "within",
        "railgraph.budget.needs": '{"tool_calls":2}',
        "langfuse.observation.type": "guardrail",
    }
    # Phoenix draws the agent graph from these: each node names the node the run came from.
    parents = {
        str(a["graph.node.id"]): a["graph.node.parent_id"]
        for s in exported
        if s.attributes and "railgraph.node.id" in s.attributes
        for a in [s.attributes]
    }
    assert parents == {
        "load_ticket": "refund",
        "classify": "load_ticket",
        "by_intent": "classify",
        "lookup_invoice": "by_intent",
        "verify_invoice": "lookup_invoice",
        "budget": "verify_invoice",
        "by_amount": "budget",
        "create_refund": "by_amount",
        "notify_customer": "create_refund",
    }
    # The trace agrees with the stored path, span for node visit.
    assert [
        s.attributes["railgraph.node.id"]
        for s in sorted(exported, key=lambda s: s.start_time or 0)
        if s.attributes and "railgraph.node.id" in s.attributes
    ] == [e.node for e in events if e.kind == "node_finished"]
    assert [
        (e.kind, e.data["trace_id"], e.data["span_id"]) for e in events if e.kind == TRACE_EXPORTED
    ] == [
        (
            TRACE_EXPORTED,
            format_trace_id(root.context.trace_id),
            format_span_id(root.context.span_id),
        )
    ]


async def test_a_reviewed_refund_is_two_traces_linked_with_the_review_as_span_events(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    graph = make_refund(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    paused = await traced.start(graph, {"ticket_id": "T-1002"}, started_by="carol")
    first = take(spans[1])

    assert paused.status == "paused"
    assert tree(first) == [
        *REFUND_HEAD,
        "  route by_amount",
        "  approve approve_refund [approval_requested]",
    ]
    gate = one(first, "approve approve_refund")
    assert attrs(gate, "railgraph.node.outcome", "openinference.span.kind") == {
        "railgraph.node.outcome": "waiting",
        "openinference.span.kind": "GUARDRAIL",
    }
    [asked] = gate.events
    assert dict(asked.attributes or {}) == {
        "railgraph.approval.request_id": paused.pending[0].request_id,
        "railgraph.approval.reason": "refund of $480.00 is over the $100.00 limit",
        "railgraph.approval.reviewers": (),
        "railgraph.approval.tool": "create_refund",
        "railgraph.approval.tier": "irreversible",
        "railgraph.approval.policy": "conditional",
        "railgraph.approval.args": '{"amount":480.0,"invoice_id":"INV-5002","ticket_id":"T-1002"}',
    }
    assert attrs(root_of(first), "railgraph.run.status", "railgraph.run.outcome") == {
        "railgraph.run.status": "paused",
        "railgraph.run.outcome": None,
    }

    done = await traced.approve(paused.run_id, by="dave")
    second = take(spans[1])

    assert done.status == "completed"
    assert tree(second) == [
        "invoke_workflow refund",
        "  approve approve_refund [approval_decided]",
        "  tool create_refund",
        "    execute_tool create_refund",
        "  tool notify_customer",
        "    execute_tool notify_customer",
    ]
    root1, root2 = root_of(first), root_of(second)
    assert root1.context is not None and root2.context is not None
    assert root2.context.trace_id != root1.context.trace_id
    [link] = root2.links
    assert (link.context.trace_id, link.context.span_id) == (
        root1.context.trace_id,
        root1.context.span_id,
    )
    assert attrs(root2, "railgraph.run.segment", "session.id") == {
        "railgraph.run.segment": 2,
        "session.id": paused.run_id,
    }
    [decided] = one(second, "approve approve_refund").events
    assert dict(decided.attributes or {}) == {
        "railgraph.approval.decision": "approve",
        "railgraph.approval.reviewer": "dave",
    }
    assert attrs(
        one(second, "approve approve_refund"), "railgraph.node.outcome", "graph.node.parent_id"
    ) == {"railgraph.node.outcome": "approved", "graph.node.parent_id": "by_amount"}
    assert attrs(
        one(second, "execute_tool create_refund"), "railgraph.tool.policy", "railgraph.tool.ledger"
    ) == {"railgraph.tool.policy": "approve", "railgraph.tool.ledger": "executed"}


async def test_incident_parallel_branches_and_two_reviews_make_three_traces(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    graph = make_incident(catalogue=ServiceCatalogue(tmp_path / "services.db"))
    paused = await traced.start(graph, {"service": "checkout"}, started_by="carol")
    first = take(spans[1])

    lines = tree(first)
    # The three probes run in parallel; their spans come in the order they finished.
    probes = sorted(zip(lines[3:9:2], lines[4:9:2], strict=True))
    assert probes == [
        ("  tool deploys", "    execute_tool recent_deploys"),
        ("  tool logs", "    execute_tool read_logs"),
        ("  tool metrics", "    execute_tool read_metrics"),
    ]
    assert lines[:3] + lines[9:] == [
        "invoke_workflow incident",
        "  tool describe",
        "    execute_tool describe_service",
        "  llm diagnose",
        "    chat scripted-sre-model",
        "  tool open_incident",
        "    execute_tool open_incident",
        "  budget budget",
        "  step plan",
        "  approve approve_rollback [approval_requested]",
        "  approve approve_status_page [approval_requested]",
    ]
    parents = {
        s.attributes["graph.node.id"]: s.attributes["graph.node.parent_id"]
        for s in first
        if s.attributes and "railgraph.node.id" in s.attributes
    }
    assert {n: parents[n] for n in ("logs", "metrics", "deploys")} == dict.fromkeys(
        ("logs", "metrics", "deploys"), "describe"
    )
    # The join comes from whichever probe finished last.
    assert parents["diagnose"] in {"logs", "metrics", "deploys"}
    assert (parents["approve_rollback"], parents["approve_status_page"]) == ("plan", "plan")

    [post] = [p for p in paused.pending if p.node == "approve_status_page"]
    await traced.approve(paused.run_id, by="alice", request_id=post.request_id)
    second = take(spans[1])
    assert tree(second) == [
        "invoke_workflow incident",
        "  approve approve_status_page [approval_decided]",
        "  tool status_page",
        "    execute_tool post_status_page",
        "  step status_done",
    ]
    done = await traced.approve(paused.run_id, by="bob")
    third = take(spans[1])

    assert done.status == "completed"
    assert tree(third) == [
        "invoke_workflow incident",
        "  approve approve_rollback [approval_decided]",
        "  tool rollback",
        "    execute_tool rollback",
        "  tool check_recovery",
        "    execute_tool read_metrics",
        "  verify verify_recovery",
        "  tool resolve",
        "    execute_tool resolve_incident",
    ]
    assert attrs(
        one(third, "execute_tool rollback"), "railgraph.tool.tier", "railgraph.tool.policy"
    ) == {"railgraph.tool.tier": "irreversible", "railgraph.tool.policy": "approve"}
    assert attrs(one(third, "tool check_recovery"), "graph.node.parent_id") == {
        "graph.node.parent_id": "rollback"
    }
    [r1, r2, r3] = [root_of(s) for s in (first, second, third)]
    assert [[(lk.context.trace_id, lk.context.span_id) for lk in r.links] for r in (r2, r3)] == [
        [(r1.context.trace_id, r1.context.span_id)],
        [(r2.context.trace_id, r2.context.span_id)],
    ]
    # Each segment exported once: three markers, and nothing left to export.
    events = await traced.store.list_events(paused.run_id)
    assert [e.kind for e in events].count(TRACE_EXPORTED) == 3
    assert traced.telemetry is not None
    await traced.telemetry.export(traced.store, paused.run_id, graph)
    assert take(spans[1]) == ()


class Secretive(BaseModel):
    account: str
    api_key: str


class Done(BaseModel):
    ok: bool


class KeyState(BaseModel):
    account: str
    password: str = "hunter2"
    done: bool = False


def keyed_graph(*, fail: bool = False) -> Any:
    """A write tool called twice with the same arguments in one step: the second is replayed."""
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def store_key(args: Secretive) -> Done:
        if fail:
            raise RuntimeError("the vault is sealed")
        return Done(ok=True)

    async def twice(state: KeyState, ctx: Any) -> dict[str, Any]:
        args = {"account": state.account, "api_key": "sk-live-123"}
        await ctx.call_tool("store_key", args)
        await ctx.call_tool("store_key", args)
        return {"done": True}

    g = GraphBuilder("keys", KeyState, tools=tools)
    g.step("save", twice)
    g.edge(START, "save").edge("save", END)
    return g.build()


async def test_a_replayed_effect_says_so_and_secrets_never_reach_a_span(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    outcome = await traced.start(keyed_graph(), {"account": "acme", "password": "hunter2"})
    exported = take(spans[1])

    assert outcome.status == "completed"
    assert tree(exported) == [
        "invoke_workflow keys",
        "  step save",
        "    execute_tool store_key",
        "    execute_tool store_key",
    ]
    first, second = find(exported, "execute_tool store_key")
    keys = ("railgraph.tool.ledger", "railgraph.tool.status", "gen_ai.tool.call.arguments")
    assert [attrs(first, *keys), attrs(second, *keys)] == [
        {
            "railgraph.tool.ledger": "executed",
            "railgraph.tool.status": "ok",
            "gen_ai.tool.call.arguments": '{"account":"acme","api_key":"[redacted]"}',
        },
        {
            "railgraph.tool.ledger": "replayed",
            "railgraph.tool.status": "replayed",
            "gen_ai.tool.call.arguments": '{"account":"acme","api_key":"[redacted]"}',
        },
    ]
    text = json.dumps([dict(s.attributes or {}) for s in exported], default=str)
    assert "sk-live-123" not in text and "hunter2" not in text
    assert json.loads(str(root_of(exported).attributes["input.value"]))["password"] == (  # type: ignore[index]
        "[redacted]"
    )


async def test_a_failed_tool_marks_its_spans_and_the_run_as_errors(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    outcome = await traced.start(keyed_graph(fail=True), {"account": "acme"})
    exported = take(spans[1])

    assert outcome.status == "failed"
    assert tree(exported) == [
        "invoke_workflow keys !",
        "  step save !",
        "    execute_tool store_key !",
    ]
    assert attrs(one(exported, "step save"), "railgraph.node.outcome", "railgraph.node.kind") == {
        "railgraph.node.outcome": "error",
        "railgraph.node.kind": "step",
    }
    assert attrs(one(exported, "execute_tool store_key"), "railgraph.tool.ledger") == {
        "railgraph.tool.ledger": "failed"
    }
    root = root_of(exported)
    assert root.status.description == outcome.reason
    assert attrs(root, "railgraph.run.outcome") == {"railgraph.run.outcome": "failed"}


async def test_cancelling_a_paused_run_exports_the_cancellation(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    graph = make_refund(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    paused = await traced.start(graph, {"ticket_id": "T-1002"})
    take(spans[1])

    await traced.cancel(paused.run_id, by="erin", reason="duplicate ticket")
    exported = take(spans[1])

    assert tree(exported) == ["invoke_workflow refund [run_cancelled]"]
    root = root_of(exported)
    assert dict(root.events[0].attributes or {}) == {
        "railgraph.cancel.by": "erin",
        "railgraph.cancel.reason": "duplicate ticket",
    }
    assert attrs(root, "railgraph.run.status") == {"railgraph.run.status": "cancelled"}


async def test_telemetry_is_off_by_default_and_leaves_the_trace_untouched(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAILGRAPH_OTEL", raising=False)
    graph = make_refund(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    outcome = await runner.start(graph, {"ticket_id": "T-1001"})

    assert runner.telemetry is None
    kinds = [e.kind for e in await runner.store.list_events(outcome.run_id)]
    assert TRACE_EXPORTED not in kinds


def test_railgraph_otel_configures_the_sdk_from_otel_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert tracer_provider_from_env({}) is None
    assert tracer_provider_from_env({"RAILGRAPH_OTEL": "0"}) is None
    provider = tracer_provider_from_env(
        {
            "RAILGRAPH_OTEL": "1",
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_SERVICE_NAME": "refunds",
        }
    )
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "refunds"
    provider.get_tracer("t").start_span("hello").end()
    provider.shutdown()
    printed = json.loads(capsys.readouterr().out)
    assert (printed["name"], printed["resource"]["attributes"]["service.name"]) == (
        "hello",
        "refunds",
    )
    with pytest.raises(InputError, match=r"OTEL_TRACES_EXPORTER lists 'zipkin'.*otlp, console"):
        tracer_provider_from_env({"RAILGRAPH_OTEL": "1", "OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(InputError, match="OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported"):
        tracer_provider_from_env({"RAILGRAPH_OTEL": "1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


class BrokenProvider(TracerProvider):
    """A provider whose tracer cannot start spans (a misconfigured exporter, say)."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        class Broken:
            def start_span(self, *args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("collector misconfigured")

        return Broken()


async def test_a_failing_exporter_never_changes_the_runs_outcome(
    tmp_path: Path, fake_time: Any, caplog: pytest.LogCaptureFixture
) -> None:
    graph = make_refund(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    async with Runner.open(
        tmp_path / "rg.db",
        clock=fake_time.clock,
        timer=fake_time.timer,
        tracer_provider=BrokenProvider(),
    ) as runner:
        outcome = await runner.start(graph, {"ticket_id": "T-1001"})
        events = await runner.store.list_events(outcome.run_id)

    assert outcome.status == "completed"
    assert TRACE_EXPORTED not in [e.kind for e in events]
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (
            "railgraph.telemetry",
            f"could not export run {outcome.run_id} as OpenTelemetry spans",
        )
    ]


async def test_an_agent_loop_is_one_span_per_step_with_its_chats_tools_and_calls(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    graph = make_support_agent(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    outcome = await traced.start(graph, {"ticket_id": "T-1001"}, started_by="carol")
    exported = take(spans[1])

    assert outcome.status == "completed"
    # One agent span per step: a model turn (its chat span and an agent_turn event), or the
    # calls of that turn (an execute_tool span per call that ran, an agent_call event per
    # call, the blocked delete_customer included).
    assert tree(exported) == [
        "invoke_workflow support_agent",
        "  agent support [agent_turn]",
        "    chat scripted-support-model",
        "  agent support [agent_call]",
        "    execute_tool load_ticket",
        "  agent support [agent_turn]",
        "    chat scripted-support-model",
        "  agent support [agent_call, agent_call]",
        "    execute_tool lookup_invoice",
        "  agent support [agent_turn]",
        "    chat scripted-support-model",
        "  agent support [agent_call]",
        "    execute_tool create_refund",
        "  agent support [agent_turn]",
        "    chat scripted-support-model",
        "  agent support [agent_call]",
        "    execute_tool notify_customer",
        "  agent support [agent_turn]",
        "    chat scripted-support-model",
    ]
    assert len({s.context.trace_id for s in exported if s.context}) == 1
    steps = find(exported, "agent support")
    assert [attrs(s, "railgraph.node.outcome")["railgraph.node.outcome"] for s in steps] == [
        *["continue"] * 8,
        "answered",
    ]
    assert attrs(
        steps[0],
        "railgraph.node.kind",
        "openinference.span.kind",
        "langfuse.observation.type",
        "graph.node.id",
        "graph.node.parent_id",
    ) == {
        "railgraph.node.kind": "agent",
        "openinference.span.kind": "AGENT",
        "langfuse.observation.type": "agent",
        "graph.node.id": "support",
        "graph.node.parent_id": "support_agent",
    }

    # The chat spans come from the agent's llm_call events, one per model turn.
    events = await traced.store.list_events(outcome.run_id)
    llm_calls = [e for e in events if e.kind == "llm_call"]
    chats = find(exported, "chat scripted-support-model")
    assert len(llm_calls) == len(chats) == 5
    assert [attrs(c, "gen_ai.usage.input_tokens")["gen_ai.usage.input_tokens"] for c in chats] == [
        e.data["input_tokens"] for e in llm_calls
    ]

    # The execute_tool spans come from its tool_call events: what ran, with the ledger.
    [refund_call] = [
        e for e in events if e.kind == "tool_call" and e.data["tool"] == "create_refund"
    ]
    assert refund_call.node == "support"
    refund = one(exported, "execute_tool create_refund")
    assert attrs(
        refund,
        "gen_ai.tool.name",
        "gen_ai.tool.call.id",
        "railgraph.tool.tier",
        "railgraph.tool.policy",
        "railgraph.tool.ledger",
        "railgraph.tool.status",
    ) == {
        "gen_ai.tool.name": "create_refund",
        "gen_ai.tool.call.id": refund_call.data["idempotency_key"],
        "railgraph.tool.tier": "irreversible",
        "railgraph.tool.policy": "auto",  # 42.50 is under the approval rule's $100
        "railgraph.tool.ledger": "executed",
        "railgraph.tool.status": "ok",
    }
    assert refund.attributes is not None
    assert json.loads(str(refund.attributes["gen_ai.tool.call.arguments"])) == {
        "amount": 42.5,
        "invoice_id": "INV-5001",
        "ticket_id": "T-1001",
    }
    assert [s.name for s in find(exported, "execute_tool delete_customer")] == []

    # The blocked call ran nothing: it is an agent_call event on its step, with the rule.
    [_, blocked] = steps[3].events
    assert blocked.name == "agent_call"
    assert dict(blocked.attributes or {}) == {
        "railgraph.turn": 2,
        "railgraph.call_id": "call_2_1",
        "railgraph.tool": "delete_customer",
        "railgraph.args": '{"customer_id":"C-1"}',
        "railgraph.status": "blocked",
        "railgraph.decision": "blocked",
        "railgraph.rule": "tool delete_customer → block",
        "railgraph.latency_ms": 0.0,
    }


class Slow(BaseModel):
    n: int = 0


async def test_a_node_span_starts_its_duration_before_node_finished(
    traced: Runner, spans: tuple[TracerProvider, InMemorySpanExporter], fake_time: Any
) -> None:
    # A node that finishes writes node_finished alone: its span's start is derived.
    def slow(state: Slow) -> dict[str, Any]:
        fake_time.advance(2.5)
        return {"n": state.n + 1}

    g = GraphBuilder("slow", Slow)
    g.step("work", slow)
    g.edge(START, "work").edge("work", END)
    outcome = await traced.start(g.build(), {})
    span = one(take(spans[1]), "step work")
    events = await traced.store.list_events(outcome.run_id)

    assert [e.kind for e in events][:3] == ["run_started", "node_finished", "run_finished"]
    assert (span.start_time, span.end_time) == (1_700_000_000 * 10**9, 1_700_000_002_500_000_000)
