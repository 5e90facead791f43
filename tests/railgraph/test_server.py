"""A railgraph graph served by LangGraph's server, driven in-process the way the server does.

The server calls the graph factory with a run's config, gives the graph its checkpointer and
runs it; a paused run must show as an interrupt in Agent Inbox's shape, an answer must reach
the right gate through the queue's rules, and the run store must agree with the thread.
``test_server_http.py`` drives the same through a real ``langgraph dev``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, StateSnapshot
from pydantic import BaseModel

from railgraph import (
    END,
    START,
    BudgetExhausted,
    DecisionError,
    DefinitionError,
    GraphBuilder,
    InputError,
    RailGraph,
    Runner,
)
from railgraph._served_db import DATABASES
from railgraph.checkpointers import SqliteCheckpointer, open_store
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import make_graph
from railgraph.graphs.support_agent import make_graph as make_agent
from railgraph.nodes import BudgetEnvelope, Decision, NodeContext
from railgraph.server import SETTLE, ServedGraph
from railgraph.vocab import ApprovalStatus, DecisionKind
from tests.conftest import FakeTime

REFUND_ARGS = {"ticket_id": "T-1002", "invoice_id": "INV-5002", "amount": 480.0}


@pytest.fixture
def helpdesk(tmp_path: Path) -> Helpdesk:
    return Helpdesk(tmp_path / "helpdesk.db")


@pytest.fixture
async def saver(tmp_path: Path) -> AsyncIterator[SqliteCheckpointer]:
    async with DATABASES.hold(str(tmp_path / "rg.db")) as opened:
        yield opened


def serve(rail: RailGraph, tmp_path: Path, fake_time: FakeTime) -> ServedGraph:
    return ServedGraph(rail, db=tmp_path / "rg.db", clock=fake_time.clock, timer=fake_time.timer)


async def drive(
    served: ServedGraph, saver: SqliteCheckpointer, run_id: str, payload: Any
) -> StateSnapshot:
    """What the server does for one run: the factory's graph, its checkpointer, a drive."""
    config: Any = {"configurable": {"thread_id": run_id}}
    async with served(config) as app:
        app = app.copy(update={"checkpointer": saver})
        await app.ainvoke(payload, config, durability="sync")
        return await app.aget_state(config)


def answer(kind: str, args: Any = None, by: str | None = "maria") -> Command[Any]:
    """An Agent Inbox HumanResponse (a list of one), with the reviewer's name."""
    response: dict[str, Any] = {"type": kind, "args": args}
    if by is not None:
        response["by"] = by
    return Command(resume=[response])


async def kinds(saver: SqliteCheckpointer, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.node) for e in await saver.store.list_events(run_id)]


RUN_TO_THE_GATE = [
    ("run_started", None),
    ("tool_call", "load_ticket"),
    ("node_finished", "load_ticket"),
    ("llm_call", "classify"),
    ("node_finished", "classify"),
    ("route", "by_intent"),
    ("node_finished", "by_intent"),
    ("tool_call", "lookup_invoice"),
    ("node_finished", "lookup_invoice"),
    ("verdict", "verify_invoice"),
    ("node_finished", "verify_invoice"),
    ("budget_check", "budget"),
    ("node_finished", "budget"),
    ("route", "by_amount"),
    ("node_finished", "by_amount"),
    ("node_started", "approve_refund"),
    ("approval_requested", "approve_refund"),
]


