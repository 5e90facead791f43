"""Attacks on one run from several processes at once, and crashes mid-decision.

Each race forks real processes that open the database on their own and wait at a barrier,
so that their commands start at the same instant: two reviewers deciding two requests of one
run, an approval against a cancel, a resume against the process that drives the run. The
crash cases kill a process with SIGKILL at a named point (see ``test_crash_resume``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections import Counter
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph._cli import app
from railgraph._report import path_of
from railgraph.errors import RailgraphError
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs._services import ServiceCatalogue
from railgraph.graphs.incident import make_graph as make_incident
from railgraph.graphs.refund import make_graph as make_refund
from railgraph.nodes import ToolRegistry
from tests.railgraph.test_crash_resume import APPROVAL_POINTS, Point, in_new_process

pytestmark = pytest.mark.slow

INCIDENT = "railgraph.graphs.incident:graph"
REFUND = "railgraph.graphs.refund:graph"
FORK = multiprocessing.get_context("fork")
Result = tuple[str, ...]


async def act(
    workdir: Path, run_id: str, action: str, barrier: Barrier | None
) -> tuple[str, str, str]:
    """One command, from its own process: what it printed (status, or the error)."""
    os.chdir(workdir)
    db = workdir / ".railgraph" / "railgraph.db"
    async with Runner.open(db) as runner:
        runner.register(INCIDENT, make_incident(catalogue=ServiceCatalogue()))
        runner.register(REFUND, make_refund(helpdesk=Helpdesk()))
        gates = {p.node: p.request_id for p in await runner.store.list_approvals(run_id=run_id)}
        if barrier is not None:
            barrier.wait(60)
        try:
            if action == "approve_rollback":
                outcome = await runner.approve(
                    run_id, by="alice", request_id=gates["approve_rollback"]
                )
            elif action == "reject_status_page":
                outcome = await runner.reject(
                    run_id,
                    by="bob",
                    reason="customers were told already",
                    request_id=gates["approve_status_page"],
                )
            elif action == "approve":
                outcome = await runner.approve(run_id, by="alice")
            elif action == "cancel":
                outcome = await runner.cancel(run_id, by="carol", reason="stop everything")
            else:
                outcome = await runner.resume(run_id)
        except RailgraphError as exc:
            return action, type(exc).__name__, str(exc)
        return action, "ok", outcome.status


def child(workdir: Path, run_id: str, action: str, barrier: Barrier | None, results: Any) -> None:
    results.put(asyncio.run(act(workdir, run_id, action, barrier)))
    sent(results)


def sent(results: Any) -> None:
    """Flush what this child put on the queue, then end it without running the parent's
    exit handlers (it is a fork of the test process)."""
    results.close()
    results.join_thread()
    os._exit(0)


def at_once(workdir: Path, run_id: str, *actions: str) -> dict[str, tuple[str, str]]:
    """Run the actions in separate processes released together; their results by action."""
    barrier = FORK.Barrier(len(actions))
    results = FORK.Queue()
    processes = [
        FORK.Process(target=child, args=(workdir, run_id, a, barrier, results)) for a in actions
    ]
    for p in processes:
        p.start()
    found = [results.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(60)
        assert p.exitcode == 0
    return {action: (kind, text) for action, kind, text in found}


async def stored(workdir: Path, run_id: str) -> dict[str, Any]:
    async with Runner.open(workdir / ".railgraph" / "railgraph.db") as runner:
        record = await runner.store.get_run(run_id)
        events = await runner.store.list_events(run_id)
        effects = await runner.store.list_effects(run_id)
        approvals = await runner.store.list_approvals(run_id=run_id, status=None)
    assert record is not None
    return {
        "status": record.status,
        "error": record.error or "",
        "lease": getattr(record, "lease_owner", None),  # (absent before schema 4)
        "path": path_of(events),
        "kinds": [e.kind for e in events],
        "seqs": [e.seq for e in events],
        "effects": {e.tool: e.status for e in effects},
        "approvals": {a.node: (a.status, a.decided_by) for a in approvals},
    }


def start_in_child(workdir: Path, run_id: str, action: str) -> None:
    assert in_new_process(workdir, run_id, action) == 0


@pytest.mark.parametrize("trial", range(4))
def test_two_reviewers_deciding_two_requests_at_once_both_take_effect_once(
    tmp_path: Path, trial: int
) -> None:
    start_in_child(tmp_path, "run-i", "incident")

    results = at_once(tmp_path, "run-i", "approve_rollback", "reject_status_page")

    h = asyncio.run(stored(tmp_path, "run-i"))
    catalogue = ServiceCatalogue(tmp_path / ".railgraph" / "services.db")
    assert results == {
        "approve_rollback": ("ok", "completed"),
        "reject_status_page": ("ok", "completed"),
    }
    assert h["status"] == "completed"
    assert h["lease"] is None
    assert h["approvals"] == {
        "approve_rollback": ("approved", "alice"),
        "approve_status_page": ("rejected", "bob"),
    }
    assert max(Counter(h["path"]).values()) == 1  # no node ran twice
    assert "run_failed" not in h["kinds"]
    assert h["seqs"] == sorted(set(h["seqs"]))
    assert set(h["effects"].values()) == {"completed"}
    assert "post_status_page" not in h["effects"]
    assert len(catalogue.table("rollbacks")) == 1
    assert catalogue.table("status_posts") == []


@pytest.mark.parametrize("trial", range(4))
def test_approve_racing_cancel_leaves_a_status_that_says_what_happened(
    tmp_path: Path, trial: int
) -> None:
    start_in_child(tmp_path, "run-c", "start:T-1002")

    results = at_once(tmp_path, "run-c", "approve", "cancel")

    h = asyncio.run(stored(tmp_path, "run-c"))
    helpdesk = Helpdesk(tmp_path / ".railgraph" / "helpdesk.db")
    refunds, notices = len(helpdesk.refunds()), len(helpdesk.notifications())
    assert h["lease"] is None
    assert "pending" not in {status for status, _ in h["approvals"].values()}
    if h["status"] == "completed":
        # The cancel lost: it says the run completed, and everything happened once.
        kind, text = results["cancel"]
        assert kind == "DecisionError"
        assert text.startswith("run run-c is completed")
        assert results["approve"] == ("ok", "completed")
        assert (refunds, notices) == (1, 1)
    else:
        assert h["status"] == "cancelled"
        assert results["cancel"] == ("ok", "cancelled")
        assert results["approve"] in (
            ("ok", "cancelled"),
            ("DecisionError", results["approve"][1]),
        )
        if results["approve"][0] == "DecisionError":
            assert "cancelled by carol" in results["approve"][1]
        # Every effect the run made, or may have made, is named in its stored reason.
        for tool, status in h["effects"].items():
            assert status in ("completed", "started")
            assert tool in h["error"], (tool, h["error"])
        assert refunds == (1 if "create_refund" in h["effects"] else 0)
        assert notices == (1 if "notify_customer" in h["effects"] else 0)
        assert [k for k in h["kinds"] if k in ("run_cancelled", "run_finished")] == [
            "run_cancelled"
        ]


class Step(BaseModel):
    n: int


class Done(BaseModel):
    ok: bool


class State(BaseModel):
    first: dict[str, Any] | None = None
    second: dict[str, Any] | None = None


def blocking_graph(calls: Path, entered: Event, release: Event) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def work(args: Step) -> Done:
        with calls.open("a") as f:
            f.write(f"{args.n}\n")
        if args.n == 1:
            entered.set()
            release.wait(60)
        return Done(ok=True)

    g = GraphBuilder("blocking", State, tools=tools)
    g.tool("first", tool="work", args=lambda s: {"n": 1}, output="first")
    g.tool("second", tool="work", args=lambda s: {"n": 2}, output="second")
    g.edge(START, "first").edge("first", "second").edge("second", END)
    return g.build()


def drive_blocking(
    workdir: Path, action: str, entered: Event, release: Event, results: Any
) -> None:
    async def go() -> tuple[str, str]:
        async with Runner.open(workdir / "rg.db") as runner:
            runner.register("blocking:graph", blocking_graph(workdir / "calls", entered, release))
            try:
                if action == "start":
                    outcome = await runner.start("blocking:graph", {}, run_id="run-b")
                else:
                    outcome = await runner.resume("run-b")
            except RailgraphError as exc:
                return type(exc).__name__, str(exc)
            return "ok", outcome.status

    results.put((action, *asyncio.run(go())))
    sent(results)


def test_resume_against_a_live_driver_is_refused_and_nothing_runs_twice(tmp_path: Path) -> None:
    entered, release, results = FORK.Event(), FORK.Event(), FORK.Queue()
    driver = FORK.Process(
        target=drive_blocking, args=(tmp_path, "start", entered, release, results)
    )
    driver.start()
    assert entered.wait(60)
    second = FORK.Process(
        target=drive_blocking, args=(tmp_path, "resume", entered, release, results)
    )
    second.start()
    refused = results.get(timeout=60)
    release.set()
    finished = results.get(timeout=60)
    for p in (driver, second):
        p.join(60)

    assert refused[:2] == ("resume", "RunBusy")
    assert refused[2].startswith("run run-b is being driven by runner ")
    assert finished == ("start", "ok", "completed")
    assert (tmp_path / "calls").read_text().split() == ["1", "2"]


def test_a_branch_a_crash_stopped_goes_on_while_another_gate_waits(tmp_path: Path) -> None:
    start_in_child(tmp_path, "run-6", "incident")
    point = ("effect", "before", "rollback")
    assert in_new_process(tmp_path, "run-6", "approve:approve_rollback", point) == -signal.SIGKILL

    assert in_new_process(tmp_path, "run-6", "resume") == 0

    h = asyncio.run(stored(tmp_path, "run-6"))
    assert h["status"] == "paused"
    assert h["effects"]["rollback"] == "completed"
    assert h["path"].count("rollback") == 1
    assert h["approvals"]["approve_status_page"] == ("pending", None)
    catalogue = ServiceCatalogue(tmp_path / ".railgraph" / "services.db")
    assert len(catalogue.table("rollbacks")) == 1


def test_re_approving_after_a_crashed_approve_says_to_resume(tmp_path: Path) -> None:
    start_in_child(tmp_path, "run-2", "start:T-1002")
    point = ("put_writes", "before", 1)
    assert in_new_process(tmp_path, "run-2", "approve", point) == -signal.SIGKILL

    again = asyncio.run(act(tmp_path, "run-2", "approve", None))
    resumed = asyncio.run(act(tmp_path, "run-2", "resume", None))

    assert again[:2] == ("approve", "DecisionError")
    assert again[2] == (
        "run run-2 is running and has no pending request; its last request was approved by "
        "alice; run run-2 was interrupted before it went on — run `railgraph resume run-2` "
        "to continue it"
    )
    assert resumed == ("resume", "ok", "completed")
    helpdesk = Helpdesk(tmp_path / ".railgraph" / "helpdesk.db")
    assert len(helpdesk.refunds()) == 1


def test_a_cancel_after_a_crash_between_an_effect_and_its_record_names_the_effect(
    tmp_path: Path,
) -> None:
    point = ("effect", "after", "create_refund")
    assert in_new_process(tmp_path, "run-4", "start:T-1001", point) == -signal.SIGKILL

    db = str(tmp_path / ".railgraph" / "railgraph.db")
    cancelled = CliRunner().invoke(
        app, ["cancel", "run-4", "--by", "carol", "--reason", "stop", "--db", db]
    )

    h = asyncio.run(stored(tmp_path, "run-4"))
    helpdesk = Helpdesk(tmp_path / ".railgraph" / "helpdesk.db")
    assert cancelled.exit_code == 0
    assert cancelled.stdout.splitlines()[0] == "run run-4: cancelled"
    assert cancelled.stdout.splitlines()[1].startswith(
        "  reason: cancelled by carol: stop; create_refund at node create_refund (key "
    )
    assert len(helpdesk.refunds()) == 1  # the refund did happen
    assert h["effects"] == {"create_refund": "started"}
    assert h["status"] == "cancelled"
    assert "create_refund at node create_refund (key " in h["error"]
    assert (
        "its outcome was unknown when the run was cancelled: it may have happened" in (h["error"])
    )
    assert h["kinds"][-1] == "run_cancelled"
    listing = CliRunner().invoke(app, ["pending", "--db", db])
    shown = CliRunner().invoke(app, ["show", "run-4", "--db", db])
    assert (
        "effect may have happened: run run-4, tool create_refund at node create_refund (key "
        in listing.stdout
    )
    assert "started but was never confirmed; check the target system" in listing.stdout
    assert "its outcome was unknown when the run was cancelled: it may have happened" in (
        shown.stdout
    )


@pytest.mark.parametrize("point", APPROVAL_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_a_cancel_after_a_crashed_approval_never_hides_an_effect(
    tmp_path: Path, point: Point
) -> None:
    start_in_child(tmp_path, "run-s", "start:T-1002")
    assert in_new_process(tmp_path, "run-s", "approve", point) == -signal.SIGKILL

    cancelled = asyncio.run(act(tmp_path, "run-s", "cancel", None))
    resumed = asyncio.run(act(tmp_path, "run-s", "resume", None))

    h = asyncio.run(stored(tmp_path, "run-s"))
    helpdesk = Helpdesk(tmp_path / ".railgraph" / "helpdesk.db")
    assert cancelled == ("cancel", "ok", "cancelled")
    assert resumed == (
        "resume",
        "DecisionError",
        "run run-s is cancelled; there is nothing to resume",
    )
    assert (h["status"], h["lease"]) == ("cancelled", None)
    made = {
        "create_refund": len(helpdesk.refunds()),
        "notify_customer": len(helpdesk.notifications()),
    }
    for tool, count in made.items():
        assert count <= 1
        # What the helpdesk may have is in the ledger (made, or maybe made), and the
        # stored reason names it.
        if count:
            assert h["effects"].get(tool) in ("started", "completed")
        if tool in h["effects"]:
            assert f"{tool} at node " in h["error"], (tool, h["error"])
