"""Budget gates: ``within`` goes on, ``exceeded`` ends the run with its partial result, and
``needs`` reserves what the rest of the graph must still spend."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from railgraph import END, FAIL, START, GraphBuilder, RailGraph, Runner
from railgraph.nodes import BudgetEnvelope, ModelPrice, ToolRegistry, Usage


class Job(BaseModel):
    fetched: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None


class Query(BaseModel):
    q: str


class Answer(BaseModel):
    a: str


def job(
    calls: list[str],
    *,
    needs: dict[str, float] | None = None,
    exceeded: str = END,
    budget: BudgetEnvelope | None = None,
) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="read")
    def fetch(args: Query) -> Answer:
        calls.append("fetch")
        return Answer(a="data")

    @tools.tool(tier="external")
    def send(args: Query) -> Answer:
        calls.append("send")
        return Answer(a="sent")

    g = GraphBuilder(
        "job", Job, tools=tools, budget=budget or BudgetEnvelope(tool_calls=2, steps=10)
    )
    g.tool("fetch", args=lambda s: {"q": "x"}, output="fetched")
    g.budget("room", within="send", exceeded=exceeded, needs=needs)
    g.tool("send", args=lambda s: {"q": "y"}, output="sent")
    g.edge(START, "fetch").edge("fetch", "room").edge("send", END)
    return g.build()


async def test_within_goes_on(runner: Runner) -> None:
    calls: list[str] = []

    outcome = await runner.start(job(calls), {})

    assert outcome.status == "completed"
    assert calls == ["fetch", "send"]
    events = await runner.store.list_events(outcome.run_id)
    (check,) = [e for e in events if e.kind == "budget_check"]
    assert check.node == "room"
    assert check.data["outcome"] == "within"
    assert check.data["dimension"] is None
    assert check.data["limits"] == {"steps": 10, "tool_calls": 2}
    assert check.data["needs"] == {}
    assert check.data["usage"]["tool_calls"] == 1
    assert check.data["usage"]["steps"] == 2  # the node before it and the gate itself


async def test_at_the_limit_the_gate_is_within_and_the_runtime_refuses(runner: Runner) -> None:
    calls: list[str] = []

    outcome = await runner.start(job(calls), {}, budget={"tool_calls": 1})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == (
        "budget exhausted at node 'send': tool_calls 1 of 1 used, so a call to tool 'send' "
        "was not started; raise the limit with --budget tool_calls=N or in the graph's "
        "BudgetEnvelope"
    )
    assert calls == ["fetch"]
    assert outcome.result == {"fetched": {"a": "data"}, "sent": None}
    events = await runner.store.list_events(outcome.run_id)
    (check,) = [e for e in events if e.kind == "budget_check"]
    assert check.data["outcome"] == "within"


async def test_steps_reservation_counts_the_gate_itself(runner: Runner) -> None:
    """needs={'steps': 2} promises two more nodes after the gate: send and wrap_up.

    With 3 steps, fetch + the gate + send + wrap_up (4) cannot fit, so the gate must take
    ``exceeded`` before the external call rather than let the run stop half-way after it.
    """
    calls: list[str] = []
    tools = ToolRegistry()

    @tools.tool(tier="external")
    def send(args: Query) -> Answer:
        calls.append("send")
        return Answer(a="sent")

    g = GraphBuilder("two-left", Job, tools=tools, budget=BudgetEnvelope(steps=3))
    g.step("fetch", lambda s: {"fetched": {"a": "data"}})
    g.budget("room", within="send", exceeded=END, needs={"steps": 2})
    g.tool("send", args=lambda s: {"q": "y"}, output="sent")
    g.step("wrap_up", lambda s: None)
    g.edge(START, "fetch").edge("fetch", "room").edge("send", "wrap_up").edge("wrap_up", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert calls == []
    assert outcome.reason is not None
    assert outcome.reason.startswith("steps: ")


async def test_needs_reservation_stops_work_that_cannot_finish(runner: Runner, dims: Any) -> None:
    calls: list[str] = []

    outcome = await runner.start(job(calls, needs={"tool_calls": 2}), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == "tool_calls: 1 of 2 used, 2 more needed"
    assert outcome.result == {"fetched": {"a": "data"}, "sent": None}
    assert calls == ["fetch"]
    assert dims(outcome.usage)["tool_calls"] == 1
    assert dims(outcome.usage)["steps"] == 2
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("tool_call", "fetch"),
        ("node_finished", "fetch"),
        ("budget_check", "room"),
        ("node_finished", "room"),
        ("run_finished", None),
    ]
    check = events[3].data
    assert (check["outcome"], check["dimension"], check["needs"]) == (
        "exceeded",
        "tool_calls",
        {"tool_calls": 2},
    )
    assert events[4].data["outcome"] == "exceeded"
    assert events[4].data["status"] == "budget_exhausted"
    assert events[-1].data == {
        "status": "budget_exhausted",
        "reason": "tool_calls: 1 of 2 used, 2 more needed",
    }


@pytest.mark.parametrize(("need", "status"), [(1, "completed"), (2, "budget_exhausted")])
async def test_needs_boundary(runner: Runner, need: int, status: str) -> None:
    calls: list[str] = []

    outcome = await runner.start(job(calls, needs={"tool_calls": need}), {})

    assert outcome.status == status


async def test_exceeded_to_fail_fails_the_run(runner: Runner) -> None:
    calls: list[str] = []

    outcome = await runner.start(job(calls, needs={"tool_calls": 2}, exceeded=FAIL), {})

    assert outcome.status == "failed"
    assert outcome.reason == "tool_calls: 1 of 2 used, 2 more needed"
    assert calls == ["fetch"]


async def test_without_limits_the_gate_is_always_within(runner: Runner) -> None:
    calls: list[str] = []

    outcome = await runner.start(job(calls, needs={"tool_calls": 100}, budget=BudgetEnvelope()), {})

    assert outcome.status == "completed"
    assert calls == ["fetch", "send"]


class Notes(BaseModel):
    first: str | None = None
    second: str | None = None


def priced_job(chat: Any) -> tuple[RailGraph, Any]:
    """An LLM call that spends exactly the cost limit, then a budget gate before another."""
    first, second = chat(("one", 1000, 0)), chat(("two", 1000, 0))
    g = GraphBuilder(
        "priced",
        Notes,
        budget=BudgetEnvelope(cost_usd=0.01),
        prices={"m": ModelPrice(input_per_mtok=10.0, output_per_mtok=0.0)},
    )
    g.llm("draft", model=first, model_name="m", prompt=lambda s: "1", output="first")
    g.budget("room", within="polish", exceeded=END)
    g.llm("polish", model=second, model_name="m", prompt=lambda s: "2", output="second")
    g.edge(START, "draft").edge("draft", "room").edge("polish", END)
    return g.build(), second


async def test_at_the_cost_limit_the_gate_takes_exceeded(runner: Runner, chat: Any) -> None:
    """Cost is known only after a call: at its limit no call may start, and the gate says
    so itself; the step guard used to refuse the gate, so ``exceeded`` was unreachable."""
    graph, second = priced_job(chat)

    outcome = await runner.start(graph, {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == "cost_usd: 0.01 of 0.01 used"
    assert outcome.result == {"first": "one", "second": None}
    assert second.seen == []
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("llm_call", "draft"),
        ("node_finished", "draft"),
        ("budget_check", "room"),
        ("node_finished", "room"),
        ("run_finished", None),
    ]
    assert (events[3].data["outcome"], events[3].data["dimension"]) == ("exceeded", "cost_usd")
    assert events[4].data["outcome"] == "exceeded"


async def test_at_the_step_limit_the_gate_takes_exceeded(runner: Runner) -> None:
    calls: list[str] = []

    # fetch takes the only step; the step check does not refuse the gate, which judges.
    outcome = await runner.start(job(calls), {}, budget={"steps": 1})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == "steps: 2 of 1 used"
    assert calls == ["fetch"]
    events = await runner.store.list_events(outcome.run_id)
    (check,) = [e for e in events if e.kind == "budget_check"]
    assert (check.data["outcome"], check.data["dimension"]) == ("exceeded", "steps")
    assert [e.kind for e in events if e.kind == "budget_exhausted"] == []


def test_the_gate_and_the_runtime_ask_one_predicate() -> None:
    """What a gate reserves is what the runtime would refuse, dimension by dimension."""
    envelope = BudgetEnvelope(tool_calls=2, cost_usd=0.5, tokens=100)
    at_cost = Usage(cost_usd=0.5)
    at_calls = Usage(tool_calls=2)

    # Cost and tokens are known only after a call: at the limit nothing may start.
    assert at_cost.over(envelope) == "cost_usd"
    assert at_cost.over(envelope, {"tool_calls": 1}) == "cost_usd"
    # Counters are over only when the work would pass them.
    assert at_calls.over(envelope) is None
    assert at_calls.over(envelope, {"tool_calls": 1}) == "tool_calls"
    assert Usage(tool_calls=1).over(envelope, {"tool_calls": 1}) is None
    assert Usage(tokens=60).over(envelope, {"tokens": 50}) == "tokens"
