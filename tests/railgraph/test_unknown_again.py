"""A person's answer about an effect a crash left unknown is spent once, and a refusal stops.

Approving "send it again" sends the call once: when that re-send's outcome is unknown again
(the process died between the effect and its record), the node runs again with its old
answer in hand (LangGraph keeps a task's answers; a runner delivers the decision recorded for
its question) and must ask a person anew, not send a third time. A refusal to send again
stops the run, in an agent too, whose model would otherwise make the call under a new id.
Under the runner and under LangGraph's server alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, RailGraph, Runner, RunOutcome
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.nodes import ToolRegistry
from railgraph.nodes._toolcall import _idempotency_key
from tests.conftest import FakeTime, RecordingChatModel
from tests.railgraph.test_served_unknown import (
    ARGS,
    Chat,
    Crash,
    Payout,
    Receipt,
    leave_unknown,
    pay_tools,
    payout,
    reason,
    saver,
)
from tests.railgraph.test_served_unknown import (
    paying_agent as paying_agent_crashing,
)
from tests.railgraph.test_server import answer, drive, serve

__all__ = ["saver"]  # the fixture, imported for this module's tests

RECEIPT = {"paid": 1250.0, "reference": "P-2"}


def again(key: str) -> str:
    """The second question's reason: the approved re-send's outcome is unknown too."""
    return (
        "tool 'pay' at node 'pay' was sent again on maria's approval, and the outcome of that "
        "attempt is unknown too: the process stopped before recording it (idempotency key "
        f"{key}); it is not idempotent, so it is not repeated automatically. Check the target "
        "system: approve to send it again if it did not happen, say it happened with the "
        "result you see there, or reject to stop the run"
    )


TRAIL = [
    ("run_started", None),
    ("approval_requested", "pay"),
    ("approval_requested", "pay"),
    ("effect_reviewed", "pay"),
    ("effect_reviewed", "pay"),
    ("tool_call", "pay"),
    ("node_finished", "pay"),
    ("run_finished", None),
]
"""Both questions and both answers, then the one re-send that was recorded."""


def rows(approvals: list[Any]) -> list[tuple[str, str | None, str, str]]:
    return [
        (a.status, a.decided_by, a.request["kind"], a.request["reason"])
        for a in sorted(approvals, key=lambda a: a.created_at)
    ]


@asynccontextmanager
async def resumed_after_a_crash(
    tmp_path: Path,
    fake_time: FakeTime,
    rail: RailGraph,
    effect: tuple[str, str, str, dict[str, Any]],
    *,
    run_id: str = "u1",
) -> AsyncIterator[tuple[Runner, RunOutcome, RunOutcome]]:
    """A run whose effect ``(key, node, tool, args)`` a crash left unknown: it asks, a person
    approves sending it again, the process dies mid-call (``rail`` raises `Crash`), and a new
    runner resumes it once the dead one's lease lapses. Yields that runner, the run as it first
    paused, and what the resume returned."""
    key, node, tool, args = effect
    async with Runner.open(tmp_path / "r.db", clock=fake_time.clock, timer=fake_time.timer) as r:
        await r.store.begin_effect(key, run_id=run_id, node=node, tool=tool, args=args)
        paused = await r.start(rail, {}, run_id=run_id)
        with pytest.raises(Crash):
            await r.approve(run_id, by="maria")
    fake_time.advance(600)  # the dead process's lease lapses
    async with Runner.open(tmp_path / "r.db", clock=fake_time.clock, timer=fake_time.timer) as r:
        record = await r.store.get_run(run_id)
        assert record is not None
        r.register(record.graph, rail)
        yield r, paused, await r.resume(run_id)


async def test_an_approved_resend_whose_outcome_is_unknown_again_asks_again_under_the_runner(
    tmp_path: Path, fake_time: FakeTime
) -> None:
    paid: list[dict[str, Any]] = []
    rail = payout(paid, [Crash()])
    key = _idempotency_key("u1", "pay", "pay", ARGS)
    effect = (key, "pay", "pay", ARGS)
    async with resumed_after_a_crash(tmp_path, fake_time, rail, effect) as (r, paused, resumed):
        [first] = paused.pending
        assert (resumed.status, resumed.reason) == ("paused", f"pay: {again(key)}")
        assert paid == [ARGS]  # not sent a third time on the spent approval
        [second] = resumed.pending
        assert second.request_id != first.request_id
        assert rows(await r.store.list_approvals(run_id="u1", status=None)) == [
            ("approved", "maria", "unknown_effect", reason(key)),
            ("pending", None, "unknown_effect", again(key)),
        ]
        [effect] = await r.store.list_effects("u1")
        assert (effect.status, effect.result, effect.resent_question) == ("started", None, 1)

        done = await r.approve("u1", by="maria")

        assert (done.status, done.reason) == ("completed", None)
        assert paid == [ARGS, ARGS]
        assert rows(await r.store.list_approvals(run_id="u1", status=None)) == [
            ("approved", "maria", "unknown_effect", reason(key)),
            ("approved", "maria", "unknown_effect", again(key)),
        ]
        [effect] = await r.store.list_effects("u1")
        assert (effect.status, effect.result, effect.resent_question) == (
            "completed",
            RECEIPT,
            2,
        )
        events = await r.store.list_events("u1")
        assert [(e.kind, e.node) for e in events] == TRAIL
        assert [e.data["decision"] for e in events if e.kind == "effect_reviewed"] == [
            "approve",
            "approve",
        ]
        assert [e.data["status"] for e in events if e.kind == "tool_call"] == ["recovered"]


async def test_a_second_answer_to_refuse_stops_the_run_after_one_resend(
    tmp_path: Path, fake_time: FakeTime
) -> None:
    paid: list[dict[str, Any]] = []
    rail = payout(paid, [Crash()])
    effect = (_idempotency_key("u1", "pay", "pay", ARGS), "pay", "pay", ARGS)
    async with resumed_after_a_crash(tmp_path, fake_time, rail, effect) as (r, _, resumed):
        assert resumed.status == "paused"

        done = await r.reject("u1", by="maria", reason="the bank shows it was paid")

        stopped = (
            "EffectRefused: tool 'pay' at node 'pay': maria chose not to send the call again "
            "(the bank shows it was paid); the run stops"
        )
        assert (done.status, done.reason) == ("failed", stopped)
        assert paid == [ARGS]
        assert [a.status for a in await r.store.list_approvals(run_id="u1", status=None)] == [
            "approved",
            "rejected",
        ]
        [effect] = await r.store.list_effects("u1")
        assert (effect.status, effect.resent_question) == ("started", 1)


async def test_an_approved_resend_whose_outcome_is_unknown_again_asks_again_when_served(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    key = await leave_unknown(saver, "u1")
    served = serve(payout(paid, [Crash()]), tmp_path, fake_time)
    await drive(served, saver, "u1", {})
    with pytest.raises(Crash):
        await drive(served, saver, "u1", answer("accept"))
    assert paid == [ARGS]

    snapshot = await drive(served, saver, "u1", None)  # the server runs the thread again

    assert paid == [ARGS]
    (interrupt,) = snapshot.interrupts
    approvals = await saver.store.list_approvals(run_id="u1", status=None)
    assert rows(approvals) == [
        ("approved", "maria", "unknown_effect", reason(key)),
        ("pending", None, "unknown_effect", again(key)),
    ]
    [pending] = [a for a in approvals if a.status == "pending"]
    assert interrupt.value[0]["railgraph"]["request_id"] == pending.request_id
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == (
        "paused",
        f"pay: {again(key)}",
        None,
    )

    snapshot = await drive(served, saver, "u1", answer("accept"))

    assert snapshot.interrupts == ()
    assert paid == [ARGS, ARGS]
    assert snapshot.values["receipt"] == RECEIPT
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == ("completed", None, None)
    assert rows(await saver.store.list_approvals(run_id="u1", status=None)) == [
        ("approved", "maria", "unknown_effect", reason(key)),
        ("approved", "maria", "unknown_effect", again(key)),
    ]
    [effect] = await saver.store.list_effects("u1")
    assert (effect.status, effect.result, effect.resent_question) == ("completed", RECEIPT, 2)
    events = await saver.store.list_events("u1")
    assert [(e.kind, e.node) for e in events] == TRAIL
    assert [e.data["decision"] for e in events if e.kind == "effect_reviewed"] == [
        "approve",
        "approve",
    ]
    assert [e.data["status"] for e in events if e.kind == "tool_call"] == ["recovered"]


# -- an agent stops when a person refuses to send again ---------------------------------------


class TriesAgain(RecordingChatModel):
    """Pays; told of an error, pays again under a new call id; then answers."""

    def reply(self, messages: list[BaseMessage]) -> BaseMessage:
        told = [m for m in messages if isinstance(m, ToolMessage)]
        if not told:
            return AIMessage("", tool_calls=[{"name": "pay", "args": ARGS, "id": "c1"}])
        if str(told[-1].content).startswith("Error") and len(told) < 2:
            return AIMessage("", tool_calls=[{"name": "pay", "args": ARGS, "id": "c2"}])
        return AIMessage("done")


def paying_agent(paid: list[dict[str, Any]]) -> tuple[RailGraph, TriesAgain]:
    tools = pay_tools(paid)

    model = TriesAgain(responses=[AIMessage("unused")])
    g = GraphBuilder("paying", Chat, tools=tools)
    g.agent("agent", model=model, model_name="m", tools=["pay"], prompt=lambda s: "pay it",
            answered=END)  # fmt: skip
    g.edge(START, "agent")
    return g.build(), model


AGENT_STOPPED = (
    "tool 'pay' at node 'agent': maria chose not to send the call again (it already went "
    "out); the run stops"
)
AGENT_TRAIL = [
    ("run_started", None),
    ("llm_call", "agent"),
    ("agent_turn", "agent"),
    ("node_finished", "agent"),
    ("approval_requested", "agent"),
    ("effect_reviewed", "agent"),
    ("run_failed", "agent"),
]


async def test_a_refusal_stops_an_agent_under_the_runner(
    tmp_path: Path, fake_time: FakeTime
) -> None:
    paid: list[dict[str, Any]] = []
    rail, model = paying_agent(paid)
    key = _idempotency_key("a1", "agent", "pay", ARGS, "1:c1")
    async with Runner.open(tmp_path / "r.db", clock=fake_time.clock, timer=fake_time.timer) as r:
        await r.store.begin_effect(key, run_id="a1", node="agent", tool="pay", args=ARGS)
        paused = await r.start(rail, {}, run_id="a1")
        assert [p.request["kind"] for p in paused.pending] == ["unknown_effect"]

        done = await r.reject("a1", by="maria", reason="it already went out")

        assert (done.status, done.reason) == ("failed", f"EffectRefused: {AGENT_STOPPED}")
        assert paid == []
        # The model chose the call once and was never told of the refusal to try again.
        assert [[type(m) for m in seen] for seen in model.seen] == [[HumanMessage]]
        [approval] = await r.store.list_approvals(run_id="a1", status=None)
        assert (approval.status, approval.decided_by) == ("rejected", "maria")
        effects = await r.store.list_effects("a1")
        assert [(e.idempotency_key, e.status) for e in effects] == [(key, "started")]
        assert [(e.kind, e.node) for e in await r.store.list_events("a1")] == AGENT_TRAIL


async def test_a_refusal_stops_an_agent_when_served(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    rail, model = paying_agent(paid)
    key = _idempotency_key("a1", "agent", "pay", ARGS, "1:c1")
    await saver.store.begin_effect(key, run_id="a1", node="agent", tool="pay", args=ARGS)
    served = serve(rail, tmp_path, fake_time)
    await drive(served, saver, "a1", {})

    with pytest.raises(Exception) as caught:
        await drive(served, saver, "a1", answer("response", "it already went out"))

    assert (type(caught.value).__name__, str(caught.value)) == ("EffectRefused", AGENT_STOPPED)
    record = await saver.store.get_run("a1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == (
        "failed",
        f"EffectRefused: {AGENT_STOPPED}",
        None,
    )
    assert paid == []
    assert [[type(m) for m in seen] for seen in model.seen] == [[HumanMessage]]
    [approval] = await saver.store.list_approvals(run_id="a1", status=None)
    assert (approval.status, approval.decided_by) == ("rejected", "maria")
    effects = await saver.store.list_effects("a1")
    assert [(e.idempotency_key, e.status) for e in effects] == [(key, "started")]
    assert [(e.kind, e.node) for e in await saver.store.list_events("a1")] == AGENT_TRAIL


async def test_an_agents_approved_resend_is_spent_once_too(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    """The agent's call, keyed by its turn and call id: asked again after the crashed
    re-send, under the runner and the server alike; the model is told the one result."""
    key = _idempotency_key("a1", "agent", "pay", ARGS, "1:c1")
    runner_paid: list[dict[str, Any]] = []
    rail, runner_model = paying_agent_crashing(runner_paid, [Crash()])
    effect = (key, "agent", "pay", ARGS)
    async with resumed_after_a_crash(tmp_path, fake_time, rail, effect, run_id="a1") as (
        r,
        _,
        resumed,
    ):
        assert (resumed.status, runner_paid) == ("paused", [ARGS])
        assert [p.request["kind"] for p in resumed.pending] == ["unknown_effect"]
        done = await r.approve("a1", by="maria")
        runner_approvals = [
            a.status for a in await r.store.list_approvals(run_id="a1", status=None)
        ]
        runner_events = [(e.kind, e.node) for e in await r.store.list_events("a1")]
    assert (done.status, runner_paid) == ("completed", [ARGS, ARGS])
    assert runner_approvals == ["approved", "approved"]

    paid: list[dict[str, Any]] = []
    rail, model = paying_agent_crashing(paid, [Crash()])
    await saver.store.begin_effect(key, run_id="a1", node="agent", tool="pay", args=ARGS)
    served = serve(rail, tmp_path, fake_time)
    await drive(served, saver, "a1", {})
    with pytest.raises(Crash):
        await drive(served, saver, "a1", answer("accept"))
    snapshot = await drive(served, saver, "a1", None)
    assert (len(snapshot.interrupts), paid) == (1, [ARGS])
    snapshot = await drive(served, saver, "a1", answer("accept"))

    assert (snapshot.interrupts, paid) == ((), [ARGS, ARGS])
    record = await saver.store.get_run("a1")
    assert record is not None
    assert (record.status, record.error) == ("completed", None)
    approvals = await saver.store.list_approvals(run_id="a1", status=None)
    assert [a.status for a in approvals] == runner_approvals
    assert [(e.kind, e.node) for e in await saver.store.list_events("a1")] == runner_events
    told = [m.content for m in model.seen[-1] if isinstance(m, ToolMessage)]
    runner_told = [m.content for m in runner_model.seen[-1] if isinstance(m, ToolMessage)]
    assert told == runner_told == ['{"paid":1250.0,"reference":"P-2"}']
    [effect] = await saver.store.list_effects("a1")
    assert (effect.status, effect.result, effect.resent_question) == (
        "completed",
        {"paid": 1250.0, "reference": "P-2"},
        2,
    )


class TokenArgs(BaseModel):
    amount: float
    memo: str
    api_token: str = ""


CALLS = {
    # Two effects of one step, the second of which crashes: (tool, args) each. Their shown
    # arguments may be the same (two tools) or differ only in a secret the store redacts.
    "other arguments": (
        ("pay", {"amount": 1.0, "memo": "a"}),
        ("pay", {"amount": 2.0, "memo": "b"}),
    ),
    "two tools": (("pay", {"amount": 1.0, "memo": "o"}), ("ship", {"amount": 1.0, "memo": "o"})),
    "secret differs": (
        ("pay", {"amount": 1.0, "memo": "m", "api_token": "tok-A"}),
        ("pay", {"amount": 1.0, "memo": "m", "api_token": "tok-B"}),
    ),
}


def two_effects(
    sent: list[tuple[str, dict[str, Any]]],
    crashes: list[BaseException],
    first: tuple[str, dict[str, Any]],
    second: tuple[str, dict[str, Any]],
) -> RailGraph:
    """One step that makes two effects; the second crashes the process mid-call once."""
    tools = ToolRegistry()

    def effect(name: str) -> None:
        @tools.tool(tier="write", name=name, description=f"{name} money.")
        def call(args: TokenArgs) -> Receipt:
            made = args.model_dump(exclude_defaults=True)
            sent.append((name, made))
            if (name, made) == second and crashes:
                raise crashes.pop()
            return Receipt(paid=args.amount, reference=f"R-{len(sent)}")

    effect("pay")
    effect("ship")

    async def both(state: Payout, ctx: Any) -> dict[str, Any]:
        await ctx.call_tool(*first)
        return {"receipt": await ctx.call_tool(*second)}

    g = GraphBuilder("twice", Payout, tools=tools)
    g.step("both", both).edge(START, "both").edge("both", END)
    return g.build()


@pytest.mark.parametrize("calls", list(CALLS))
async def test_an_answer_about_one_effect_never_answers_another_of_the_same_step(
    tmp_path: Path, fake_time: FakeTime, calls: str
) -> None:
    # The first effect's outcome was unknown and a person approved sending it again; the
    # second was then sent and the process died before recording it. On resume the first
    # replays from the ledger and the second asks: LangGraph hands the step its old answer,
    # the first effect's approval, which must not send the second one again.
    first, second = CALLS[calls]
    sent: list[tuple[str, dict[str, Any]]] = []
    rail = two_effects(sent, [Crash()], first, second)
    tool, args = first[0], TokenArgs(**first[1]).model_dump()  # as the call validates them
    key = _idempotency_key("u1", "both", tool, args)
    effect = (key, "both", tool, args)
    async with resumed_after_a_crash(tmp_path, fake_time, rail, effect) as (r, _, resumed):
        approvals = await r.store.list_approvals(run_id="u1", status=None)

    assert sent == [first, second]  # the second effect is not sent again unasked
    assert resumed.status == "paused"
    assert [(a.status, a.decided_by, a.request["action"]["tool"]) for a in approvals] == [
        ("approved", "maria", first[0]),
        ("pending", None, second[0]),
    ]
