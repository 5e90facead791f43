"""The reference refund agent end to end on real SQLite files: both lanes and the escalation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from railgraph import InputError, RailGraph, Runner
from railgraph._report import path_of
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import make_graph

AUTO_PATH = [
    "load_ticket",
    "classify",
    "by_intent",
    "lookup_invoice",
    "verify_invoice",
    "budget",
    "by_amount",
]


@pytest.fixture
def helpdesk(tmp_path: Path) -> Helpdesk:
    return Helpdesk(tmp_path / "helpdesk.db")


@pytest.fixture
def graph(helpdesk: Helpdesk) -> RailGraph:
    return make_graph(helpdesk=helpdesk)


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with Runner.open(tmp_path / "railgraph.db") as opened:
        yield opened


def refunds(helpdesk: Helpdesk) -> list[tuple[str, float]]:
    return [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()]


async def test_small_refund_completes_on_its_own(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    outcome = await runner.start(graph, {"ticket_id": "T-1001"})

    assert outcome.status == "completed"
    assert outcome.reason is None
    assert outcome.result["refund"] == {"refund_id": 1, "ticket_id": "T-1001", "amount": 42.5}
    assert refunds(helpdesk) == [("T-1001", 42.5)]
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We refunded $42.50 for ticket T-1001."
    ]
    usage = outcome.usage
    assert (usage["steps"], usage["llm_calls"], usage["tool_calls"], usage["tokens"]) == (
        9,
        1,
        4,
        122,
    )
    assert usage["cost_usd"] == pytest.approx((120 * 0.15 + 2 * 0.60) / 1e6)
    events = await runner.store.list_events(outcome.run_id)
    assert path_of(events) == [*AUTO_PATH, "create_refund", "notify_customer"]
    assert [e.data["status"] for e in events if e.kind == "tool_call"] == ["ok"] * 4
    assert events[0].kind == "run_started"
    assert (events[-1].kind, events[-1].data["status"]) == ("run_finished", "completed")


async def test_large_refund_waits_for_approval_then_refunds_once(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"}, started_by="carol")

    assert paused.status == "paused"
    assert refunds(helpdesk) == []
    [request] = paused.pending
    assert request.node == "approve_refund"
    assert request.request["action"] == {
        "node": "create_refund",
        "tool": "create_refund",
        "args": {"ticket_id": "T-1002", "invoice_id": "INV-5002", "amount": 480.0},
        "tier": "irreversible",
        "policy": "conditional",
        "description": "Pay money back to the customer. Cannot be undone.",
    }
    assert request.request["reason"] == "refund of $480.00 is over the $100.00 limit"
    assert request.request["path"] == AUTO_PATH
    assert request.request["spend"]["tool_calls"] == 2
    assert [p.request_id for p in await runner.pending()] == [request.request_id]

    done = await runner.approve(paused.run_id, by="alice")

    assert done.status == "completed"
    assert refunds(helpdesk) == [("T-1002", 480.0)]
    assert await runner.pending() == []
    [decided] = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert (decided.status, decided.decided_by) == ("approved", "alice")
    events = await runner.store.list_events(paused.run_id)
    assert path_of(events) == [*AUTO_PATH, "approve_refund", "create_refund", "notify_customer"]
    [decision] = [e for e in events if e.kind == "approval_decided"]
    assert (decision.node, decision.data["decision"], decision.data["by"]) == (
        "approve_refund",
        "approve",
        "alice",
    )
    # Nothing before the pause ran again on resume: each tool was called once.
    calls = [e.data["tool"] for e in events if e.kind == "tool_call"]
    assert calls == ["load_ticket", "lookup_invoice", "create_refund", "notify_customer"]


async def test_edit_changes_the_refund_that_is_made(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"})

    done = await runner.approve(paused.run_id, by="alice", edit={"amount": 400})

    assert done.status == "completed"
    assert refunds(helpdesk) == [("T-1002", 400.0)]
    [decided] = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert decided.status == "edited"
    assert decided.decision is not None and decided.decision["args"] == {"amount": 400}


async def test_rejected_refund_is_never_made_and_the_customer_is_told(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1003"})

    done = await runner.reject(paused.run_id, by="bob", reason="outside the refund window")

    assert done.status == "rejected"
    assert done.reason == "rejected by bob: outside the refund window"
    assert refunds(helpdesk) == []
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We could not approve the refund requested in ticket T-1003."
    ]
    events = await runner.store.list_events(paused.run_id)
    assert path_of(events)[-2:] == ["approve_refund", "notify_declined"]


async def test_budget_gate_stops_before_a_third_tool_call(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    outcome = await runner.start(graph, {"ticket_id": "T-1001"}, budget={"tool_calls": 2})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == "tool_calls: 2 of 2 used, 2 more needed"
    assert outcome.usage["tool_calls"] == 2
    assert outcome.result["invoice"]["amount"] == 42.5  # the partial result
    assert refunds(helpdesk) == []
    events = await runner.store.list_events(outcome.run_id)
    assert [e.data["tool"] for e in events if e.kind == "tool_call"] == [
        "load_ticket",
        "lookup_invoice",
    ]
    assert path_of(events) == AUTO_PATH[:-1]


async def test_bad_invoice_is_retried_once_then_escalated(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1004"})

    assert paused.status == "paused"
    [request] = paused.pending
    assert request.node == "escalate"
    assert [(f["path"], f["code"]) for f in request.request["failures"]] == [
        ("amount", "below_min"),
        ("status", "error_signal"),
    ]
    assert request.request["reason"].startswith("verification failed: amount: amount is 0.0")
    events = await runner.store.list_events(paused.run_id)
    assert [e.data["outcome"] for e in events if e.kind == "verdict"] == ["retry", "fail"]
    assert path_of(events) == [
        "load_ticket",
        "classify",
        "by_intent",
        "lookup_invoice",
        "verify_invoice",
        "lookup_invoice",
        "verify_invoice",
    ]
    assert paused.usage["retries"] == 1

    done = await runner.approve(paused.run_id, by="dana", edit={"amount": 25})

    assert done.status == "completed"
    assert refunds(helpdesk) == [("T-1004", 25.0)]


async def test_unknown_ticket_fails_the_run_with_the_tools_reason(
    runner: Runner, graph: RailGraph
) -> None:
    outcome = await runner.start(graph, {"ticket_id": "T-9999"})

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert "no ticket T-9999 in the helpdesk" in outcome.reason
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None and record.status == "failed"


async def test_input_that_does_not_fit_the_state_stores_nothing(
    runner: Runner, graph: RailGraph
) -> None:
    with pytest.raises(InputError, match=r"input does not fit RefundState .*ticket_id"):
        await runner.start(graph, {"ticket": "T-1001"})
    assert await runner.store.list_runs() == []
