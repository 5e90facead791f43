"""SIGKILL a process running the refund agent at many points; resume from a new process.

Each scenario forks a child (a real, separate process) that runs the graph and kills itself
with SIGKILL at one point: before or after the checkpointer saves a task's writes or a
checkpoint, or before or after the helpdesk applies a refund or a notification — the last
being the gap between a side effect and the ledger's record of it. New processes then resume
the run until it ends. Every run must complete with a consistent history and every effect
applied exactly once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from railgraph import END, START, DecisionError, GraphBuilder, Runner
from railgraph._report import path_of
from railgraph._settings import DB_ENV
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs._services import ServiceCatalogue
from railgraph.graphs.incident import make_graph as make_incident
from railgraph.graphs.refund import make_graph
from railgraph.nodes import ToolRegistry, ToolTier
from railgraph.nodes._state import EVENTS
from railgraph.nodes._toolcall import _idempotency_key

ROOT = Path(__file__).resolve().parents[2]
REF = "railgraph.graphs.refund:graph"
INCIDENT = "railgraph.graphs.incident:graph"
AUTO = ["load_ticket", "classify", "by_intent", "lookup_invoice", "verify_invoice", "budget"]
T1001_PATH = [*AUTO, "by_amount", "create_refund", "notify_customer"]
T1002_PATH = [*AUTO, "by_amount", "approve_refund", "create_refund", "notify_customer"]

# Where to die: (what, when, which): the nth call of the saver's aput_writes / aput, or the
# helpdesk call of a tool. T-1001 makes 10 aput_writes and 11 aput calls; the approval leg
# of T-1002 makes 3 of each.
T1001_POINTS = [
    *[("put_writes", "before", n) for n in (1, 2, 5, 9, 10)],
    *[("put_writes", "after", n) for n in (1, 5, 8, 9, 10)],
    ("put", "before", 1),
    *[("put", "after", n) for n in (1, 6, 9, 11)],
    *[
        ("effect", when, tool)
        for tool in ("create_refund", "notify")
        for when in ("before", "after")
    ],
]
APPROVAL_POINTS = [
    *[("put_writes", when, n) for when in ("before", "after") for n in (1, 2, 3)],
    *[("put", "after", n) for n in (1, 3)],
    *[("effect", when, "create_refund") for when in ("before", "after")],
]

ROLLBACK_POINTS = [
    *[("put_writes", when, n) for when in ("before", "after") for n in (1, 2, 3)],
    *[("put", "after", n) for n in (1, 2)],
    *[("effect", when, "rollback") for when in ("before", "after")],
]

Point = tuple[str, str, Any]


def database(workdir: Path) -> str:
    """The run's database: ``$RAILGRAPH_DB`` (a PostgreSQL URL), else a file in ``workdir``."""
    return os.environ.get(DB_ENV) or str(workdir / ".railgraph" / "railgraph.db")


def die_at(point: Point | None, what: str, when: str, which: Any) -> None:
    if point == (what, when, which):
        os.kill(os.getpid(), signal.SIGKILL)


class CrashingSaver(SqliteCheckpointer):
    # Class-wide on purpose: each forked child counts its own calls from zero.
    point: ClassVar[Point | None] = None
    calls: ClassVar[dict[str, int]] = {"put_writes": 0, "put": 0}

    async def aput_writes(
        self, config: Any, writes: Any, task_id: str, task_path: str = ""
    ) -> None:
        self.calls["put_writes"] += 1
        n = self.calls["put_writes"]
        die_at(self.point, "put_writes", "before", n)
        await super().aput_writes(config, writes, task_id, task_path)
        die_at(self.point, "put_writes", "after", n)

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.calls["put"] += 1
        n = self.calls["put"]
        die_at(self.point, "put", "before", n)
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        die_at(self.point, "put", "after", n)
        return saved


class CrashingHelpdesk(Helpdesk):
    point: ClassVar[Point | None] = None

    def create_refund(self, **kwargs: Any) -> dict[str, Any]:
        die_at(self.point, "effect", "before", "create_refund")
        row = super().create_refund(**kwargs)
        die_at(self.point, "effect", "after", "create_refund")
        return row

    def notify(self, **kwargs: Any) -> dict[str, Any]:
        die_at(self.point, "effect", "before", "notify")
        row = super().notify(**kwargs)
        die_at(self.point, "effect", "after", "notify")
        return row


class CrashingCatalogue(ServiceCatalogue):
    point: ClassVar[Point | None] = None

    def rollback(self, **kwargs: Any) -> dict[str, Any]:
        die_at(self.point, "effect", "before", "rollback")
        row = super().rollback(**kwargs)
        die_at(self.point, "effect", "after", "rollback")
        return row


