"""``railgraph profile``: the refund agent's declared profile, and figures from stored runs
checked against the run records, review requests and usage the store holds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from railgraph import END, START, GraphBuilder, Runner
from railgraph._cli import app
from railgraph._profile import design_profile
from railgraph._profile_runs import percentile, runs_profile
from railgraph._profile_text import profile_markdown
from railgraph._settings import load_graph
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import make_graph

COST = (120 * 0.15 + 2 * 0.60) / 1e6
"""What one classification by the scripted model costs: every refund run makes one."""


def profile_json(*args: str) -> Any:
    done = CliRunner().invoke(app, ["profile", "railgraph.graphs.refund:graph", *args, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_the_refund_agents_declared_profile() -> None:
    profile = design_profile(
        load_graph("railgraph.graphs.refund:graph"), "railgraph.graphs.refund:graph"
    )

    run = profile["run"]
    assert run["entry"] == ["load_ticket"]
    assert run["ends"] == [
        {"node": "notify_customer", "outcome": None, "status": "completed"},
        {"node": "notify_declined", "outcome": None, "status": "completed"},
        {"node": "by_intent", "outcome": "other", "status": "completed"},
        {"node": "budget", "outcome": "exceeded", "status": "budget_exhausted"},
    ]
    assert run["pauses"] == [
        {"gate": "escalate", "reviews": "create_refund", "expires_after_s": None},
        {"gate": "approve_refund", "reviews": "create_refund", "expires_after_s": None},
    ]
    assert (run["parallel"], run["joins"]) == ([], [])
    assert run["loops"] == [
        {
            "nodes": ["lookup_invoice", "verify_invoice"],
            "bounds": ["verify gate verify_invoice retries lookup_invoice at most 1 times"],
        }
    ]
    tools = {t["name"]: t for t in profile["tools"]}
    assert tools["create_refund"] == {
        "name": "create_refund",
        "tier": "irreversible",
        "policy": "conditional",
        "approval": ["escalate", "approve_refund"],
        "idempotent": True,
        "ledgered": True,
        "reversible": False,
        "retries": 0,
        "timeout_s": 10,
        "called_by": ["create_refund"],
        "description": "Pay money back to the customer. Cannot be undone.",
    }
    assert [(n, t["tier"], t["policy"], t["ledgered"]) for n, t in tools.items()] == [
        ("create_refund", "irreversible", "conditional", True),
        ("load_ticket", "read", "auto", False),
        ("lookup_invoice", "read", "auto", False),
        ("notify_customer", "external", "auto", True),
    ]
    assert [(f["field"], f["type"], f["secret"]) for f in profile["memory"]["state"]] == [
        ("ticket_id", "str", False),
        ("ticket", "Ticket | None", False),
        ("intent", "str | None", False),
        ("invoice", "dict[str, Any] | None", False),
        ("refund", "RefundReceipt | None", False),
        ("notification", "NoticeReceipt | None", False),
    ]
    assert profile["budget"]["reservations"] == [{"gate": "budget", "needs": {"tool_calls": 2}}]
    assert profile["budget"]["envelope"]["cost_usd"] == 0.05
    assert [(t["node"], t["action"]) for t in profile["trace"]] == [
        ("classify", "model scripted-support-model"),
        ("escalate", "review of create_refund"),
        ("approve_refund", "review of create_refund"),
        ("create_refund", "irreversible tool create_refund"),
        ("notify_customer", "external tool notify_customer"),
        ("notify_declined", "external tool notify_customer"),
    ]
    assert profile["owner"] == {
        "owner": "support-payments",
        "reviewers": [
            {"gate": "escalate", "reviewers": [], "self_approval": True},
            {"gate": "approve_refund", "reviewers": [], "self_approval": True},
        ],
    }


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 50) is None
    assert [percentile([3.0, 1.0, 2.0, 4.0], q) for q in (50, 95, 100)] == [2.0, 4.0, 4.0]
    assert percentile([7.0], 95) == 7.0


async def test_figures_from_stored_runs_match_the_store(
    runner: Runner, fake_time: Any, tmp_path: Path
) -> None:
    graph = make_graph(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))
    auto = await runner.start(graph, {"ticket_id": "T-1001"})
    approved = await runner.start(graph, {"ticket_id": "T-1002"})
    fake_time.advance(30)
    await runner.approve(approved.run_id, by="dave")
    rejected = await runner.start(graph, {"ticket_id": "T-1003"})
    fake_time.advance(90)
    await runner.reject(rejected.run_id, by="dave", reason="too much")
    escalated = await runner.start(graph, {"ticket_id": "T-1004"})  # bad invoice, retried
    fake_time.advance(10)
    starved = await runner.start(graph, {"ticket_id": "T-1001"}, budget={"tool_calls": 3})

    records = {r.run_id: r for r in await runner.store.list_runs(limit=10)}
    assert [records[o.run_id].status for o in (auto, approved, rejected, escalated, starved)] == [
        "completed",
        "completed",
        "rejected",
        "paused",
        "budget_exhausted",
    ]
    assert [records[o.run_id].usage["cost_usd"] for o in (auto, escalated, starved)] == [
        pytest.approx(COST)
    ] * 3
    assert records[escalated.run_id].usage["retries"] == 1

    db = str(tmp_path / "rg.db")
    # The command runs its own event loop: give it a thread of its own.
    figures = (await asyncio.to_thread(profile_json, "--db", db, "--runs", "5"))["runs"]

    assert figures == {
        "runs": 5,
        "statuses": {"budget_exhausted": 1, "completed": 2, "paused": 1, "rejected": 1},
        "completion_rate": 0.4,
        "escalation_rate": 0.6,
        "rejection_rate": 0.2,
        "retries": {"total": 1, "runs_with_retries": 1},
        "decisions": {"approved": 1, "pending": 1, "rejected": 1},
        "approval_wait_s": {"count": 2, "p50": 30.0, "p95": 90.0, "max": 90.0},
        # Ended runs: two that took no time, one approved after 30 s, one rejected after 90 s.
        "wall_s": {"count": 4, "p50": 0.0, "p95": 90.0, "max": 90.0},
        "cost_usd": {
            "count": 5,
            "p50": pytest.approx(COST),
            "p95": pytest.approx(COST),
            "max": pytest.approx(COST),
            "total": pytest.approx(5 * COST),
        },
        "cost_per_completed_usd": pytest.approx(5 * COST / 2),
    }
    # The same figures, recomputed from the store's own rows.
    approvals = [
        a
        for r in records.values()
        for a in await runner.store.list_approvals(run_id=r.run_id, status=None)
    ]
    assert runs_profile(list(records.values()), approvals)["escalation_rate"] == 0.6
    assert sum(r.usage["cost_usd"] for r in records.values()) == pytest.approx(
        figures["cost_usd"]["total"]
    )

    # The last two runs only: nothing completed, so no cost per completed outcome.
    last_two = (await asyncio.to_thread(profile_json, "--db", db, "--runs", "2"))["runs"]
    assert (last_two["statuses"], last_two["cost_per_completed_usd"]) == (
        {"budget_exhausted": 1, "paused": 1},
        None,
    )


def test_markdown_profile_for_a_review_document(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        app, ["profile", "railgraph.graphs.refund:graph", "--md", "--db", str(tmp_path / "none.db")]
    )

    assert done.exit_code == 0
    text = done.stdout
    assert text.startswith("# Workload profile: refund\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## 1. Run",
        "## 2. Tools",
        "## 3. Memory",
        "## 4. Budget",
        "## 5. Trace",
        "## 6. Owner",
    ]
    assert (
        "| create_refund | irreversible | conditional | escalate, approve_refund | yes | yes "
        "| no | 0 | create_refund |" in text
    )
    # Profiling reads only: a missing database is not created.
    assert not (tmp_path / "none.db").exists()
    both = CliRunner().invoke(app, ["profile", "railgraph.graphs.refund:graph", "--md", "--json"])
    assert both.exit_code == 2


def test_secret_fields_and_undeclared_owner_are_reported() -> None:
    class Login(BaseModel):
        user: str
        password: SecretStr | None = None
        api_key: str = ""
        tokens: int = 0  # a count, not a credential

    g = GraphBuilder("login", Login)
    g.step("noop", lambda s: None).edge(START, "noop").edge("noop", END)
    profile = design_profile(g.build(), "tests:login")

    assert [(f["field"], f["type"], f["secret"]) for f in profile["memory"]["state"]] == [
        ("user", "str", False),
        ("password", "SecretStr | None", True),
        ("api_key", "str", True),
        ("tokens", "int", False),
    ]
    assert profile["owner"] == {"owner": None, "reviewers": []}
    assert "owner _not declared_ (GraphBuilder(owner=...))" in profile_markdown(profile)


def test_an_agent_loops_profile_shows_its_reviews_bound_and_trace() -> None:
    profile = design_profile(
        load_graph("railgraph.graphs.support_agent:graph"), "railgraph.graphs.support_agent:graph"
    )

    run = profile["run"]
    assert run["entry"] == ["support"]
    assert run["ends"] == [
        {"node": "support", "outcome": "answered", "status": "completed"},
        {"node": "support", "outcome": "out_of_turns", "status": "failed"},
    ]
    # The agent parks on each refund over the rule's limit; the blocked delete_customer
    # never runs, so no crash can leave its outcome unknown.
    assert run["pauses"] == [
        {"gate": "support", "reviews": "create_refund", "expires_after_s": None},
    ]
    assert run["loops"] == [
        {"nodes": ["support"], "bounds": ["agent support takes at most 8 model turns"]}
    ]
    tools = {t["name"]: (t["policy"], t["approval"], t["called_by"]) for t in profile["tools"]}
    assert tools == {
        "create_refund": ("conditional", ["support"], ["support"]),
        "delete_customer": ("block", [], ["support"]),
        "load_ticket": ("auto", [], ["support"]),
        "lookup_invoice": ("auto", [], ["support"]),
        "notify_customer": ("auto", [], ["support"]),
    }
    assert [(t["node"], t["action"]) for t in profile["trace"]] == [
        ("support", "agent loop, model scripted-support-model"),
        ("support", "irreversible tool create_refund"),
        ("support", "external tool notify_customer"),
        ("support", "irreversible tool delete_customer"),
    ]
