"""The reference incident agent: parallel diagnostics, two approvals pending at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from railgraph import DecisionError, RailGraph, Runner
from railgraph._report import path_of
from railgraph.graphs._services import ServiceCatalogue
from railgraph.graphs.incident import make_graph

PROBES = {"logs", "metrics", "deploys"}


@pytest.fixture
def catalogue(tmp_path: Path) -> ServiceCatalogue:
    return ServiceCatalogue(tmp_path / "services.db")


@pytest.fixture
def graph(catalogue: ServiceCatalogue) -> RailGraph:
    return make_graph(catalogue=catalogue)


@pytest.fixture
async def runner(tmp_path: Path, fake_time: Any) -> AsyncIterator[Runner]:
    async with Runner.open(tmp_path / "rg.db", clock=fake_time.clock, timer=fake_time.timer) as r:
        yield r


def request_for(outcome: Any, gate: str) -> str:
    [request] = [p for p in outcome.pending if p.node == gate]
    return str(request.request_id)


def rows(catalogue: ServiceCatalogue, table: str) -> list[tuple[Any, ...]]:
    keep = {
        "rollbacks": ("service", "from_version", "to_version"),
        "incidents": ("incident_id", "status"),
        "status_posts": ("service",),
    }[table]
    return [tuple(r[k] for k in keep) for r in catalogue.table(table)]


async def test_two_requests_are_decided_one_at_a_time(
    runner: Runner, graph: RailGraph, catalogue: ServiceCatalogue
) -> None:
    paused = await runner.start(graph, {"service": "checkout"}, started_by="carol")

    assert paused.status == "paused"
    assert sorted(p.node for p in paused.pending) == ["approve_rollback", "approve_status_page"]
    events = await runner.store.list_events(paused.run_id)
    path = path_of(events)
    assert path[0] == "describe" and set(path[1:4]) == PROBES
    assert path[4:] == ["diagnose", "open_incident", "budget", "plan"]
    assert rows(catalogue, "incidents") == [(1, "open")]
    with pytest.raises(DecisionError, match=r"has 2 pending requests .* choose one with --request"):
        await runner.approve(paused.run_id, by="alice")

    after_post = await runner.approve(
        paused.run_id, by="alice", request_id=request_for(paused, "approve_status_page")
    )
    assert after_post.status == "paused"
    assert [p.node for p in after_post.pending] == ["approve_rollback"]
    assert rows(catalogue, "status_posts") == [("checkout",)]
    assert rows(catalogue, "rollbacks") == []

    done = await runner.approve(paused.run_id, by="alice")

    assert done.status == "completed"
    assert rows(catalogue, "rollbacks") == [("checkout", "2.4.1", "2.4.0")]
    assert rows(catalogue, "incidents") == [(1, "resolved")]
    assert done.result["recovery"] == {"version": "2.4.0", "error_rate": 0.4, "p99_ms": 310.0}
    path = path_of(await runner.store.list_events(paused.run_id))
    assert path[-4:] == ["rollback", "check_recovery", "verify_recovery", "resolve"]


async def test_rejecting_the_optional_notice_is_a_detour_not_a_rejected_run(
    runner: Runner, graph: RailGraph, catalogue: ServiceCatalogue
) -> None:
    paused = await runner.start(graph, {"service": "checkout"})
    status_page = request_for(paused, "approve_status_page")

    await runner.reject(paused.run_id, by="alice", reason="internal only", request_id=status_page)
    done = await runner.approve(paused.run_id, by="alice")

    assert done.status == "completed"
    assert rows(catalogue, "status_posts") == []
    assert rows(catalogue, "rollbacks") == [("checkout", "2.4.1", "2.4.0")]


async def test_rejecting_the_rollback_rejects_the_run(
    runner: Runner, graph: RailGraph, catalogue: ServiceCatalogue
) -> None:
    paused = await runner.start(graph, {"service": "checkout"})

    await runner.approve(
        paused.run_id, by="alice", request_id=request_for(paused, "approve_status_page")
    )
    done = await runner.reject(paused.run_id, by="bob", reason="roll forward instead")

    assert done.status == "rejected"
    assert done.reason == "rejected by bob: roll forward instead"
    assert rows(catalogue, "rollbacks") == []
    assert rows(catalogue, "incidents") == [(1, "open")]


async def test_an_unanswered_rollback_request_expires_and_is_rejected(
    runner: Runner, graph: RailGraph, catalogue: ServiceCatalogue, fake_time: Any
) -> None:
    paused = await runner.start(graph, {"service": "checkout"})
    rollback = request_for(paused, "approve_rollback")
    await runner.approve(
        paused.run_id, by="alice", request_id=request_for(paused, "approve_status_page")
    )

    assert await runner.expire() == []  # not yet due
    fake_time.advance(3600)
    [outcome] = await runner.expire()

    assert outcome.status == "rejected"
    assert outcome.reason == "expired: no decision within 3600 s"
    approval = await runner.store.get_approval(rollback)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("expired", "railgraph")
    assert rows(catalogue, "rollbacks") == []
    with pytest.raises(DecisionError, match="is rejected and has no pending request"):
        await runner.approve(paused.run_id, by="alice")


async def test_a_rollback_that_does_not_help_is_checked_again_then_escalated(
    runner: Runner, graph: RailGraph, catalogue: ServiceCatalogue
) -> None:
    paused = await runner.start(graph, {"service": "checkout"})
    await runner.reject(
        paused.run_id,
        by="alice",
        reason="later",
        request_id=request_for(paused, "approve_status_page"),
    )

    # The reviewer "rolls back" to the faulty version itself: recovery cannot be verified.
    escalated = await runner.approve(paused.run_id, by="alice", edit={"to_version": "2.4.1"})

    assert escalated.status == "paused"
    [request] = escalated.pending
    assert request.node == "escalate"
    assert [(f["path"], f["code"]) for f in request.request["failures"]] == [
        ("error_rate", "above_max")
    ]
    events = await runner.store.list_events(paused.run_id)
    assert [e.data["outcome"] for e in events if e.kind == "verdict"] == ["retry", "fail"]

    done = await runner.approve(paused.run_id, by="dana")
    assert done.status == "completed"
    assert rows(catalogue, "incidents") == [(1, "resolved")]


async def test_cancelling_a_paused_incident_makes_no_further_call(
    runner: Runner, graph: RailGraph, catalogue: ServiceCatalogue
) -> None:
    paused = await runner.start(graph, {"service": "checkout"})

    outcome = await runner.cancel(paused.run_id, by="ops", reason="duplicate incident")

    assert outcome.status == "cancelled"
    assert await runner.pending() == []
    assert rows(catalogue, "rollbacks") == []
    assert rows(catalogue, "status_posts") == []
