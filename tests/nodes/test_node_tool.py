"""Tool nodes: validated input and output, retries, timeouts, policy, idempotency, the ledger."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

from railgraph import END, START, DefinitionError, GraphBuilder, RailGraph, Runner
from railgraph.nodes import NodeContext, ToolCall, ToolPolicy, ToolRegistry, TransientToolError


class Box(BaseModel):
    x: Any = 3
    out: dict[str, Any] | None = None
    other: dict[str, Any] | None = None


class Number(BaseModel):
    x: int


class Doubled(BaseModel):
    y: int


class Log:
    """What a tool was called with, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], ToolCall]] = []

    def __len__(self) -> int:
        return len(self.calls)

    def add(self, args: BaseModel, call: ToolCall) -> None:
        self.calls.append((args.model_dump(), call))


def tool_graph(tools: ToolRegistry, tool: str, policy: ToolPolicy | None = None) -> RailGraph:
    g = GraphBuilder("tooling", Box, tools=tools, policy=policy)
    g.tool("call", tool=tool, args=lambda s: {"x": s.x}, output="out")
    g.edge(START, "call").edge("call", END)
    return g.build()


def doubler(log: Log, *, tier: str = "read", retries: int = 0) -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool(tier=tier, retries=retries)
    def double(args: Number, call: ToolCall) -> Doubled:
        """Double a number."""
        log.add(args, call)
        return Doubled(y=args.x * 2)

    return tools


async def test_read_tool_output_is_validated_and_stored(runner: Runner, dims: Any) -> None:
    log = Log()

    outcome = await runner.start(tool_graph(doubler(log), "double"), {"x": "21"})

    assert outcome.status == "completed"
    assert outcome.result["out"] == {"y": 42}
    # the argument was validated (and coerced) by the input schema before the call
    assert [args for args, _ in log.calls] == [{"x": 21}]
    assert dims(outcome.usage) == {
        "steps": 1,
        "llm_calls": 0,
        "tool_calls": 1,
        "tokens": 0,
        "cost_usd": 0,
        "wall_s": 0.0,
        "retries": 0,
    }
    events = await runner.store.list_events(outcome.run_id)
    assert [e.kind for e in events] == [
        "run_started",
        "tool_call",
        "node_finished",
        "run_finished",
    ]
    assert events[1].data == {
        "tool": "double",
        "tier": "read",
        "args": {"x": 21},
        "result": {"y": 42},
        "error": None,
        "status": "ok",
        "latency_ms": 0.0,
        "attempt": 1,
        "idempotency_key": None,
    }
    _, call = log.calls[0]
    assert (call.run_id, call.node, call.attempt, call.idempotency_key) == (
        outcome.run_id,
        "call",
        1,
        None,
    )
    # reads change nothing, so they never enter the effect ledger
    assert await runner.store.list_effects(outcome.run_id) == []


async def test_write_tool_carries_an_idempotency_key_and_is_in_the_ledger(runner: Runner) -> None:
    log = Log()

    outcome = await runner.start(tool_graph(doubler(log, tier="write"), "double"), {"x": 5})

    assert outcome.status == "completed"
    _, call = log.calls[0]
    key = call.idempotency_key
    assert isinstance(key, str)
    assert len(key) == 32
    assert int(key, 16) >= 0
    events = await runner.store.list_events(outcome.run_id)
    (event,) = [e for e in events if e.kind == "tool_call"]
    assert event.data["idempotency_key"] == key
    assert event.data["tier"] == "write"
    effects = await runner.store.list_effects(outcome.run_id)
    assert [
        (e.idempotency_key, e.node, e.tool, e.args, e.status, e.result, e.error) for e in effects
    ] == [(key, "call", "double", {"x": 5}, "completed", {"y": 10}, None)]


async def test_idempotency_key_depends_on_run_and_arguments(runner: Runner) -> None:
    log = Log()
    graph = tool_graph(doubler(log, tier="external"), "double")

    await runner.start(graph, {"x": 1}, run_id="run-a")
    await runner.start(graph, {"x": 2}, run_id="run-b")
    await runner.start(graph, {"x": 1}, run_id="run-c")

    keys = [call.idempotency_key for _, call in log.calls]
    assert len(set(keys)) == 3
    assert [len(await runner.store.list_effects(r)) for r in ("run-a", "run-b", "run-c")] == [
        1,
        1,
        1,
    ]


