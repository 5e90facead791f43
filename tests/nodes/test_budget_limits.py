"""The runtime enforces the envelope in every dimension: the refused work is never started."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from railgraph import END, FAIL, START, GraphBuilder, Runner
from railgraph.nodes import BudgetEnvelope, ModelPrice, NodeContext, ToolCall, ToolRegistry
from railgraph.nodes import TransientToolError as Transient
from railgraph.verifiers import Predicate
from railgraph.visualize import StopStatus, path_from_events


class Work(BaseModel):
    a: Any = None
    b: Any = None
    c: Any = None


class Query(BaseModel):
    q: str


class Answer(BaseModel):
    a: str


def refusal(node: str, dim: str, used: str, limit: str, what: str) -> str:
    return (
        f"budget exhausted at node {node!r}: {dim} {used} of {limit} used, so {what} was not "
        f"started; raise the limit with --budget {dim}=N or in the graph's BudgetEnvelope"
    )


def recorder(ran: list[str], node: str) -> Any:
    def record(state: Work) -> None:
        ran.append(node)

    return record


async def kinds(runner: Runner, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.node) for e in await runner.store.list_events(run_id)]


async def test_steps(runner: Runner, dims: Any) -> None:
    ran: list[str] = []
    g = GraphBuilder("steps", Work, budget=BudgetEnvelope(steps=2))
    for node in ("a", "b", "c"):
        g.step(node, recorder(ran, node))
    g.edge(START, "a").edge("a", "b").edge("b", "c").edge("c", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("c", "steps", "2", "2", "node 'c'")
    assert ran == ["a", "b"]
    assert dims(outcome.usage)["steps"] == 2
    events = await runner.store.list_events(outcome.run_id)
    last = events[-1]
    assert (last.kind, last.data["error"]) == ("budget_exhausted", outcome.reason)
    assert last.data["error_type"] == "BudgetExhausted"
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert (record.status, record.usage) == ("budget_exhausted", outcome.usage)
    # the trace says where the run stopped, as it does for every other refusal
    assert last.node == "c"


async def test_llm_calls(runner: Runner, chat: Any, dims: Any) -> None:
    first, second = chat(("one", 10, 1)), chat(("two", 10, 1))
    g = GraphBuilder("llm-calls", Work, budget=BudgetEnvelope(llm_calls=1))
    g.llm("a", model=first, model_name="m1", prompt=lambda s: "1", output="a")
    g.llm("b", model=second, model_name="m2", prompt=lambda s: "2", output="b")
    g.edge(START, "a").edge("a", "b").edge("b", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("b", "llm_calls", "1", "1", "a call to model 'm2'")
    assert (len(first.seen), len(second.seen)) == (1, 0)
    assert outcome.result == {"a": "one", "b": None, "c": None}
    assert dims(outcome.usage) == {
        "steps": 2,
        "llm_calls": 1,
        "tool_calls": 0,
        "tokens": 11,
        "cost_usd": 0.0,
        "wall_s": 0.0,
        "retries": 0,
    }
    assert await kinds(runner, outcome.run_id) == [
        ("run_started", None),
        ("llm_call", "a"),
        ("node_finished", "a"),
        ("budget_exhausted", "b"),  # one refusal, one event
    ]
    events = await runner.store.list_events(outcome.run_id)
    assert events[3].data == {
        "error": outcome.reason,
        "error_type": "BudgetExhausted",
        "traceback": None,
        "dimension": "llm_calls",
        "used": 1,
        "limit": 1,
        "refused": "a call to model 'm2'",
    }


async def test_a_refusal_is_drawn_as_one_stop(runner: Runner, chat: Any) -> None:
    """One refusal, one event: two used to draw a second visit and a hop never taken."""
    g = GraphBuilder("one-stop", Work, budget=BudgetEnvelope(llm_calls=1))
    g.llm("a", model=chat(("one", 1, 1)), model_name="m", prompt=lambda s: "1", output="a")
    g.llm("b", model=chat(("two", 1, 1)), model_name="m", prompt=lambda s: "2", output="b")
    g.edge(START, "a").edge("a", "b").edge("b", END)
    graph = g.build()
    outcome = await runner.start(graph, {})
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None

    path = path_from_events(graph.spec, record, await runner.store.list_events(outcome.run_id))

    assert [(v.node, v.finished) for v in path.visits] == [("a", True), ("b", False)]
    assert [(h.edge.source, h.edge.target) for h in path.hops] == [("__start__", "a"), ("a", "b")]
    assert path.stops == {"b": StopStatus.BUDGET_EXHAUSTED}


async def test_tool_calls(runner: Runner, dims: Any) -> None:
    calls: list[str] = []
    tools = ToolRegistry()

    @tools.tool(tier="read")
    def look(args: Query) -> Answer:
        calls.append(args.q)
        return Answer(a=args.q)

    g = GraphBuilder("tool-calls", Work, tools=tools, budget=BudgetEnvelope(tool_calls=2))
    g.tool("a", tool="look", args=lambda s: {"q": "1"}, output="a")
    g.tool("b", tool="look", args=lambda s: {"q": "2"}, output="b")
    g.tool("c", tool="look", args=lambda s: {"q": "3"}, output="c")
    g.edge(START, "a").edge("a", "b").edge("b", "c").edge("c", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("c", "tool_calls", "2", "2", "a call to tool 'look'")
    assert calls == ["1", "2"]
    assert outcome.result == {"a": {"a": "1"}, "b": {"a": "2"}, "c": None}
    assert dims(outcome.usage)["tool_calls"] == 2
    assert dims(outcome.usage)["steps"] == 3


async def test_refused_write_leaves_no_started_effect(runner: Runner) -> None:
    """A call the budget refuses never ran, so the ledger must not say it started."""
    calls: list[str] = []
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def save(args: Query) -> Answer:
        calls.append(args.q)
        return Answer(a="saved")

    g = GraphBuilder("refused-write", Work, tools=tools)
    g.tool("a", tool="save", args=lambda s: {"q": "1"}, output="a")
    g.edge(START, "a").edge("a", END)

    outcome = await runner.start(g.build(), {}, budget={"tool_calls": 0})

    assert outcome.status == "budget_exhausted"
    assert calls == []
    effects = await runner.store.list_effects(outcome.run_id)
    assert [e.status for e in effects if e.status == "started"] == []


async def test_tokens(runner: Runner, chat: Any, dims: Any) -> None:
    first, second = chat(("one", 100, 20)), chat(("two", 1, 1))
    g = GraphBuilder("tokens", Work, budget=BudgetEnvelope(tokens=120))
    g.llm("a", model=first, model_name="m1", prompt=lambda s: "1", output="a")
    g.llm("b", model=second, model_name="m2", prompt=lambda s: "2", output="b")
    g.edge(START, "a").edge("a", "b").edge("b", END)

    outcome = await runner.start(g.build(), {})

    # tokens are known only after a call: once they reach the limit, nothing more starts
    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("b", "tokens", "120", "120", "node 'b'")
    assert (len(first.seen), len(second.seen)) == (1, 0)
    usage = dims(outcome.usage)
    assert (usage["tokens"], usage["llm_calls"], usage["steps"]) == (120, 1, 1)


async def test_tokens_below_the_limit_let_the_next_call_start(runner: Runner, chat: Any) -> None:
    first, second = chat(("one", 100, 19)), chat(("two", 30, 30))
    g = GraphBuilder("tokens-over", Work, budget=BudgetEnvelope(tokens=120))
    g.llm("a", model=first, model_name="m1", prompt=lambda s: "1", output="a")
    g.llm("b", model=second, model_name="m2", prompt=lambda s: "2", output="b")
    g.edge(START, "a").edge("a", "b").edge("b", END)

    outcome = await runner.start(g.build(), {})

    # the second call may overshoot: its size is unknown until it returns
    assert outcome.status == "completed"
    assert outcome.usage["tokens"] == 179


async def test_cost_usd(runner: Runner, chat: Any, dims: Any) -> None:
    model = chat(("one", 1000, 0), ("two", 1000, 0))

    async def two_calls(state: Work, ctx: NodeContext) -> dict[str, Any]:
        first = await ctx.call_llm(model, [], model_name="priced")
        second = await ctx.call_llm(model, [], model_name="priced")
        return {"a": first.text, "b": second.text}

    g = GraphBuilder(
        "cost",
        Work,
        budget=BudgetEnvelope(cost_usd=0.01),
        prices={"priced": ModelPrice(input_per_mtok=10.0, output_per_mtok=40.0)},
    )
    g.step("a", two_calls).edge(START, "a").edge("a", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("a", "cost_usd", "0.01", "0.01", "a call to model 'priced'")
    assert len(model.seen) == 1
    usage = dims(outcome.usage)
    assert (usage["cost_usd"], usage["llm_calls"], usage["tokens"], usage["steps"]) == (
        0.01,
        1,
        1000,
        1,
    )
    assert await kinds(runner, outcome.run_id) == [
        ("run_started", None),
        ("llm_call", "a"),
        ("budget_exhausted", "a"),
    ]


async def test_wall_s(runner: Runner, fake_time: Any, dims: Any) -> None:
    ran: list[str] = []

    def slow(state: Work) -> None:
        ran.append("a")
        fake_time.advance(90.0)

    g = GraphBuilder("wall", Work, budget=BudgetEnvelope(wall_s=60))
    g.step("a", slow)
    g.step("b", lambda s: ran.append("b"))
    g.edge(START, "a").edge("a", "b").edge("b", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("b", "wall_s", "90", "60", "node 'b'")
    assert ran == ["a"]
    assert dims(outcome.usage)["wall_s"] == 90.0
    assert dims(outcome.usage)["steps"] == 1


async def test_retries_of_a_tool(runner: Runner, dims: Any) -> None:
    attempts: list[int] = []
    tools = ToolRegistry()

    @tools.tool(tier="read", retries=5)
    def flaky(args: Query, call: ToolCall) -> Answer:
        attempts.append(call.attempt)
        raise Transient("try later")

    g = GraphBuilder("retries", Work, tools=tools, budget=BudgetEnvelope(retries=1))
    g.tool("a", tool="flaky", args=lambda s: {"q": "x"}, output="a")
    g.edge(START, "a").edge("a", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("a", "retries", "1", "1", "a retry of tool 'flaky'")
    assert attempts == [1, 2]
    usage = dims(outcome.usage)
    assert (usage["tool_calls"], usage["retries"], usage["steps"]) == (2, 1, 1)


async def test_retries_of_a_verify_gate(runner: Runner, chat: Any, dims: Any) -> None:
    model = chat(("41", 1, 1), ("42", 1, 1))
    g = GraphBuilder("verify-retries", Work, budget=BudgetEnvelope(retries=0))
    g.llm("a", model=model, model_name="m", prompt=lambda s: "6 x 7?", output="a")
    g.verify(
        "check",
        on="a",
        checks=[Predicate(lambda v: v == "42", message="must be 42")],
        retry="a",
        max_retries=3,
        passed=END,
        failed=FAIL,
    )
    g.edge(START, "a").edge("a", "check")

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == refusal("check", "retries", "0", "0", "retry of node 'a'")
    assert len(model.seen) == 1
    assert dims(outcome.usage)["retries"] == 0
    assert dims(outcome.usage)["steps"] == 2


async def test_override_at_start_replaces_the_graph_limit(runner: Runner) -> None:
    ran: list[str] = []
    g = GraphBuilder("override", Work, budget=BudgetEnvelope(steps=1))
    g.step("a", lambda s: ran.append("a")).step("b", lambda s: ran.append("b"))
    g.edge(START, "a").edge("a", "b").edge("b", END)

    outcome = await runner.start(g.build(), {}, budget={"steps": 5})

    assert outcome.status == "completed"
    assert ran == ["a", "b"]
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert record.budget == {"steps": 5}