async def test_a_large_refund_waits_as_an_interrupt_in_agent_inbox_shape(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    snapshot = await drive(served, saver, "r1", {"ticket_id": "T-1002"})

    assert snapshot.next == (SETTLE,)
    (asked,) = snapshot.interrupts
    (request,) = await saver.store.list_approvals(run_id="r1", status=None)
    assert request.status == "pending"
    assert request.node == "approve_refund"
    assert asked.value == [
        {
            "action_request": {"action": "create_refund", "args": REFUND_ARGS},
            "config": {
                "allow_accept": True,
                "allow_edit": True,
                "allow_respond": True,
                "allow_ignore": False,
            },
            "description": (
                "**refund of $480.00 is over the $100.00 limit**\n\n"
                "Tool `create_refund` (irreversible, policy: conditional) at node "
                "`create_refund`: Pay money back to the customer. Cannot be undone.\n"
                f"Gate `approve_refund` of run `r1`; request `{request.request_id}`.\n"
                "Spent so far: cost_usd 1.92e-05, input_tokens 120, llm_calls 1, "
                "output_tokens 2, steps 7, tokens 122, tool_calls 2.\n"
                "Accept to approve, edit the arguments to approve them changed, or respond "
                "with the reason to reject."
            ),
            "railgraph": {
                "request_id": request.request_id,
                "run_id": "r1",
                "gate": "approve_refund",
                "request": request.request,
            },
        }
    ]
    record = await saver.store.get_run("r1")
    assert record is not None
    assert (record.status, record.error, record.graph, record.lease_owner) == (
        "paused",
        "approve_refund: refund of $480.00 is over the $100.00 limit",
        "railgraph.graphs.refund:refund",  # the module and name of a graph object not exported
        None,
    )
    assert record.usage["tool_calls"] == 2
    assert await kinds(saver, "r1") == RUN_TO_THE_GATE
    assert await saver.store.list_effects("r1") == []
    assert helpdesk.refunds() == []


async def test_accepting_makes_the_refund_once_and_completes_the_run(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    snapshot = await drive(served, saver, "r1", answer("accept"))

    assert (snapshot.next, snapshot.interrupts) == ((), ())
    assert snapshot.values["refund"]["amount"] == 480.0
    record = await saver.store.get_run("r1")
    assert record is not None
    assert (record.status, record.error, record.lease_owner) == ("completed", None, None)
    assert record.usage["tool_calls"] == 4
    (request,) = await saver.store.list_approvals(run_id="r1", status=None)
    assert (request.status, request.decided_by) == ("approved", "maria")
    assert request.decision is not None
    assert (request.decision["decision"], request.decision["reviewed"]) == (
        "approve",
        REFUND_ARGS,
    )
    effects = await saver.store.list_effects("r1")
    assert [(e.tool, e.status, e.args) for e in effects] == [
        ("create_refund", "completed", REFUND_ARGS),
        ("notify_customer", "completed", effects[1].args),
    ]
    assert [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()] == [("T-1002", 480.0)]
    assert await kinds(saver, "r1") == [
        *RUN_TO_THE_GATE,
        ("approval_decided", "approve_refund"),
        ("node_finished", "approve_refund"),
        ("tool_call", "create_refund"),
        ("node_finished", "create_refund"),
        ("tool_call", "notify_customer"),
        ("node_finished", "notify_customer"),
        ("run_finished", None),
    ]
    # A second answer has nothing to resume: the thread is done and nothing runs twice.
    snapshot = await drive(served, saver, "r1", answer("accept"))
    assert len(helpdesk.refunds()) == 1


async def test_an_edit_from_agent_inbox_sends_text_and_refunds_the_edited_amount(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    # Agent Inbox sends every argument back as text.
    edited = {"ticket_id": "T-1002", "invoice_id": "INV-5002", "amount": "80"}
    await drive(served, saver, "r1", answer("edit", {"action": "create_refund", "args": edited}))

    record = await saver.store.get_run("r1")
    assert record is not None
    assert record.status == "completed"
    (request,) = await saver.store.list_approvals(run_id="r1", status=None)
    assert request.status == "edited"
    assert request.decision is not None
    assert request.decision["args"] == {"amount": 80}
    assert [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()] == [("T-1002", 80.0)]


async def test_a_response_rejects_with_its_text_as_the_reason(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    snapshot = await drive(served, saver, "r1", answer("response", "duplicate ticket"))

    assert snapshot.interrupts == ()
    record = await saver.store.get_run("r1")
    assert record is not None
    assert (record.status, record.error) == ("rejected", "rejected by maria: duplicate ticket")
    (request,) = await saver.store.list_approvals(run_id="r1", status=None)
    assert (request.status, request.decided_by) == ("rejected", "maria")
    assert helpdesk.refunds() == []
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We could not approve the refund requested in ticket T-1002."
    ]


@pytest.mark.parametrize(
    ("response", "refused"),
    [
        (
            {"type": "ignore", "args": None, "by": "maria"},
            "ignore is not a decision on this request: accept it, edit it, or respond with "
            "the reason to reject it",
        ),
        (
            {"type": "accept", "args": None},
            'the answer names no reviewer and the server authenticated nobody: add "by": '
            '"<your name>" to the response',
        ),
        (
            {
                "type": "edit",
                "args": {"action": "create_refund", "args": {"amount": "-5"}},
                "by": "maria",
            },
            "the edit does not fit tool 'create_refund' (amount: Input should be greater than "
            "0); the request is still pending, decide again with arguments that match "
            "RefundRequest (ticket_id, invoice_id, amount)",
        ),
    ],
)
async def test_a_refused_answer_asks_again_and_records_nothing(
    tmp_path: Path,
    fake_time: FakeTime,
    helpdesk: Helpdesk,
    saver: SqliteCheckpointer,
    response: dict[str, Any],
    refused: str,
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    snapshot = await drive(served, saver, "r1", Command(resume=[response]))

    (asked,) = snapshot.interrupts
    first_line = asked.value[0]["description"].splitlines()[0]
    assert first_line == f"**Your last answer was refused:** {refused}"
    (request,) = await saver.store.list_approvals(run_id="r1", status=None)
    assert request.status == "pending"
    record = await saver.store.get_run("r1")
    assert record is not None
    assert record.status == "paused"

    # The next answer is taken: the refused one stays refused.
    await drive(served, saver, "r1", answer("accept"))
    record = await saver.store.get_run("r1")
    assert record is not None
    assert record.status == "completed"
    assert len(helpdesk.refunds()) == 1


class Pair(BaseModel):
    a: str | None = None
    b: str | None = None


def pair_graph() -> RailGraph:
    """Two parallel branches, each parked at its own approve gate."""
    g = GraphBuilder("pair", Pair)
    g.step("split", lambda s: {})
    g.approve("ask_a", approved="do_a", rejected=END)
    g.approve("ask_b", approved="do_b", rejected=END)
    g.step("do_a", lambda s: {"a": "done"})
    g.step("do_b", lambda s: {"b": "done"})
    g.edge(START, "split")
    g.edge("split", "ask_a")
    g.edge("split", "ask_b")
    g.edge("do_a", END)
    g.edge("do_b", END)
    return g.build()


async def test_parallel_requests_are_each_asked_and_delivered_to_their_gate(
    tmp_path: Path, fake_time: FakeTime, saver: SqliteCheckpointer
) -> None:
    served = serve(pair_graph(), tmp_path, fake_time)
    snapshot = await drive(served, saver, "p1", {})
    assert [i.value[0]["railgraph"]["gate"] for i in snapshot.interrupts] == ["ask_a"]
    assert [a.node for a in await saver.store.list_approvals(run_id="p1", status=None)] == [
        "ask_a",
        "ask_b",
    ]

    snapshot = await drive(served, saver, "p1", answer("accept"))
    # ask_a's branch went on at once; ask_b still waits, and is asked now.
    assert (snapshot.values.get("a"), snapshot.values.get("b")) == ("done", None)
    assert [i.value[0]["railgraph"]["gate"] for i in snapshot.interrupts] == ["ask_b"]
    record = await saver.store.get_run("p1")
    assert record is not None
    assert (record.status, record.error) == ("paused", "ask_b: ask_b requires a person's approval")

    snapshot = await drive(served, saver, "p1", answer("response", "not now", by="lee"))
    assert snapshot.interrupts == ()
    assert (snapshot.values.get("a"), snapshot.values.get("b")) == ("done", None)
    record = await saver.store.get_run("p1")
    assert record is not None
    assert (record.status, record.error) == ("rejected", "rejected by lee: not now")
    decided = await saver.store.list_approvals(run_id="p1", status=None)
    assert [(a.node, a.status, a.decided_by) for a in decided] == [
        ("ask_a", "approved", "maria"),
        ("ask_b", "rejected", "lee"),
    ]


async def test_a_node_that_fails_ends_the_run_in_the_store(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    broke = BudgetEnvelope(steps=40, llm_calls=0, tool_calls=8)
    served = serve(make_graph(helpdesk=helpdesk, budget=broke), tmp_path, fake_time)
    with pytest.raises(BudgetExhausted):
        await drive(served, saver, "b1", {"ticket_id": "T-1002"})

    record = await saver.store.get_run("b1")
    assert record is not None
    assert record.status == "budget_exhausted"
    assert record.error is not None
    assert record.error.startswith("budget exhausted at node 'classify': llm_calls 0 of 0 used")
    events = await saver.store.list_events("b1")
    assert [(e.kind, e.node) for e in events][-2:] == [
        ("node_finished", "load_ticket"),
        ("budget_exhausted", "classify"),
    ]


async def test_a_second_input_on_a_finished_thread_is_refused(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1001"})
    record = await saver.store.get_run("r1")
    assert record is not None
    assert record.status == "completed"

    with pytest.raises(InputError) as caught:
        await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    assert str(caught.value) == (
        "thread r1 already holds railgraph run r1, which is completed; "
        "start each run on a new thread"
    )
    assert len(helpdesk.refunds()) == 1


async def test_the_served_run_never_blocks_the_event_loop(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk
) -> None:
    """The guard `langgraph dev` runs (blockbuster) sees no blocking call on the loop,
    through a pause and a decision, when the database is opened as the server opens it."""
    blockbuster = pytest.importorskip("blockbuster")
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    with blockbuster.blockbuster_ctx():
        async with DATABASES.hold(served.db) as opened:
            await drive(served, opened, "r1", {"ticket_id": "T-1002"})
            await drive(served, opened, "r1", answer("accept"))
            record = await opened.store.get_run("r1")
    assert record is not None
    assert record.status == "completed"
    assert len(helpdesk.refunds()) == 1


async def test_every_step_is_stored_whatever_durability_the_server_asks(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    """The server runs graphs with durability "async" (or "exit") unless told otherwise;
    a served graph stores each step before the next starts all the same."""
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    counts = []
    for run_id, durability in (("sync", "sync"), ("exit", "exit")):
        config: Any = {"configurable": {"thread_id": run_id}}
        async with served(config) as app:
            app = app.copy(update={"checkpointer": saver})
            await app.ainvoke({"ticket_id": "T-1002"}, config, durability=durability)
        counts.append(len([c async for c in saver.alist(config)]))
    assert counts == [11, 11]


async def test_a_server_checkpointer_that_is_not_railgraphs_is_refused(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    config: Any = {"configurable": {"thread_id": "m1"}}
    async with served(config) as app:
        app = app.copy(update={"checkpointer": InMemorySaver()})
        with pytest.raises(DefinitionError) as caught:
            await app.ainvoke({"ticket_id": "T-1002"}, config)
    assert str(caught.value) == (
        "graph 'refund' is served on a checkpointer that is not railgraph's (InMemorySaver), "
        'which would lose its runs\' events; add "checkpointer": {"backend": "custom", '
        '"path": "railgraph.server.checkpointer"} to langgraph.json'
    )
    assert await saver.store.get_run("m1") is None
    assert helpdesk.refunds() == []


async def test_an_agent_loops_call_under_review_is_asked_and_its_edit_delivered(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    """An agent node parks per call (``agent#call_id``); the decision goes to the agent."""
    served = serve(make_agent(helpdesk=helpdesk), tmp_path, fake_time)
    snapshot = await drive(served, saver, "a1", {"ticket_id": "T-1002"})
    (asked,) = snapshot.interrupts
    assert (asked.value[0]["action_request"], asked.value[0]["railgraph"]["gate"]) == (
        {"action": "create_refund", "args": REFUND_ARGS},
        "support",
    )

    edit = {"action": "create_refund", "args": {"amount": "300"}}
    snapshot = await drive(served, saver, "a1", answer("edit", edit))

    assert snapshot.interrupts == ()
    record = await saver.store.get_run("a1")
    assert record is not None
    assert record.status == "completed"
    assert [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()] == [("T-1002", 300.0)]
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We refunded $300.00 for ticket T-1002."
    ]


async def test_a_decision_recorded_first_is_the_one_delivered(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    """Recorded before the answer arrives (by the review queue, or by this node before a
    crash): the request is decided once, and that decision goes to the gate."""
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    (request,) = await saver.store.list_approvals(run_id="r1", status=None)
    first = Decision(decision=DecisionKind.REJECT, by="lee", reason="duplicate", at=fake_time.now)
    await saver.store.decide_approval(
        request.request_id,
        status=ApprovalStatus.REJECTED,
        decision=first.model_dump(mode="json"),
        decided_by="lee",
    )

    await drive(served, saver, "r1", answer("accept"))

    record = await saver.store.get_run("r1")
    assert record is not None
    assert (record.status, record.error) == ("rejected", "rejected by lee: duplicate")
    (decided,) = await saver.store.list_approvals(run_id="r1", status=None)
    assert (decided.status, decided.decided_by) == ("rejected", "lee")
    assert helpdesk.refunds() == []


class Counted(BaseModel):
    n: int = 0


def cancelled_midway(db: Path, *, gate: bool = False) -> RailGraph:
    """Two steps; the first is cancelled from another connection while it runs, as
    `railgraph cancel` in another process would, and neither makes a call the kill switch
    stops; with `gate`, an approve gate between them parks for a person."""

    async def first(state: Counted, ctx: NodeContext) -> dict[str, Any]:
        async with open_store(db, read_only=False) as other:
            await other.cancel_run(ctx.run_id, by="ops", reason="stop it", at=1.0)
        return {"n": state.n + 1}

    g = GraphBuilder("midway", Counted)
    g.step("first", first)
    g.step("second", lambda s: {"n": s.n + 1})
    g.edge(START, "first")
    if gate:
        g.approve("ask", approved="second", rejected=END)
        g.edge("first", "ask")
    else:
        g.edge("first", "second")
    g.edge("second", END)
    return g.build()


CANCELLED_MIDWAY = [
    ("run_started", None),
    ("run_cancelled", None),
    ("node_finished", "first"),
    ("node_finished", "second"),
    ("cancelled", None),
]


CANCELLED_AT_THE_GATE = [
    ("run_started", None),
    ("run_cancelled", None),
    ("node_finished", "first"),
    ("node_started", "ask"),
    ("approval_requested", "ask"),
    ("cancelled", None),
]


@pytest.mark.parametrize(
    ("gate", "expected"), [(False, CANCELLED_MIDWAY), (True, CANCELLED_AT_THE_GATE)]
)
async def test_a_run_cancelled_midway_ends_as_the_runners_does(
    tmp_path: Path, saver: SqliteCheckpointer, gate: bool, expected: list[Any]
) -> None:
    async with Runner.open(tmp_path / "runner.db") as runner:
        rail = cancelled_midway(tmp_path / "runner.db", gate=gate)
        outcome = await runner.start(rail, {"n": 0}, run_id="byrunner")
        by_runner = await runner.store.list_events("byrunner")
    assert (outcome.status, outcome.reason) == ("cancelled", "cancelled by ops: stop it")
    assert [(e.kind, e.node) for e in by_runner] == expected

    db = tmp_path / "rg.db"
    served_rail = cancelled_midway(db, gate=gate)
    # The real clock, as the store the step cancels through has: with a clock of its own
    # the served run's lease would look lapsed to it, and a lapsed lease is given up.
    await drive(ServedGraph(served_rail, db=db), saver, "served", {"n": 0})
    served = await saver.store.get_run("served")
    assert served is not None
    assert (served.status, served.error, served.lease_owner) == (
        "cancelled",
        "cancelled by ops: stop it",
        None,
    )
    events = await saver.store.list_events("served")
    assert [(e.kind, e.node) for e in events] == expected
    # The last event says the same on both sides: the reason given when it was cancelled.
    assert events[-1].data == by_runner[-1].data


async def test_an_answer_to_a_run_cancelled_while_paused_is_refused_with_the_reason(
    tmp_path: Path, fake_time: FakeTime, helpdesk: Helpdesk, saver: SqliteCheckpointer
) -> None:
    served = serve(make_graph(helpdesk=helpdesk), tmp_path, fake_time)
    await drive(served, saver, "r1", {"ticket_id": "T-1002"})
    await saver.store.cancel_run("r1", by="ops", reason="duplicate ticket", at=fake_time.now)

    with pytest.raises(DecisionError) as refused:
        await drive(served, saver, "r1", answer("accept"))
    assert re.fullmatch(
        r"review request '[0-9a-f]{24}' was already cancelled by ops at \S+; "
        r"a request can be decided only once\.",
        str(refused.value),
    )
    record = await saver.store.get_run("r1")
    assert record is not None
    assert (record.status, record.error) == ("cancelled", "cancelled by ops: duplicate ticket")
    assert helpdesk.refunds() == []