async def test_bad_arguments_fail_before_the_call(runner: Runner) -> None:
    log = Log()

    outcome = await runner.start(tool_graph(doubler(log), "double"), {"x": "many"})

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason.startswith(
        "ToolError: arguments for tool 'double' at node 'call' do not match Number: x: "
    )
    assert len(log) == 0
    assert outcome.usage.get("tool_calls", 0) == 0


async def test_output_schema_violation_fails_the_run(runner: Runner) -> None:
    tools = ToolRegistry()
    called: list[int] = []

    @tools.tool(tier="read")
    def sloppy(args: Number) -> Doubled:
        called.append(args.x)
        return {"y": "not a number"}  # type: ignore[return-value]

    outcome = await runner.start(tool_graph(tools, "sloppy"), {"x": 1})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "ToolError: output of tool 'sloppy' at node 'call' do not match Doubled: y: Input "
        "should be a valid integer, unable to parse string as an integer"
    )
    assert outcome.result["out"] is None
    assert called == [1]
    assert outcome.usage["tool_calls"] == 1
    assert outcome.usage["steps"] == 1


async def test_permanent_error_is_not_retried(runner: Runner) -> None:
    tools = ToolRegistry()
    calls: list[int] = []

    @tools.tool(tier="write", retries=3)
    def charge(args: Number) -> Doubled:
        calls.append(args.x)
        raise ValueError("card declined")

    outcome = await runner.start(tool_graph(tools, "charge"), {"x": 9})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "ToolError: tool 'charge' failed at node 'call': ValueError('card declined'); "
        "permanent errors are not retried (raise TransientToolError for ones worth retrying)"
    )
    assert calls == [9]
    # No retry, so none counted (usage keeps only what was spent).
    assert (outcome.usage["tool_calls"], "retries" in outcome.usage) == (1, False)
    events = await runner.store.list_events(outcome.run_id)
    assert [e.kind for e in events] == ["run_started", "tool_call", "run_failed"]
    assert events[1].data["status"] == "error"
    assert events[1].data["error"] == "ValueError('card declined')"
    assert events[2].node == "call"
    effects = await runner.store.list_effects(outcome.run_id)
    assert [(e.status, e.error) for e in effects] == [("failed", "ValueError('card declined')")]


async def test_transient_errors_are_retried_until_success(runner: Runner, dims: Any) -> None:
    tools = ToolRegistry()
    attempts: list[tuple[int, str | None]] = []

    @tools.tool(tier="write", retries=2)
    def flaky(args: Number, call: ToolCall) -> Doubled:
        attempts.append((call.attempt, call.idempotency_key))
        if call.attempt < 3:
            raise TransientToolError("503 service unavailable")
        return Doubled(y=args.x)

    outcome = await runner.start(tool_graph(tools, "flaky"), {"x": 4})

    assert outcome.status == "completed"
    assert outcome.result["out"] == {"y": 4}
    assert [a for a, _ in attempts] == [1, 2, 3]
    assert len({k for _, k in attempts}) == 1
    assert dims(outcome.usage)["tool_calls"] == 3
    assert dims(outcome.usage)["retries"] == 2
    events = await runner.store.list_events(outcome.run_id)
    calls = [e.data for e in events if e.kind == "tool_call"]
    assert [(c["attempt"], c["status"]) for c in calls] == [
        (1, "transient_error"),
        (2, "transient_error"),
        (3, "ok"),
    ]
    assert calls[0]["error"] == "TransientToolError('503 service unavailable')"
    effects = await runner.store.list_effects(outcome.run_id)
    assert [(e.status, e.result) for e in effects] == [("completed", {"y": 4})]


async def test_transient_errors_beyond_retries_fail_the_run(runner: Runner) -> None:
    tools = ToolRegistry()
    calls: list[int] = []

    @tools.tool(tier="external", retries=2)
    def down(args: Number, call: ToolCall) -> Doubled:
        calls.append(call.attempt)
        raise TransientToolError("connection reset")

    outcome = await runner.start(tool_graph(tools, "down"), {"x": 4})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "ToolError: tool 'down' at node 'call' kept failing transiently (3 attempts); raise "
        "its retries= or timeout_s= if that is expected"
    )
    assert calls == [1, 2, 3]
    assert (outcome.usage["tool_calls"], outcome.usage["retries"]) == (3, 2)
    effects = await runner.store.list_effects(outcome.run_id)
    assert [(e.status, e.error) for e in effects] == [("failed", "gave up after 3 attempts")]
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert record.usage == outcome.usage