async def drive(workdir: Path, run_id: str, action: str, point: Point | None) -> None:
    os.chdir(workdir)
    CrashingSaver.point = CrashingHelpdesk.point = CrashingCatalogue.point = point
    async with CrashingSaver.from_path(database(workdir), event_channel=EVENTS) as saver:
        runner = Runner(saver)
        runner.register(REF, make_graph(helpdesk=CrashingHelpdesk()))
        runner.register(INCIDENT, make_incident(catalogue=CrashingCatalogue()))
        if action.startswith("start:"):
            await runner.start(REF, {"ticket_id": action[6:]}, run_id=run_id)
        elif action == "incident":
            await runner.start(INCIDENT, {"service": "checkout"}, run_id=run_id)
        elif action.startswith("approve"):
            gate = action.partition(":")[2]
            pending = await runner.store.list_approvals(run_id=run_id)
            chosen = [p.request_id for p in pending if p.node == gate] or [None]
            await runner.approve(run_id, by="alice", request_id=chosen[0])
        else:
            await runner.resume(run_id)


def child(workdir: Path, run_id: str, action: str, point: Point | None) -> None:
    asyncio.run(drive(workdir, run_id, action, point))
    os._exit(0)


def in_new_process(workdir: Path, run_id: str, action: str, point: Point | None = None) -> int:
    """Run one step in a forked process; its exit code (-9 when it killed itself)."""
    process = multiprocessing.get_context("fork").Process(
        target=child, args=(workdir, run_id, action, point)
    )
    process.start()
    process.join(60)
    assert process.exitcode is not None, "child hung"
    return process.exitcode


def resume_with_the_cli(workdir: Path, run_id: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "railgraph", "resume", run_id, "--json"],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def history(workdir: Path, run_id: str) -> dict[str, Any]:
    async with Runner.open(database(workdir)) as runner:
        record = await runner.store.get_run(run_id)
        events = await runner.store.list_events(run_id)
        effects = await runner.store.list_effects(run_id)
        approvals = await runner.store.list_approvals(run_id=run_id, status=None)
    assert record is not None
    helpdesk = Helpdesk(workdir / ".railgraph" / "helpdesk.db")
    return {
        "status": record.status,
        "path": path_of(events),
        "seqs": [e.seq for e in events],
        "tools": [(e.data["tool"], e.data["status"]) for e in events if e.kind == "tool_call"],
        "effects": sorted((e.tool, e.status) for e in effects),
        "approvals": [(a.status, a.decided_by) for a in approvals],
        "refunds": [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()],
        "notifications": [n["ticket_id"] for n in helpdesk.notifications()],
    }


def settle(workdir: Path, run_id: str, *, cli: bool) -> None:
    """Resume from new processes until the run has ended."""
    if cli:
        resume_with_the_cli(workdir, run_id)
    else:
        assert in_new_process(workdir, run_id, "resume") == 0


def check_consistent(h: dict[str, Any], path: list[str], ticket: str, amount: float) -> None:
    assert h["status"] == "completed"
    assert h["path"] == path  # each node finished once: no lost and no repeated step
    assert h["seqs"] == sorted(set(h["seqs"]))
    assert h["effects"] == [("create_refund", "completed"), ("notify_customer", "completed")]
    assert h["refunds"] == [(ticket, amount)]
    assert h["notifications"] == [ticket]
    effect_calls = [t for t in h["tools"] if t[0] in ("create_refund", "notify_customer")]
    assert [t[0] for t in effect_calls] == ["create_refund", "notify_customer"]
    assert all(status in ("ok", "recovered", "replayed") for _, status in effect_calls)


