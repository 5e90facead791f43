"""A served run asks about an effect a crash left unknown as it asks an approve gate's question.

A tool node that finds its non-idempotent effect ``started`` in the ledger puts the question
to a person. Under LangGraph's server that question must be what the runner makes of it: a
request in the review queue (``railgraph pending`` and the review page show it), a run that
is ``paused`` while it waits, an interrupt in Agent Inbox's shape, an answer checked by the
queue's rules and recorded once, and the same outcome, ledger rows and events as under the
runner.
"""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph.message import add_messages
from langgraph.types import Command
from pydantic import BaseModel, Field

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph._served_db import DATABASES
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.nodes import ToolRegistry
from railgraph.nodes._toolcall import _idempotency_key
from railgraph.server import ServedGraph
from railgraph.vocab import ApprovalStatus
from tests.conftest import FakeTime, FollowingModel
from tests.railgraph.test_server import answer, drive, serve

# Who really runs these tests, read the way an audit would (not through railgraph).
OS_USER = pwd.getpwuid(os.getuid()).pw_name
HOST = socket.gethostname()


class PayArgs(BaseModel):
    amount: float = Field(gt=0)
    memo: str


class Receipt(BaseModel):
    paid: float
    reference: str


class Payout(BaseModel):
    amount: float = 1250.0
    receipt: dict[str, Any] | None = None


ARGS = {"amount": 1250.0, "memo": "refund"}
SEEN = {"paid": 1250.0, "reference": "P-77"}
ASKED_AND_DONE = [
    ("run_started", None),
    ("approval_requested", "pay"),
    ("effect_reviewed", "pay"),
    ("tool_call", "pay"),
    ("node_finished", "pay"),
    ("run_finished", None),
]
"""The trace of a run that asked about its unknown effect, was answered and completed."""


def pay_tools(
    paid: list[dict[str, Any]], crashes: list[BaseException] | None = None
) -> ToolRegistry:
    """`pay`, a write the policy lets run on its own, that is not idempotent: it records each
    payment in ``paid``, and the process dies after one (before the ledger records it)
    while ``crashes`` lasts."""
    tools = ToolRegistry()

    @tools.tool(tier="write", description="Pay money out.")
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())  # the money leaves
        if crashes:
            raise crashes.pop()
        return Receipt(paid=args.amount, reference=f"P-{len(paid)}")

    return tools


def payout(paid: list[dict[str, Any]], crashes: list[BaseException] | None = None) -> RailGraph:
    """One payment (see `pay_tools`)."""
    tools = pay_tools(paid, crashes)

    g = GraphBuilder("payout", Payout, tools=tools)
    g.tool("pay", args=lambda s: {"amount": s.amount, "memo": "refund"}, output="receipt")
    g.edge(START, "pay").edge("pay", END)
    return g.build()


def reason(key: str) -> str:
    return (
        f"tool 'pay' at node 'pay' started but its outcome is unknown in an earlier attempt "
        f"of this run (idempotency key {key}); it is not idempotent, so it is not repeated "
        "automatically. Check the target system: approve to send it again if it did not "
        "happen, say it happened with the result you see there, or reject to stop the run"
    )


async def leave_unknown(saver: SqliteCheckpointer, run_id: str) -> str:
    """What a crash between the effect and its record leaves in the ledger."""
    key = _idempotency_key(run_id, "pay", "pay", ARGS)
    await saver.store.begin_effect(key, run_id=run_id, node="pay", tool="pay", args=ARGS)
    return key


@pytest.fixture
async def saver(tmp_path: Path) -> AsyncIterator[SqliteCheckpointer]:
    async with DATABASES.hold(str(tmp_path / "rg.db")) as opened:
        yield opened


def happened(result: dict[str, Any], by: str = "maria") -> Command[Any]:
    """railgraph's own answer to an unknown effect: it happened, with this result."""
    return Command(
        resume={"decision": "happened", "by": by, "result": result, "reason": "the bank shows it"}
    )


async def asked(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer, paid: list[dict[str, Any]]
) -> tuple[ServedGraph, str, str]:
    """A served run that met an unknown effect and waits for a person: (graph, key, request)."""
    key = await leave_unknown(saver, "u1")
    served = serve(payout(paid), tmp_path, fake_time)
    await drive(served, saver, "u1", {})
    (request,) = await saver.store.list_approvals(run_id="u1", status=None)
    return served, key, request.request_id