async def test_timeout_is_transient_and_retried(runner: Runner) -> None:
    tools = ToolRegistry()
    started: list[int] = []

    @tools.tool(tier="read", timeout_s=0.05, retries=1)
    async def hang(args: Number, call: ToolCall) -> Doubled:
        started.append(call.attempt)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    outcome = await runner.start(tool_graph(tools, "hang"), {"x": 1})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "ToolError: tool 'hang' at node 'call' kept failing transiently (2 attempts); raise "
        "its retries= or timeout_s= if that is expected"
    )
    assert started == [1, 2]
    assert (outcome.usage["tool_calls"], outcome.usage["retries"]) == (2, 1)
    events = await runner.store.list_events(outcome.run_id)
    assert [e.data["status"] for e in events if e.kind == "tool_call"] == ["timeout", "timeout"]


async def test_blocked_tool_called_from_a_step_is_refused(runner: Runner) -> None:
    log = Log()
    tools = doubler(log, tier="write")

    async def sneaky(state: Box, ctx: NodeContext) -> dict[str, Any]:
        return {"other": await ctx.call_tool("double", {"x": 1})}

    g = GraphBuilder("sneaky", Box, tools=tools, policy=ToolPolicy(tools={"double": "block"}))
    g.step("sneak", sneaky).edge(START, "sneak").edge("sneak", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "PolicyError: tool 'double' is blocked by the graph's policy (node 'sneak'); change "
        "ToolPolicy(tools={'double': 'auto'}) if it should run"
    )
    assert len(log) == 0
    assert outcome.usage.get("tool_calls", 0) == 0
    assert await runner.store.list_effects(outcome.run_id) == []


async def test_blocked_by_a_conditional_rule_at_run_time(runner: Runner) -> None:
    log = Log()
    tools = doubler(log, tier="write")
    policy = ToolPolicy(tools={"double": lambda args: "block" if args["x"] > 10 else "auto"})
    g = GraphBuilder("conditional", Box, tools=tools, policy=policy)
    g.approve("review", action="call", approved="call", rejected=END)
    g.tool("call", tool="double", args=lambda s: {"x": s.x}, output="out")
    g.edge(START, "review").edge("call", END)
    graph = g.build()

    paused = await runner.start(graph, {"x": 11})
    assert paused.status == "paused"
    outcome = await runner.approve(paused.run_id, by="ann")

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason.startswith("PolicyError: tool 'double' is blocked by the graph's policy")
    assert len(log) == 0


async def test_undeclared_tool_called_from_a_step_is_refused(runner: Runner) -> None:
    log = Log()

    async def sneaky(state: Box, ctx: NodeContext) -> dict[str, Any]:
        return {"other": await ctx.call_tool("delete_everything", {"x": 1})}

    g = GraphBuilder("sneaky", Box, tools=doubler(log))
    g.step("sneak", sneaky).edge(START, "sneak").edge("sneak", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "PolicyError: tool 'delete_everything' is not declared by this graph (declared: "
        "double); register it on the graph's ToolRegistry"
    )


async def test_tool_needing_approval_without_one_is_refused_at_run_time(runner: Runner) -> None:
    """A route may skip the approve gate; the runtime still refuses the unapproved call."""
    log = Log()
    tools = doubler(log, tier="write")
    policy = ToolPolicy(tools={"double": lambda args: "approve" if args["x"] > 10 else "auto"})
    g = GraphBuilder("skip-review", Box, tools=tools, policy=policy)
    # the route wrongly sends big amounts straight to the tool
    g.route("by_size", lambda s: "direct", targets={"direct": "call", "review": "review"})
    g.approve("review", action="call", approved="call", rejected=END)
    g.tool("call", tool="double", args=lambda s: {"x": s.x}, output="out")
    g.edge(START, "by_size").edge("call", END)

    outcome = await runner.start(g.build(), {"x": 50})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "PolicyError: tool 'double' needs a person's approval under the graph's policy, but "
        "node 'call' has none for these arguments; put an approve gate before it: "
        "g.approve('approve_call', action='call', ...)"
    )
    assert len(log) == 0