@pytest.mark.slow
@pytest.mark.parametrize("point", T1001_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_automatic_run_resumes_and_refunds_once(tmp_path: Path, point: Point) -> None:
    assert in_new_process(tmp_path, "run-1", "start:T-1001", point) == -signal.SIGKILL

    settle(tmp_path, "run-1", cli=point in T1001_POINTS[-4:-2])
    h = asyncio.run(history(tmp_path, "run-1"))

    check_consistent(h, T1001_PATH, "T-1001", 42.5)
    if point == ("effect", "after", "create_refund"):
        # The refund happened but its record did not: sent again with the same key, the
        # helpdesk dropped the repeat.
        assert ("create_refund", "recovered") in h["tools"]


@pytest.mark.slow
@pytest.mark.parametrize("point", T1001_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_automatic_run_on_postgresql_resumes_and_refunds_once(
    tmp_path: Path, point: Point, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every process (forked, and the CLI's) finds the database through the variable.
    monkeypatch.setenv(DB_ENV, postgres_url)
    assert in_new_process(tmp_path, "run-1", "start:T-1001", point) == -signal.SIGKILL

    settle(tmp_path, "run-1", cli=point in T1001_POINTS[-4:-2])
    h = asyncio.run(history(tmp_path, "run-1"))

    check_consistent(h, T1001_PATH, "T-1001", 42.5)
    if point == ("effect", "after", "create_refund"):
        assert ("create_refund", "recovered") in h["tools"]


@pytest.mark.slow
@pytest.mark.parametrize("point", ROLLBACK_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_while_approving_the_rollback_rolls_back_once(tmp_path: Path, point: Point) -> None:
    assert in_new_process(tmp_path, "run-3", "incident") == 0
    assert in_new_process(tmp_path, "run-3", "approve:approve_status_page") == 0
    assert in_new_process(tmp_path, "run-3", "approve:approve_rollback", point) == -signal.SIGKILL

    settle(tmp_path, "run-3", cli=point == ("effect", "after", "rollback"))

    catalogue = ServiceCatalogue(tmp_path / ".railgraph" / "services.db")
    rollbacks = [(r["from_version"], r["to_version"]) for r in catalogue.table("rollbacks")]
    assert rollbacks == [("2.4.1", "2.4.0")]
    assert [i["status"] for i in catalogue.table("incidents")] == ["resolved"]
    assert len(catalogue.table("status_posts")) == 1
    h = asyncio.run(history(tmp_path, "run-3"))
    assert h["status"] == "completed"
    assert h["path"].count("rollback") == 1
    assert h["seqs"] == sorted(set(h["seqs"]))
    assert sorted(t for t, s in h["effects"]) == [
        "open_incident",
        "post_status_page",
        "resolve_incident",
        "rollback",
    ]
    assert all(s == "completed" for _, s in h["effects"])


@pytest.mark.slow
@pytest.mark.parametrize("point", APPROVAL_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_approval_resumes_and_refunds_once(tmp_path: Path, point: Point) -> None:
    assert in_new_process(tmp_path, "run-2", "start:T-1002") == 0
    assert in_new_process(tmp_path, "run-2", "approve", point) == -signal.SIGKILL

    settle(tmp_path, "run-2", cli=point == ("effect", "after", "create_refund"))
    h = asyncio.run(history(tmp_path, "run-2"))

    check_consistent(h, T1002_PATH, "T-1002", 480.0)
    assert h["approvals"] == [("approved", "alice")]


@pytest.mark.slow
@pytest.mark.parametrize("point", APPROVAL_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_approval_on_postgresql_resumes_and_refunds_once(
    tmp_path: Path, point: Point, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_ENV, postgres_url)
    assert in_new_process(tmp_path, "run-2", "start:T-1002") == 0
    assert in_new_process(tmp_path, "run-2", "approve", point) == -signal.SIGKILL

    settle(tmp_path, "run-2", cli=point == ("effect", "after", "create_refund"))
    h = asyncio.run(history(tmp_path, "run-2"))

    check_consistent(h, T1002_PATH, "T-1002", 480.0)
    assert h["approvals"] == [("approved", "alice")]


class Args(BaseModel):
    amount: float


class Done(BaseModel):
    ok: bool


class State(BaseModel):
    receipt: dict[str, Any] | None = None


def transfer_graph(sent: list[float], *, idempotent: bool) -> Any:
    tools = ToolRegistry()

    @tools.tool(tier=ToolTier.WRITE, idempotent=idempotent)
    def transfer(args: Args) -> Done:
        sent.append(args.amount)
        return Done(ok=True)

    g = GraphBuilder("transfer", State, tools=tools)
    g.tool("transfer", args=lambda s: {"amount": 5.0}, output="receipt")
    g.edge(START, "transfer").edge("transfer", END)
    return g.build()


async def leave_unknown(runner: Runner, run_id: str) -> None:
    """What a crash between the effect and its record leaves in the ledger."""
    key = _idempotency_key(run_id, "transfer", "transfer", {"amount": 5.0})
    await runner.store.begin_effect(
        key, run_id=run_id, node="transfer", tool="transfer", args={"amount": 5.0}
    )


async def test_an_idempotent_tool_with_an_unknown_outcome_is_sent_again() -> None:
    sent: list[float] = []
    async with Runner.open(Path.cwd() / "rg.db") as runner:
        await leave_unknown(runner, "run-u")
        outcome = await runner.start(transfer_graph(sent, idempotent=True), {}, run_id="run-u")
        [effect] = await runner.store.list_effects("run-u")

    assert (outcome.status, sent, effect.status) == ("completed", [5.0], "completed")


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_an_unknown_outcome_of_another_tool_waits_for_a_person(decision: str) -> None:
    sent: list[float] = []
    async with Runner.open(Path.cwd() / "rg.db") as runner:
        await leave_unknown(runner, "run-u")
        paused = await runner.start(transfer_graph(sent, idempotent=False), {}, run_id="run-u")

        assert (paused.status, sent) == ("paused", [])
        [request] = paused.pending
        assert request.node == "transfer"
        assert request.request["kind"] == "unknown_effect"
        assert request.request["action"]["args"] == {"amount": 5.0}
        assert "started but its outcome is unknown" in request.request["reason"]
        with pytest.raises(DecisionError, match="its arguments cannot change"):
            await runner.approve("run-u", by="ops", edit={"amount": 6.0})

        if decision == "approve":
            done = await runner.approve("run-u", by="ops")
            assert (done.status, sent) == ("completed", [5.0])
        else:
            done = await runner.reject("run-u", by="ops", reason="the bank shows it was paid")
            assert (done.status, sent) == ("failed", [])
            assert done.reason is not None
            assert "ops chose not to send the call again (the bank shows it was paid)" in (
                done.reason
            )
        [effect] = await runner.store.list_effects("run-u")
        assert effect.status == ("completed" if decision == "approve" else "started")