async def trail(saver: SqliteCheckpointer, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.node) for e in await saver.store.list_events(run_id)]


async def by_runner(
    tmp_path: Path, fake_time: FakeTime, decide: str
) -> tuple[Any, list[tuple[str, str | None]], list[tuple[str, Any]], list[dict[str, Any]]]:
    """The same graph and the same unknown effect under the runner, answered ``decide``:
    (the run's record, its events, its ledger rows, the tool's calls)."""
    paid: list[dict[str, Any]] = []
    async with Runner.open(
        tmp_path / "runner.db", clock=fake_time.clock, timer=fake_time.timer
    ) as runner:
        key = _idempotency_key("u1", "pay", "pay", ARGS)
        await runner.store.begin_effect(key, run_id="u1", node="pay", tool="pay", args=ARGS)
        paused = await runner.start(payout(paid), {}, run_id="u1")
        assert paused.status == "paused"
        if decide == "accept":
            await runner.approve("u1", by="maria")
        elif decide == "happened":
            await runner.happened("u1", by="maria", result=SEEN, reason="the bank shows it")
        else:
            await runner.reject("u1", by="maria", reason=decide)
        record = await runner.store.get_run("u1")
        events = [(e.kind, e.node) for e in await runner.store.list_events("u1")]
        effects = [(e.status, e.result) for e in await runner.store.list_effects("u1")]
    return record, events, effects, paid


async def same_as_under_the_runner(
    tmp_path: Path,
    fake_time: FakeTime,
    decide: str,
    record: Any,
    events: list[Any],
    effects: list[Any],
    paid: list[dict[str, Any]],
) -> None:
    """Assert that a served run ended as the same graph answered ``decide`` under the
    runner: its record, events, ledger rows and tool calls."""
    runner_record, runner_events, runner_effects, runner_paid = await by_runner(
        tmp_path, fake_time, decide
    )
    assert (record.status, record.error, record.usage, record.result) == (
        runner_record.status,
        runner_record.error,
        runner_record.usage,
        runner_record.result,
    )
    assert [(e.kind, e.node) for e in events] == runner_events
    assert [(e.status, e.result) for e in effects] == runner_effects
    assert paid == runner_paid


async def test_an_unknown_effect_waits_in_the_review_queue_as_an_agent_inbox_interrupt(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    key = await leave_unknown(saver, "u1")
    served = serve(payout(paid), tmp_path, fake_time)

    snapshot = await drive(served, saver, "u1", {})

    assert snapshot.next == ("pay",)
    (request,) = await saver.store.list_approvals(run_id="u1", status=ApprovalStatus.PENDING)
    assert (request.node, request.status, request.graph) == (
        "pay",
        "pending",
        "tests.railgraph.test_served_unknown:payout",
    )
    review = {
        "gate": "pay",
        "kind": "unknown_effect",
        "action": {
            "node": "pay",
            "tool": "pay",
            "args": ARGS,
            "tier": "write",
            "policy": "auto",
            "description": "Pay money out.",
        },
        "reason": reason(key),
        "spend": request.request["spend"],
        "failures": [],
        "reviewers": [],
        "allow_self_approval": True,
        "expires_after_s": None,
        "call_id": None,
        "turn": None,
        "rule": None,
        "conversation": [],
        "effect": key,
    }
    assert set(request.request["spend"].values()) == {0}
    assert request.request == {**review, "run_id": "u1", "graph": "payout", "path": []}
    (interrupt,) = snapshot.interrupts
    assert interrupt.value == [
        {
            "action_request": {"action": "pay", "args": ARGS},
            "config": {
                "allow_accept": True,
                "allow_edit": False,
                "allow_respond": True,
                "allow_ignore": False,
            },
            "description": (
                f"**{reason(key)}**\n\n"
                "Tool `pay` (write, policy: auto) at node `pay`: Pay money out.\n"
                f"Gate `pay` of run `u1`; request `{request.request_id}`.\n"
                "Accept only if the call did not happen: it is sent again. If it happened, "
                'answer {"decision": "happened", "by": "<your name>", "result": {...}} with '
                "the result the target system shows. Respond with the reason to stop the run."
            ),
            "railgraph": {
                "request_id": request.request_id,
                "run_id": "u1",
                "gate": "pay",
                "request": request.request,
            },
        }
    ]
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == (
        "paused",
        f"pay: {reason(key)}",
        None,
    )
    events = await saver.store.list_events("u1")
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("approval_requested", "pay"),
    ]
    assert events[-1].data == {"request_id": request.request_id, "request": review}
    effects = await saver.store.list_effects("u1")
    assert [(e.status, e.result) for e in effects] == [("started", None)]
    assert paid == []
    # The queue the CLI and the review page read lists it.
    async with Runner.open(tmp_path / "rg.db") as runner:
        assert [p.request_id for p in await runner.pending()] == [request.request_id]