def test_policy_approve_without_an_approve_gate_is_refused_at_build_time() -> None:
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def wire_money(args: Number) -> Doubled:
        return Doubled(y=0)

    with pytest.raises(DefinitionError) as info:
        tool_graph(tools, "wire_money")

    assert str(info.value) == (
        "graph 'tooling' has 1 problem:\n"
        "  - tool node 'call' calls 'wire_money' (irreversible), which the policy says needs "
        "approval (approve), but no approve gate reviews it; add g.approve('approve_call', "
        "action='call', approved='call', rejected=END) before it, or set "
        "ToolPolicy(tools={'wire_money': 'auto'})"
    )


def test_undeclared_tool_is_refused_at_build_time() -> None:
    with pytest.raises(DefinitionError) as info:
        tool_graph(doubler(Log()), "triple")

    assert str(info.value) == (
        "graph 'tooling' has 1 problem:\n"
        "  - tool node 'call' calls 'triple', which the graph does not declare (declared: "
        "double); register it on the graph's ToolRegistry"
    )


def test_tool_node_the_policy_blocks_is_refused_at_build_time() -> None:
    with pytest.raises(DefinitionError) as info:
        tool_graph(doubler(Log()), "double", ToolPolicy(tiers={"read": "block"}))

    assert "tool node 'call' calls 'double', which the graph's policy blocks" in str(info.value)
    assert "ToolPolicy(tools={'double': 'auto'})" in str(info.value)


async def test_policy_auto_override_lets_an_irreversible_tool_run(runner: Runner) -> None:
    log = Log()
    tools = doubler(log, tier="irreversible")

    outcome = await runner.start(
        tool_graph(tools, "double", ToolPolicy(tools={"double": "auto"})), {"x": 2}
    )

    assert outcome.status == "completed"
    assert len(log) == 1
    effects = await runner.store.list_effects(outcome.run_id)
    assert [e.status for e in effects] == ["completed"]


class Refund(BaseModel):
    amount: float = Field(gt=0)


def test_registry_refuses_bad_registrations() -> None:
    tools = ToolRegistry()

    def ok(args: Refund) -> Refund:
        return args

    tools.register(ok, tier="write")
    with pytest.raises(DefinitionError, match="tool 'ok' is registered twice; give one"):
        tools.register(ok, tier="write")
    with pytest.raises(DefinitionError, match="unknown tier 'dangerous'; use one of read, write"):
        tools.register(ok, tier="dangerous", name="other")

    def untyped(args):  # type: ignore[no-untyped-def]
        return args

    with pytest.raises(DefinitionError, match="needs a pydantic input schema"):
        tools.register(untyped, tier="read")
    with pytest.raises(DefinitionError, match=r"timeout_s must be > 0 and retries >= 0"):
        tools.register(ok, tier="read", name="slow", timeout_s=0)
    assert [t.name for t in tools] == ["ok"]


async def test_same_write_call_twice_in_a_run_is_replayed_from_the_ledger(runner: Runner) -> None:
    log = Log()
    tools = doubler(log, tier="write")
    g = GraphBuilder("loop", Box, tools=tools)
    g.tool("call", tool="double", args=lambda s: {"x": 3}, output="out")
    g.route("again", lambda s: "stop" if s.other else "more", targets={"more": "mark", "stop": END})
    g.step("mark", lambda s: {"other": {"seen": True}})
    g.edge(START, "call").edge("call", "again").edge("mark", "call")

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "completed"
    assert len(log) == 1
    assert outcome.result["out"] == {"y": 6}
    events = await runner.store.list_events(outcome.run_id)
    calls = [e.data for e in events if e.kind == "tool_call"]
    assert [(c["status"], c["attempt"]) for c in calls] == [("ok", 1), ("replayed", 0)]
    assert calls[0]["idempotency_key"] == calls[1]["idempotency_key"]
    # a replay calls nothing, so it spends no tool call
    assert outcome.usage["tool_calls"] == 1
    effects = await runner.store.list_effects(outcome.run_id)
    assert [e.status for e in effects] == ["completed"]
