"""The reference support agent loop end to end on real SQLite files: every lane of issue 9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from railgraph import DecisionError, RailGraph, Runner
from railgraph._report import trace
from railgraph._settings import DB_ENV
from railgraph.graphs._helpdesk import HELPDESK_ENV, Helpdesk
from railgraph.graphs.support_agent import make_graph


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


async def calls(runner: Runner, run_id: str) -> list[tuple[int, str, str, str | None]]:
    events = await runner.store.list_events(run_id)
    return [
        (e.data["turn"], e.data["tool"], e.data["status"], e.data["by"])
        for e in events
        if e.kind == "agent_call"
    ]


async def model_calls(runner: Runner, run_id: str) -> int:
    return sum(e.kind == "llm_call" for e in await runner.store.list_events(run_id))


async def test_small_refund_completes_on_its_own_and_the_blocked_tool_is_told(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    outcome = await runner.start(graph, {"ticket_id": "T-1001"})

    assert outcome.status == "completed"
    assert refunds(helpdesk) == [("T-1001", 42.5)]
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We refunded $42.50 for ticket T-1001."
    ]
    assert await calls(runner, outcome.run_id) == [
        (1, "load_ticket", "ok", None),
        (2, "lookup_invoice", "ok", None),
        (2, "delete_customer", "blocked", None),
        (3, "create_refund", "ok", None),
        (4, "notify_customer", "ok", None),
    ]
    messages = outcome.result["messages"]
    blocked = [m for m in messages if m.type == "tool" and m.name == "delete_customer"]
    assert [m.text for m in blocked] == [
        "Refused: the graph's policy blocks this call (tool delete_customer → block). "
        "It did not run."
    ]
    assert messages[-1].text == "Ticket T-1001: refunded and emailed the customer."
    assert await model_calls(runner, outcome.run_id) == 5


async def test_large_refund_pauses_at_the_models_call_with_its_exact_arguments(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    outcome = await runner.start(graph, {"ticket_id": "T-1002"})

    assert outcome.status == "paused"
    [pending] = outcome.pending
    request = pending.request
    assert request["action"]["tool"] == "create_refund"
    assert request["action"]["args"] == {
        "ticket_id": "T-1002",
        "invoice_id": "INV-5002",
        "amount": 480.0,
    }
    assert request["action"]["tier"] == "irreversible"
    assert request["call_id"] == "call_3_0"
    assert request["turn"] == 3
    assert request["rule"] == "create_refund: amount > 100 (holds) → approve"
    assert request["spend"]["llm_calls"] == 3
    roles = [c["role"] for c in request["conversation"]]
    assert roles == ["ai", "tool", "ai", "tool", "tool", "ai"]
    assert request["conversation"][-1]["content"].startswith("calls create_refund(")
    assert refunds(helpdesk) == []


async def test_approve_runs_exactly_the_models_call_once(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"})

    outcome = await runner.approve(paused.run_id, by="lead")

    assert outcome.status == "completed"
    assert refunds(helpdesk) == [("T-1002", 480.0)]
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We refunded $480.00 for ticket T-1002."
    ]
    assert (3, "create_refund", "ok", "lead") in await calls(runner, paused.run_id)
    # The turn that made the call is not asked again on resume: five turns in all.
    assert await model_calls(runner, paused.run_id) == 5
    with pytest.raises(DecisionError, match="no pending request"):
        await runner.approve(paused.run_id, by="lead")
    assert refunds(helpdesk) == [("T-1002", 480.0)]


async def test_edit_runs_the_edited_amount_and_the_model_is_told(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"})

    outcome = await runner.approve(paused.run_id, by="lead", edit={"amount": 300})

    assert outcome.status == "completed"
    assert refunds(helpdesk) == [("T-1002", 300.0)]
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We refunded $300.00 for ticket T-1002."
    ]
    [told] = [
        m for m in outcome.result["messages"] if m.type == "tool" and m.name == "create_refund"
    ]
    assert told.text.startswith(
        "A reviewer (lead) edited your call before it ran: it ran with "
        '{"amount":300.0,"invoice_id":"INV-5002","ticket_id":"T-1002"} (you proposed '
        '{"amount":480.0,"invoice_id":"INV-5002","ticket_id":"T-1002"}). Result: '
    )


async def test_an_edit_that_does_not_fit_is_refused_and_the_request_stays(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"})

    with pytest.raises(DecisionError, match="amount"):
        await runner.approve(paused.run_id, by="lead", edit={"amount": -5})

    assert [p.status for p in await runner.pending()] == ["pending"]
    assert refunds(helpdesk) == []


async def test_reject_tells_the_model_which_sends_a_decline(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"})

    outcome = await runner.reject(paused.run_id, by="lead", reason="charge was disputed")

    assert outcome.status == "completed"
    assert refunds(helpdesk) == []
    assert [n["message"] for n in helpdesk.notifications()] == [
        "We are sorry: we cannot refund the charge in ticket T-1002. (A reviewer (lead) "
        "rejected this call: charge was disputed. It did not run.)"
    ]
    assert (3, "create_refund", "rejected", "lead") in await calls(runner, paused.run_id)
    assert outcome.result["messages"][-1].text == (
        "Ticket T-1002: declined the refund and emailed the customer."
    )


async def test_the_trace_reports_each_call_with_its_status_and_decision(
    runner: Runner, graph: RailGraph
) -> None:
    paused = await runner.start(graph, {"ticket_id": "T-1002"})
    await runner.approve(paused.run_id, by="lead", edit={"amount": 120})
    record = await runner.store.get_run(paused.run_id)
    assert record is not None

    report = trace(
        record,
        await runner.store.list_events(paused.run_id),
        await runner.store.list_approvals(run_id=paused.run_id, status=None),
    )

    assert [
        (c["turn"], c["tool"], c["status"], c["decision"], c["by"]) for c in report["agent_calls"]
    ] == [
        (1, "load_ticket", "ok", "ok", None),
        (2, "lookup_invoice", "ok", "ok", None),
        (2, "delete_customer", "blocked", "blocked", None),
        (3, "create_refund", "needs_approval", None, None),
        (3, "create_refund", "ok", "edited", "lead"),
        (4, "notify_customer", "ok", "ok", None),
    ]
    edited = report["agent_calls"][4]
    assert edited["args"] == {"ticket_id": "T-1002", "invoice_id": "INV-5002", "amount": 480.0}
    assert edited["ran_args"] == {"ticket_id": "T-1002", "invoice_id": "INV-5002", "amount": 120.0}
    assert edited["latency_ms"] >= 0


async def test_budget_of_two_model_calls_stops_before_the_third(
    runner: Runner, graph: RailGraph, helpdesk: Helpdesk
) -> None:
    outcome = await runner.start(graph, {"ticket_id": "T-1001"}, budget={"llm_calls": 2})

    assert outcome.status == "budget_exhausted"
    assert outcome.usage["llm_calls"] == 2
    assert await model_calls(runner, outcome.run_id) == 2
    assert refunds(helpdesk) == []
    # The partial conversation is kept: two turns and their three results.
    kinds = [m.type for m in outcome.result["messages"]]
    assert kinds == ["system", "human", "ai", "tool", "ai", "tool", "tool"]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        DB_ENV: str(tmp_path / "rg.db"),
        HELPDESK_ENV: str(tmp_path / "hd.db"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "railgraph", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def _pending(tmp_path: Path) -> list[dict[str, Any]]:
    done = _cli(tmp_path, "pending", "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


@pytest.mark.slow
def test_every_lane_from_the_cli(tmp_path: Path) -> None:
    ref = "railgraph.graphs.support_agent:graph"
    helpdesk = Helpdesk(tmp_path / "hd.db")

    done = _cli(tmp_path, "run", ref, "--input", '{"ticket_id":"T-1001"}')
    assert done.returncode == 0 and ": completed" in done.stdout, done.stdout + done.stderr
    assert refunds(helpdesk) == [("T-1001", 42.5)]

    lanes = [
        (["approve", "--by", "lead"], 480.0, "We refunded $480.00 for ticket T-1002."),
        (["approve", "--by", "lead", "--edit", '{"amount": 300}'], 300.0, "$300.00"),
        (["reject", "--by", "lead", "--reason", "disputed"], None, "cannot refund"),
    ]
    for decide, amount, says in lanes:
        done = _cli(tmp_path, "run", ref, "--input", '{"ticket_id":"T-1002"}')
        assert ": paused" in done.stdout, done.stdout + done.stderr
        [request] = _pending(tmp_path)
        assert request["arguments"] == {
            "ticket_id": "T-1002",
            "invoice_id": "INV-5002",
            "amount": 480.0,
        }
        assert (request["call_id"], request["turn"]) == ("call_3_0", 3)
        assert request["rule"] == "create_refund: amount > 100 (holds) → approve"
        listed = _cli(tmp_path, "pending")
        assert listed.returncode == 0, listed.stderr
        # the recent conversation, each message with its role and text
        assert "      ai: calls create_refund(" in listed.stdout, listed.stdout
        before = len(helpdesk.refunds("T-1002"))
        done = _cli(tmp_path, decide[0], request["run_id"], *decide[1:])
        assert done.returncode == 0 and ": completed" in done.stdout, done.stdout + done.stderr
        made = [r["amount"] for r in helpdesk.refunds("T-1002")][before:]
        assert made == ([amount] if amount is not None else [])
        assert says in helpdesk.notifications("T-1002")[-1]["message"]
        shown = _cli(tmp_path, "show", request["run_id"], "--json")
        statuses = [(c["tool"], c["status"]) for c in json.loads(shown.stdout)["agent_calls"]]
        assert statuses[2:5] == [
            ("delete_customer", "blocked"),
            ("create_refund", "needs_approval"),
            ("create_refund", "ok" if amount is not None else "rejected"),
        ]

    done = _cli(
        tmp_path, "run", ref, "--input", '{"ticket_id":"T-1001"}', "--budget", "llm_calls=2"
    )
    assert done.returncode == 1 and ": budget_exhausted" in done.stdout, done.stdout
    assert "llm_calls 2 of 2 used" in done.stdout