async def test_accept_sends_the_call_again_once_as_the_runner_does(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    served, key, request_id = await asked(tmp_path, fake_time, saver, paid)

    snapshot = await drive(served, saver, "u1", answer("accept"))

    assert (snapshot.next, snapshot.interrupts) == ((), ())
    assert paid == [ARGS]
    assert snapshot.values["receipt"] == {"paid": 1250.0, "reference": "P-1"}
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == ("completed", None, None)
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("approved", "maria")
    effects = await saver.store.list_effects("u1")
    assert [(e.idempotency_key, e.status, e.result) for e in effects] == [
        (key, "completed", {"paid": 1250.0, "reference": "P-1"})
    ]
    events = await saver.store.list_events("u1")
    [reviewed] = [e for e in events if e.kind == "effect_reviewed"]
    assert (reviewed.node, reviewed.data) == (
        "pay",
        {
            "tool": "pay",
            "idempotency_key": key,
            "decision": "approve",
            "by": "maria",
            "os_user": OS_USER,
            "host": HOST,
            "reason": None,
            "result": None,
        },
    )
    assert [e.data["status"] for e in events if e.kind == "tool_call"] == ["recovered"]

    await same_as_under_the_runner(tmp_path, fake_time, "accept", record, events, effects, paid)

    # A second answer has nothing to resume: the thread is done and nothing runs twice.
    await drive(served, saver, "u1", answer("accept"))
    assert paid == [ARGS]


async def test_it_happened_takes_the_observed_result_as_the_runner_does(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    served, key, request_id = await asked(tmp_path, fake_time, saver, paid)

    snapshot = await drive(served, saver, "u1", happened({"paid": 1250, "reference": "P-77"}))

    assert (snapshot.next, snapshot.interrupts) == ((), ())
    assert paid == []  # not sent again
    assert snapshot.values["receipt"] == SEEN
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == ("completed", None, None)
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("happened", "maria")
    assert approval.decision is not None
    assert approval.decision["result"] == SEEN
    effects = await saver.store.list_effects("u1")
    assert [(e.idempotency_key, e.status, e.result) for e in effects] == [(key, "completed", SEEN)]
    events = await saver.store.list_events("u1")
    assert [(e.kind, e.node) for e in events] == ASKED_AND_DONE
    assert events[2].data == {
        "tool": "pay",
        "idempotency_key": key,
        "decision": "happened",
        "by": "maria",
        "os_user": OS_USER,
        "host": HOST,
        "reason": "the bank shows it",
        "result": SEEN,
    }
    assert (events[3].data["status"], events[3].data["result"]) == ("reported", SEEN)

    await same_as_under_the_runner(tmp_path, fake_time, "happened", record, events, effects, paid)


async def test_a_response_stops_the_run_as_the_runner_does(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    served, _key, request_id = await asked(tmp_path, fake_time, saver, paid)

    with pytest.raises(Exception) as caught:
        await drive(served, saver, "u1", answer("response", "the bank is down, stop"))

    stopped = (
        "tool 'pay' at node 'pay': maria chose not to send the call again "
        "(the bank is down, stop); the run stops"
    )
    assert (type(caught.value).__name__, str(caught.value)) == ("EffectRefused", stopped)
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == (
        "failed",
        f"EffectRefused: {stopped}",
        None,
    )
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("rejected", "maria")
    assert paid == []
    effects = await saver.store.list_effects("u1")
    assert [(e.status, e.result) for e in effects] == [("started", None)]
    events = await saver.store.list_events("u1")
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("approval_requested", "pay"),
        ("effect_reviewed", "pay"),
        ("run_failed", "pay"),
    ]
    assert events[2].data["decision"] == "reject"

    await same_as_under_the_runner(
        tmp_path, fake_time, "the bank is down, stop", record, events, effects, paid
    )


async def test_a_result_that_does_not_fit_is_refused_and_asked_again(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    served, key, request_id = await asked(tmp_path, fake_time, saver, paid)

    snapshot = await drive(served, saver, "u1", happened({"paid": 1250.0}))

    (interrupt,) = snapshot.interrupts
    assert interrupt.value[0]["description"].splitlines()[:2] == [
        "**Your last answer was refused:** the result given does not fit the output of tool "
        "'pay' (reference: Field required); the request is still pending, give the result "
        "as the tool returns it: Receipt (paid, reference)",
        "",
    ]
    assert interrupt.value[0]["railgraph"]["request_id"] == request_id
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decision) == ("pending", None)
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error) == ("paused", f"pay: {reason(key)}")
    effects = await saver.store.list_effects("u1")
    assert [(e.status, e.result) for e in effects] == [("started", None)]
    # Asked again, not announced again: the request is in the queue once.
    assert await trail(saver, "u1") == [("run_started", None), ("approval_requested", "pay")]
    assert len(await saver.store.list_approvals(run_id="u1", status=None)) == 1

    # The next answer is taken: the refused one stays refused.
    await drive(served, saver, "u1", happened(SEEN))
    record = await saver.store.get_run("u1")
    assert record is not None
    assert record.status == "completed"
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert approval.status == "happened"
    assert paid == []


async def test_a_decision_recorded_elsewhere_first_is_the_one_delivered(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    """Recorded by the review queue (``railgraph approve RUN --happened ... --queue``)
    while the thread waits: the answer the server brings later delivers that decision."""
    paid: list[dict[str, Any]] = []
    served, _key, request_id = await asked(tmp_path, fake_time, saver, paid)
    async with Runner.open(tmp_path / "rg.db", clock=fake_time.clock) as runner:
        runner.register(served.ref, served.rail)
        recorded = await runner.happened(
            "u1", by="ops", result=SEEN, reason="the bank shows it", deliver=False
        )
    assert recorded.status == "paused"

    await drive(served, saver, "u1", answer("accept"))

    assert paid == []
    record = await saver.store.get_run("u1")
    assert record is not None
    assert record.status == "completed"
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("happened", "ops")
    effects = await saver.store.list_effects("u1")
    assert [(e.status, e.result) for e in effects] == [("completed", SEEN)]
    events = await saver.store.list_events("u1")
    [reviewed] = [e for e in events if e.kind == "effect_reviewed"]
    assert (reviewed.data["decision"], reviewed.data["by"]) == ("happened", "ops")


@pytest.mark.parametrize("decide", ["accept", "happened"])
async def test_a_runner_records_a_decision_on_a_served_question_and_the_server_delivers_it(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer, decide: str
) -> None:
    """`railgraph approve RUN` / `happened RUN` without --queue on a served thread: the
    runner records the decision and leaves the thread to the server (it once failed on the
    Agent Inbox list, leaving the run `running`); the server's next answer delivers it."""
    paid: list[dict[str, Any]] = []
    served, key, request_id = await asked(tmp_path, fake_time, saver, paid)
    async with Runner.open(tmp_path / "rg.db", clock=fake_time.clock) as runner:
        runner.register(served.ref, served.rail)
        if decide == "accept":
            done = await runner.approve("u1", by="ops")
        else:
            done = await runner.happened("u1", by="ops", result=SEEN, reason="the bank shows it")

    waits = (
        f"the decision on request {request_id} is recorded; the run waits in LangGraph's "
        "server, which delivers it when the thread is resumed there (any answer to its "
        "interrupt)"
    )
    assert (done.status, done.reason, done.pending) == ("paused", waits, [])
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == ("paused", waits, None)
    assert paid == []  # the runner sent nothing
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    status = "approved" if decide == "accept" else "happened"
    assert (approval.status, approval.decided_by) == (status, "ops")
    assert await trail(saver, "u1") == [("run_started", None), ("approval_requested", "pay")]

    await drive(served, saver, "u1", answer("accept"))  # any answer: the recorded one goes

    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == ("completed", None, None)
    sent = [{"amount": 1250.0, "memo": "refund"}] if decide == "accept" else []
    assert paid == sent
    receipt = {"paid": 1250.0, "reference": "P-1"} if decide == "accept" else SEEN
    effects = await saver.store.list_effects("u1")
    assert [(e.idempotency_key, e.status, e.result) for e in effects] == [
        (key, "completed", receipt)
    ]
    events = await saver.store.list_events("u1")
    [reviewed] = [e for e in events if e.kind == "effect_reviewed"]
    decided = "approve" if decide == "accept" else "happened"
    assert (reviewed.data["decision"], reviewed.data["by"]) == (decided, "ops")
    assert [(e.kind, e.node) for e in events] == ASKED_AND_DONE


class Crash(BaseException):
    """A process that dies: nothing of the node's step is stored."""


@pytest.mark.parametrize(
    "where",
    [
        "acquire_lease",  # the decision is recorded, the run not yet taken back
        "complete_effect",  # the run is taken back, the observed result not yet recorded
    ],
)
async def test_a_crash_after_the_decision_is_recorded_delivers_it_once(
    tmp_path: Path,
    fake_time: FakeTime,
    saver: SqliteCheckpointer,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    paid: list[dict[str, Any]] = []
    served, _key, request_id = await asked(tmp_path, fake_time, saver, paid)
    works = getattr(saver.store, where)
    crashes = [Crash()]

    async def dies_once(*args: Any, **kwargs: Any) -> Any:
        if crashes:
            raise crashes.pop()
        return await works(*args, **kwargs)

    monkeypatch.setattr(saver.store, where, dies_once)
    with pytest.raises(Crash):
        await drive(served, saver, "u1", happened(SEEN))
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("happened", "maria")
    decided_at = approval.decided_at

    # The server runs the thread again from its last checkpoint.
    snapshot = await drive(served, saver, "u1", None)

    assert (snapshot.next, snapshot.interrupts) == ((), ())
    assert paid == []
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.lease_owner) == ("completed", None)
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by, approval.decided_at) == (
        "happened",
        "maria",
        decided_at,
    )
    effects = await saver.store.list_effects("u1")
    assert [(e.status, e.result) for e in effects] == [("completed", SEEN)]
    assert await trail(saver, "u1") == ASKED_AND_DONE


async def test_an_answer_to_a_run_cancelled_while_it_waits_sends_nothing(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    paid: list[dict[str, Any]] = []
    served, key, request_id = await asked(tmp_path, fake_time, saver, paid)
    await saver.store.cancel_run("u1", by="ops", reason="wrong account", at=fake_time.now)

    with pytest.raises(Exception) as caught:
        await drive(served, saver, "u1", answer("accept"))

    assert (type(caught.value).__name__, str(caught.value)) == (
        "RunCancelled",
        "run u1 was cancelled, so the call to tool 'pay' was not made",
    )
    assert paid == []
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error) == (
        "cancelled",
        f"cancelled by ops: wrong account; pay at node pay (key {key}) had started and its "
        "outcome was unknown when the run was cancelled: it may have happened — check the "
        "target system before doing it again",
    )
    approval = await saver.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("cancelled", "ops")


def cancel_after_the_claim(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel from another process that commits right after the ledger's claim."""
    claim = store.begin_effect

    async def then_cancel(key: str, **kwargs: Any) -> Any:
        prior = await claim(key, **kwargs)
        await store.cancel_run(kwargs["run_id"], by="ops", reason="stop it", at=1.0)
        return prior

    monkeypatch.setattr(store, "begin_effect", then_cancel)


async def test_a_run_cancelled_before_it_asks_asks_nobody_as_under_the_runner(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Runner.open(
        tmp_path / "runner.db", clock=fake_time.clock, timer=fake_time.timer
    ) as runner:
        key = _idempotency_key("u1", "pay", "pay", ARGS)
        await runner.store.begin_effect(key, run_id="u1", node="pay", tool="pay", args=ARGS)
        cancel_after_the_claim(runner.store, monkeypatch)
        outcome = await runner.start(payout([]), {}, run_id="u1")
        runner_record = await runner.store.get_run("u1")
        runner_events = await runner.store.list_events("u1")
        assert await runner.store.list_approvals(run_id="u1", status=None) == []
    assert outcome.status == "cancelled"
    assert runner_record is not None

    paid: list[dict[str, Any]] = []
    await leave_unknown(saver, "u1")
    cancel_after_the_claim(saver.store, monkeypatch)
    # The real clock, as the store the cancel goes through has: with a clock of its own the
    # served run's lease would look lapsed to it, and a lapsed lease is given up.
    served = ServedGraph(payout(paid), db=tmp_path / "rg.db")
    with pytest.raises(Exception) as caught:
        await drive(served, saver, "u1", {})

    assert (type(caught.value).__name__, str(caught.value)) == (
        "RunCancelled",
        "run u1 was cancelled, so nobody was asked",
    )
    assert await saver.store.list_approvals(run_id="u1", status=None) == []
    record = await saver.store.get_run("u1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == (
        runner_record.status,
        runner_record.error,
        None,
    )
    events = await saver.store.list_events("u1")
    assert [(e.kind, e.node) for e in events] == [(e.kind, e.node) for e in runner_events]
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("run_cancelled", None),
        ("cancelled", None),
    ]
    assert events[-1].data == runner_events[-1].data
    assert paid == []


class Chat(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


def paying_agent(
    paid: list[dict[str, Any]], crashes: list[BaseException] | None = None
) -> tuple[RailGraph, FollowingModel]:
    """An agent that pays once and answers; the process dies after a payment while
    ``crashes`` lasts."""
    tools = pay_tools(paid, crashes)

    model = FollowingModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "pay", "args": ARGS, "id": "c1"}]),
            AIMessage("paid"),
        ]
    )
    g = GraphBuilder("paying", Chat, tools=tools)
    g.agent("agent", model=model, model_name="m", tools=["pay"], prompt=lambda s: "pay it",
            answered=END)  # fmt: skip
    g.edge(START, "agent")
    return g.build(), model


