"""The agent node's loop under rails: per-call policy, reviews bound to calls, order, bounds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from railgraph import END, START, DecisionError, GraphBuilder, RailGraph, Runner
from railgraph.nodes import ArgRule, ToolPolicy, ToolRegistry
from railgraph.verifiers import InRange
from tests.conftest import RecordingChatModel


class State(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


class Amount(BaseModel):
    amount: float = Field(gt=0)


class Note(BaseModel):
    text: str


class Done(BaseModel):
    ok: bool
    amount: float = 0


def turn(*calls: tuple[str, dict[str, Any]], text: str = "") -> AIMessage:
    return AIMessage(
        text,
        tool_calls=[
            {"name": n, "args": a, "id": f"c{i}-{n}", "type": "tool_call"}
            for i, (n, a) in enumerate(calls)
        ],
        usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    )


def answer(text: str = "done") -> AIMessage:
    return turn(text=text)


class World:
    """The effects the tools made, in order."""

    def __init__(self) -> None:
        self.effects: list[tuple[str, Any]] = []

    def registry(self) -> ToolRegistry:
        tools = ToolRegistry()
        world = self

        @tools.tool(tier="irreversible")
        def refund(args: Amount) -> Done:
            """Pay money back."""
            world.effects.append(("refund", args.amount))
            return Done(ok=True, amount=args.amount)

        @tools.tool(tier="write")
        def note(args: Note) -> Done:
            """Write a note."""
            world.effects.append(("note", args.text))
            return Done(ok=True)

        @tools.tool(tier="read")
        def balance(args: Note) -> Done:
            """Read a balance (returns a negative one for 'broken')."""
            return Done(ok=True, amount=-1 if args.text == "broken" else 10)

        @tools.tool(tier="write")
        def wipe(args: Note) -> Done:
            """Wipe everything."""
            world.effects.append(("wipe", args.text))
            return Done(ok=True)

        return tools


def build(world: World, model: RecordingChatModel, **agent: Any) -> RailGraph:
    policy = ToolPolicy(
        tools={
            "refund": ArgRule(lambda a: a["amount"] > 100, "approve", description="amount > 100"),
            "wipe": "block",
        }
    )
    g = GraphBuilder("agent_test", State, tools=world.registry(), policy=policy)
    agent.setdefault("answered", END)
    g.agent(
        "agent",
        model=model,
        model_name="m",
        tools=["refund", "note", "balance", "wipe"],
        prompt=lambda s: "help",
        **agent,
    )
    g.edge(START, "agent")
    return g.build()


def results_seen(messages: Sequence[BaseMessage]) -> list[tuple[str, str]]:
    return [(m.tool_call_id, m.text) for m in messages if isinstance(m, ToolMessage)]


async def agent_calls(runner: Runner, run_id: str) -> list[tuple[str, str]]:
    events = await runner.store.list_events(run_id)
    return [(e.data["tool"], e.data["status"]) for e in events if e.kind == "agent_call"]


async def test_auto_calls_do_not_wait_for_a_call_under_review_and_results_come_in_call_order(
    runner: Runner,
) -> None:
    world = World()
    model = RecordingChatModel(
        responses=[turn(("refund", {"amount": 500}), ("note", {"text": "hi"})), answer()]
    )
    graph = build(world, model)

    paused = await runner.start(graph, {})

    assert paused.status == "paused"
    assert world.effects == [("note", "hi")]  # the auto call ran while the refund waits
    [request] = paused.pending
    assert request.request["call_id"] == "c0-refund"
    assert request.request["action"]["args"] == {"amount": 500.0}

    done = await runner.approve(paused.run_id, by="ann")

    assert done.status == "completed"
    assert world.effects == [("note", "hi"), ("refund", 500.0)]
    # The model's second turn saw the refund's result first: the order of its calls.
    assert [cid for cid, _ in results_seen(model.seen[1])] == ["c0-refund", "c1-note"]
    assert len(model.seen) == 2
    assert await agent_calls(runner, paused.run_id) == [
        ("refund", "needs_approval"),
        ("note", "ok"),
        ("refund", "ok"),
    ]


async def test_two_calls_under_review_are_decided_one_by_one(runner: Runner) -> None:
    world = World()
    model = RecordingChatModel(
        responses=[turn(("refund", {"amount": 200}), ("refund", {"amount": 300})), answer()]
    )
    graph = build(world, model)
    paused = await runner.start(graph, {})
    first, second = paused.pending
    assert (first.request["call_id"], second.request["call_id"]) == ("c0-refund", "c1-refund")

    middle = await runner.reject(
        paused.run_id, by="ann", reason="too much", request_id=second.request_id
    )

    assert middle.status == "paused"
    assert [p.request_id for p in middle.pending] == [first.request_id]
    assert world.effects == []

    done = await runner.approve(paused.run_id, by="ann", request_id=first.request_id)

    assert done.status == "completed"
    assert world.effects == [("refund", 200.0)]
    assert results_seen(model.seen[1]) == [
        ("c0-refund", 'Approved by a reviewer (ann). Result: {"amount":200.0,"ok":true}'),
        ("c1-refund", "A reviewer (ann) rejected this call: too much. It did not run."),
    ]


async def test_equal_calls_in_two_turns_are_two_effects(runner: Runner) -> None:
    world = World()
    model = RecordingChatModel(
        responses=[turn(("refund", {"amount": 5})), turn(("refund", {"amount": 5})), answer()]
    )

    outcome = await runner.start(build(world, model), {})

    assert outcome.status == "completed"
    assert world.effects == [("refund", 5.0), ("refund", 5.0)]


async def test_unknown_tools_and_bad_arguments_are_told_to_the_model_then_bounded(
    runner: Runner,
) -> None:
    world = World()
    model = RecordingChatModel(
        responses=[
            turn(("teleport", {}), ("refund", {"amount": -3})),
            turn(("refund", {"amount": 3})),
            answer(),
        ]
    )

    outcome = await runner.start(build(world, model), {})

    assert outcome.status == "completed"
    assert world.effects == [("refund", 3.0)]
    assert results_seen(model.seen[1]) == [
        (
            "c0-teleport",
            "Error: there is no tool 'teleport'. The tools you may call are: balance, note, "
            "refund, wipe.",
        ),
        (
            "c1-refund",
            "Error: invalid arguments for refund: amount: Input should be greater than 0. "
            "Fix them and call again.",
        ),
    ]

    stubborn = RecordingChatModel(responses=[turn(("teleport", {}))])
    failed = await runner.start(build(World(), stubborn, max_tool_errors=2), {})
    assert failed.status == "failed"
    assert failed.reason is not None and "over max_tool_errors=2" in failed.reason
    assert len(stubborn.seen) == 3


async def test_a_blocked_call_never_runs_and_the_model_is_told(runner: Runner) -> None:
    world = World()
    model = RecordingChatModel(responses=[turn(("wipe", {"text": "all"})), answer()])

    outcome = await runner.start(build(world, model), {})

    assert outcome.status == "completed"
    assert world.effects == []
    assert results_seen(model.seen[1]) == [
        (
            "c0-wipe",
            "Refused: the graph's policy blocks this call (tool wipe → block). It did not run.",
        )
    ]


async def test_a_model_that_never_stops_ends_out_of_turns_or_at_the_budget(
    runner: Runner,
) -> None:
    looping = RecordingChatModel(responses=[turn(("balance", {"text": "x"}))])

    outcome = await runner.start(build(World(), looping, max_turns=3), {})

    assert outcome.status == "failed"
    assert outcome.reason == "agent 'agent' used its 3 turns without answering"
    assert len(looping.seen) == 3

    again = RecordingChatModel(responses=[turn(("balance", {"text": "x"}))])
    capped = await runner.start(build(World(), again, max_turns=50), {}, budget={"llm_calls": 4})
    assert capped.status == "budget_exhausted"
    assert len(again.seen) == 4
    assert [m.type for m in capped.result["messages"]][:3] == ["human", "ai", "tool"]


async def test_rejection_ends_the_loop_when_the_author_wires_it(runner: Runner) -> None:
    world = World()
    model = RecordingChatModel(responses=[turn(("refund", {"amount": 900})), answer()])
    paused = await runner.start(build(world, model, rejected=END), {})

    outcome = await runner.reject(paused.run_id, by="ann", reason="fraud")

    assert outcome.status == "rejected"
    assert outcome.reason == "refund rejected by ann: fraud"
    assert world.effects == []
    assert len(model.seen) == 1


async def test_failing_verdicts_go_back_to_the_model_then_escalate(runner: Runner) -> None:
    model = RecordingChatModel(
        responses=[turn(("balance", {"text": "broken"})), turn(("balance", {"text": "broken"}))]
    )
    graph = build(
        World(),
        model,
        verifiers={"balance": [InRange("amount", ge=0)]},
        max_verify_retries=1,
    )

    outcome = await runner.start(graph, {})

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert "results of balance kept failing verification: amount:" in outcome.reason
    [told] = results_seen(model.seen[1])
    assert told[1].startswith('{"amount":-1.0,"ok":true}. The result failed verification: amount:')
    events = await runner.store.list_events(outcome.run_id)
    assert [e.data["outcome"] for e in events if e.kind == "verdict"] == ["fail", "fail"]


async def test_a_cancelled_run_makes_no_further_model_call_or_tool_call(runner: Runner) -> None:
    world = World()
    holder: dict[str, str] = {}
    tools = world.registry()

    @tools.tool(tier="write")
    async def stop(args: Note) -> Done:
        """Cancels the run from inside, as a person would from another terminal."""
        await runner.cancel(holder["run"], by="ops", reason="stop")
        return Done(ok=True)

    model = RecordingChatModel(
        responses=[turn(("stop", {"text": "x"}), ("note", {"text": "after"})), answer()]
    )
    g = GraphBuilder("agent_cancel", State, tools=tools)
    g.agent("agent", model=model, model_name="m", tools=["stop", "note"], answered=END)
    g.edge(START, "agent")
    graph = g.build()
    holder["run"] = "cancel-run"

    outcome = await runner.start(
        graph, {"messages": [{"type": "human", "content": "go"}]}, run_id="cancel-run"
    )

    assert outcome.status == "cancelled"
    assert world.effects == []  # the note after the cancel never ran
    assert len(model.seen) == 1


def test_the_spec_lists_the_agents_tools_with_tier_and_policy() -> None:
    graph = build(World(), RecordingChatModel(responses=[answer()]))
    [node] = [n for n in graph.spec.nodes if n.id == "agent"]

    assert node.kind.value == "agent"
    assert node.meta["tools"] == [
        {
            "name": "refund",
            "tier": "irreversible",
            "policy": "conditional",
            "verifiers": [],
            "rule": "approve if amount > 100, else auto",
        },
        {"name": "note", "tier": "write", "policy": "auto", "verifiers": [], "rule": None},
        {"name": "balance", "tier": "read", "policy": "auto", "verifiers": [], "rule": None},
        {"name": "wipe", "tier": "write", "policy": "block", "verifiers": [], "rule": None},
    ]
    assert [(e.label, e.target) for e in graph.spec.edges if e.source == "agent"] == [
        ("continue", "agent"),
        ("answered", "__end__"),
        ("out_of_turns", "__fail__"),
    ]


def test_an_agent_with_undeclared_tools_is_refused() -> None:
    g = GraphBuilder("bad", State, tools=World().registry())
    with pytest.raises(Exception, match=r"uses tools \['nope'\] that the graph does not declare"):
        g.agent(
            "agent", model=RecordingChatModel(responses=[answer()]), tools=["nope"], answered=END
        )


async def test_a_call_whose_arguments_do_not_parse_is_told_to_the_model(runner: Runner) -> None:
    broken = AIMessage(
        "",
        invalid_tool_calls=[
            {
                "name": "note",
                "args": '{"text": "unterminated',
                "id": "bad-1",
                "error": "Unterminated string",
                "type": "invalid_tool_call",
            }
        ],
    )
    model = RecordingChatModel(responses=[broken, turn(("note", {"text": "fixed"})), answer()])
    world = World()

    outcome = await runner.start(build(world, model), {})

    assert outcome.status == "completed"
    assert world.effects == [("note", "fixed")]
    assert results_seen(model.seen[1]) == [
        (
            "bad-1",
            "Error: the arguments of your call to note could not be read (Unterminated "
            "string). Call again with valid arguments.",
        )
    ]


async def test_results_that_keep_failing_verification_escalate_to_a_person(
    runner: Runner,
) -> None:
    model = RecordingChatModel(
        responses=[turn(("balance", {"text": "broken"})), turn(("balance", {"text": "broken"}))]
    )
    policy = ToolPolicy()
    g = GraphBuilder("agent_escalate", State, tools=World().registry(), policy=policy)
    g.agent(
        "agent",
        model=model,
        model_name="m",
        tools=["balance"],
        prompt=lambda s: "check",
        verifiers={"balance": [InRange("amount", ge=0)]},
        max_verify_retries=1,
        answered=END,
        escalated="ask_person",
    )
    g.approve("ask_person", approved=END, rejected=END, reason="balances look wrong")
    g.edge(START, "agent")

    paused = await runner.start(g.build(), {})

    assert paused.status == "paused"
    [request] = paused.pending
    assert request.node == "ask_person"
    done = await runner.approve(paused.run_id, by="ann")
    assert done.status == "completed"
    assert len(model.seen) == 2


async def test_only_the_agents_reviewers_may_decide_its_calls(runner: Runner) -> None:
    world = World()
    model = RecordingChatModel(responses=[turn(("refund", {"amount": 700})), answer()])
    paused = await runner.start(build(world, model, reviewers=["ann"]), {})
    assert paused.pending[0].request["reviewers"] == ["ann"]

    with pytest.raises(DecisionError, match="bob may not decide request"):
        await runner.approve(paused.run_id, by="bob")
    assert world.effects == []

    done = await runner.approve(paused.run_id, by="ann")
    assert done.status == "completed"
    assert world.effects == [("refund", 700.0)]