async def test_an_agents_call_with_an_unknown_effect_is_asked_as_under_the_runner(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    """The agent's call is keyed by its turn and call id; what a person says it returned
    is what the model is told, under the server as under the runner."""
    key = _idempotency_key("a1", "agent", "pay", ARGS, "1:c1")
    async with Runner.open(
        tmp_path / "runner.db", clock=fake_time.clock, timer=fake_time.timer
    ) as runner:
        runner_paid: list[dict[str, Any]] = []
        rail, runner_model = paying_agent(runner_paid)
        await runner.store.begin_effect(key, run_id="a1", node="agent", tool="pay", args=ARGS)
        paused = await runner.start(rail, {}, run_id="a1")
        assert [p.request["kind"] for p in paused.pending] == ["unknown_effect"]
        done = await runner.happened("a1", by="maria", result=SEEN, reason="the bank shows it")
        runner_events = [(e.kind, e.node) for e in await runner.store.list_events("a1")]
    assert done.status == "completed"

    paid: list[dict[str, Any]] = []
    rail, model = paying_agent(paid)
    await saver.store.begin_effect(key, run_id="a1", node="agent", tool="pay", args=ARGS)
    served = serve(rail, tmp_path, fake_time)
    snapshot = await drive(served, saver, "a1", {})
    (interrupt,) = snapshot.interrupts
    (request,) = await saver.store.list_approvals(run_id="a1", status=ApprovalStatus.PENDING)
    assert (request.node, request.request["kind"]) == ("agent", "unknown_effect")
    assert interrupt.value[0]["railgraph"]["request_id"] == request.request_id
    record = await saver.store.get_run("a1")
    assert record is not None
    assert record.status == "paused"

    snapshot = await drive(served, saver, "a1", happened(SEEN))

    assert snapshot.interrupts == ()
    assert paid == runner_paid == []
    record = await saver.store.get_run("a1")
    assert record is not None
    assert (record.status, record.error) == ("completed", None)
    told = [m.content for m in model.seen[-1] if isinstance(m, ToolMessage)]
    runner_told = [m.content for m in runner_model.seen[-1] if isinstance(m, ToolMessage)]
    assert told == runner_told
    assert told == ['{"paid":1250.0,"reference":"P-77"}']
    effects = await saver.store.list_effects("a1")
    assert [(e.idempotency_key, e.status, e.result) for e in effects] == [(key, "completed", SEEN)]
    assert [(e.kind, e.node) for e in await saver.store.list_events("a1")] == runner_events


class Two(BaseModel):
    a: dict[str, Any] | None = None
    b: dict[str, Any] | None = None


def paying_in_parallel(paid: list[dict[str, Any]]) -> RailGraph:
    """Two branches of one step, each a payment."""
    tools = pay_tools(paid)

    g = GraphBuilder("two", Two, tools=tools)
    g.tool("a", tool="pay", args=lambda s: ARGS, output="a")
    g.tool("b", tool="pay", args=lambda s: ARGS, output="b")
    g.edge(START, "a").edge(START, "b").edge("a", END).edge("b", END)
    return g.build()


async def both_asked(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer, paid: list[dict[str, Any]]
) -> tuple[ServedGraph, dict[str, Any]]:
    """Run `p1` of `paying_in_parallel`, both payments left unknown, until both branches
    ask: the served graph and each branch's interrupt, by node."""
    for node in ("a", "b"):
        key = _idempotency_key("p1", node, "pay", ARGS)
        await saver.store.begin_effect(key, run_id="p1", node=node, tool="pay", args=ARGS)
    served = serve(paying_in_parallel(paid), tmp_path, fake_time)
    asked = await drive(served, saver, "p1", {})
    by_gate = {i.value[0]["railgraph"]["gate"]: i for i in asked.interrupts}
    assert sorted(by_gate) == ["a", "b"]
    return served, by_gate


async def test_parallel_questions_keep_the_run_paused_until_the_last_is_answered(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    # Both branches ask in one step; answering one took the run's lease back while the
    # other still waited, so the run showed `running` under the server's lease with nobody
    # driving it, and a decision taken elsewhere waited for the lease to lapse.
    paid: list[dict[str, Any]] = []
    served, asked = await both_asked(tmp_path, fake_time, saver, paid)
    by_gate = {gate: interrupt.id for gate, interrupt in asked.items()}

    after_a = await drive(
        served, saver, "p1", Command(resume={by_gate["a"]: answer("accept").resume})
    )

    assert [i.value[0]["railgraph"]["gate"] for i in after_a.interrupts] == ["b"]
    record = await saver.store.get_run("p1")
    assert record is not None
    (waiting,) = await saver.store.list_approvals(run_id="p1", status=ApprovalStatus.PENDING)
    assert (record.status, record.lease_owner, waiting.node) == ("paused", None, "b")
    assert record.error == f"b: {waiting.request['reason']}"
    assert paid == [ARGS]

    done = await drive(served, saver, "p1", Command(resume={by_gate["b"]: answer("accept").resume}))

    assert (done.next, done.interrupts) == ((), ())
    record = await saver.store.get_run("p1")
    assert record is not None
    assert (record.status, record.lease_owner) == ("completed", None)
    assert paid == [ARGS, ARGS]


async def test_a_parallel_question_decided_elsewhere_keeps_the_run_paused_for_the_server(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    # b's decision is recorded by the review queue while the thread waits; a is answered in
    # the server. The thread still waits on b (the server's next answer delivers it), so the
    # run is paused, saying so, not left running under the server's lease.
    paid: list[dict[str, Any]] = []
    served, by_gate = await both_asked(tmp_path, fake_time, saver, paid)
    b_request = by_gate["b"].value[0]["railgraph"]["request_id"]
    async with Runner.open(tmp_path / "rg.db", clock=fake_time.clock) as runner:
        runner.register(served.ref, served.rail)
        await runner.approve("p1", by="ops", request_id=b_request, deliver=False)

    await drive(served, saver, "p1", Command(resume={by_gate["a"].id: answer("accept").resume}))

    record = await saver.store.get_run("p1")
    assert record is not None
    assert (record.status, record.lease_owner, record.error) == (
        "paused",
        None,
        f"the decision on request {b_request} is recorded; the run waits in LangGraph's "
        "server, which delivers it when the thread is resumed there (any answer to its "
        "interrupt)",
    )
    assert paid == [ARGS]

    await drive(served, saver, "p1", Command(resume={by_gate["b"].id: answer("accept").resume}))

    record = await saver.store.get_run("p1")
    assert record is not None
    assert (record.status, record.lease_owner) == ("completed", None)
    assert paid == [ARGS, ARGS]
