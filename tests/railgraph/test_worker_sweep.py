"""The workers' sweep: which runs need a driver (exact sets), and what a drive job does."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph._cli import app
from railgraph._sweep import DriveReason, read_snapshot, runs_to_drive
from railgraph._work_queue import WorkQueue, queue_url
from railgraph._worker import BUSY, Worker
from railgraph.checkpointers import Lease
from railgraph.errors import InputError
from railgraph.graphs.refund import make_graph
from railgraph.nodes import ToolRegistry
from tests.conftest import FakeTime

REF = "railgraph.graphs.refund:graph"
EXPIRING = "tests.expiring:graph"


class Ask(BaseModel):
    note: str = ""


def expiring() -> RailGraph:
    g = GraphBuilder("expiring", Ask)
    g.approve("ask", approved="yes", rejected=END, expired="late", expires_after_s=60)
    g.step("yes", lambda s: {"note": "approved"})
    g.step("late", lambda s: {"note": "expired"})
    g.edge(START, "ask").edge("yes", END).edge("late", END)
    return g.build()


@pytest.fixture
async def runner(tmp_path: Path, fake_time: FakeTime) -> Runner:
    async with Runner.open(tmp_path / "rg.db", clock=fake_time.clock, lease_s=30) as opened:
        opened.register(REF, make_graph())
        opened.register(EXPIRING, expiring())
        yield opened  # type: ignore[misc]


async def a_world(runner: Runner, fake_time: FakeTime) -> None:
    """Runs in every state the sweep tells apart, each named for what it is."""
    store = runner.store
    await runner.start(REF, {"ticket_id": "T-1001"}, run_id="completed")
    await runner.start(REF, {"ticket_id": "T-1002"}, run_id="waiting")
    await runner.start(REF, {"ticket_id": "T-1002"}, run_id="decided")
    await runner.start(REF, {"ticket_id": "T-1002"}, run_id="delivered")
    await runner.start(EXPIRING, {}, run_id="expiring")
    await runner.submit(REF, {"ticket_id": "T-1001"}, run_id="queued")
    for run_id in ("lapsed", "dead_pid", "live_elsewhere", "live_here"):
        await runner.submit(REF, {"ticket_id": "T-1001"}, run_id=run_id)
    fake_time.advance(10)
    await runner.approve("decided", by="ann", deliver=False)
    await runner.approve("delivered", by="ann")
    # A lease taken at t+10 for 30 s from another host: live until t+40.
    await store.acquire_lease("lapsed", Lease("gone", "other-host", 1), ttl=5)
    await store.acquire_lease("live_elsewhere", Lease("far", "other-host", 1), ttl=300)
    # On this host, a process that no longer exists holds a lease that has not expired.
    dead = Lease("dead", socket.gethostname(), 2**22 + 12345)
    await store.acquire_lease("dead_pid", dead, ttl=300)
    await store.acquire_lease("live_here", Lease.here("alive"), ttl=300)
    fake_time.advance(55)  # t+65: the 5 s lease lapsed; the 60 s request expired


async def test_the_sweep_selects_exactly_the_runs_nobody_drives(
    runner: Runner, fake_time: FakeTime
) -> None:
    await a_world(runner, fake_time)

    snapshot = await read_snapshot(runner.store, fake_time.now)
    due = runs_to_drive(snapshot, fake_time.now)

    assert due == {
        "queued": DriveReason.UNDRIVEN,
        "lapsed": DriveReason.LAPSED,
        "dead_pid": DriveReason.LAPSED,
        "decided": DriveReason.DECIDED,
        "expiring": DriveReason.EXPIRED,
    }
    # Judged from another host, the dead process is unknown: its lease is still live.
    assert runs_to_drive(snapshot, fake_time.now, host="elsewhere") == {
        "queued": DriveReason.UNDRIVEN,
        "lapsed": DriveReason.LAPSED,
        "decided": DriveReason.DECIDED,
        "expiring": DriveReason.EXPIRED,
    }


async def test_the_sweep_reads_every_paused_runs_decisions_in_one_statement(
    runner: Runner, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_world(runner, fake_time)
    for n in range(3):  # more paused runs, each with a decision: still one statement
        await runner.start(REF, {"ticket_id": "T-1002"}, run_id=f"more{n}")
        await runner.approve(f"more{n}", by="ann", deliver=False)
    db = runner.store._db
    reads: list[object] = []
    read = db.read

    async def counted(body: Any) -> Any:
        reads.append(body)
        return await read(body)

    monkeypatch.setattr(db, "read", counted)

    snapshot = await read_snapshot(runner.store, fake_time.now)

    # The running runs, the paused runs, their decisions, the expired requests.
    assert len(reads) == 4
    assert {run_id: [a.status for a in found] for run_id, found in snapshot.decided.items()} == {
        "waiting": [],
        "decided": ["approved"],
        "expiring": [],
        "more0": ["approved"],
        "more1": ["approved"],
        "more2": ["approved"],
    }


async def test_a_drive_job_brings_each_run_as_far_as_it_goes(
    runner: Runner, fake_time: FakeTime, postgres_free_url: str
) -> None:
    await a_world(runner, fake_time)
    queue = RecordingQueue(postgres_free_url)
    worker = Worker(runner, queue)

    got = {
        run_id: await worker.drive(run_id)
        for run_id in (
            "completed",
            "waiting",
            "decided",
            "expiring",
            "queued",
            "lapsed",
            "dead_pid",
            "live_elsewhere",
            "live_here",
        )
    }

    assert got == {
        "completed": "completed",
        "waiting": "paused",  # nothing was decided: it stays paused
        "decided": "completed",
        "expiring": "completed",
        "queued": "completed",
        "lapsed": "completed",
        "dead_pid": "completed",
        "live_elsewhere": BUSY,
        "live_here": BUSY,
    }
    # A run another process drives is asked about again one lease (30 s) later.
    assert queue.asked == [("live_elsewhere", 30), ("live_here", 30)]
    expired = await runner.store.get_run("expiring")
    assert expired is not None and expired.result == {"note": "expired"}
    now = fake_time.now
    assert runs_to_drive(await read_snapshot(runner.store, now), now) == {}


@pytest.fixture
def postgres_free_url() -> str:
    """A queue URL that is never connected to: a drive job needs no queue."""
    return "postgresql://unused.invalid/queue"


class RecordingQueue(WorkQueue):
    """A work queue that only records the follow-up jobs asked of it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.asked: list[tuple[str, float | None]] = []

    async def enqueue(self, run_id: str, *, after_s: float | None = None) -> bool:
        self.asked.append((run_id, after_s))
        return True


def test_the_queue_needs_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAILGRAPH_QUEUE_DB", raising=False)
    with pytest.raises(InputError) as missing:
        queue_url(None, Path("rg.db"))
    assert str(missing.value) == (
        "workers take their jobs from a queue in PostgreSQL: pass --queue-db "
        "postgresql://HOST/DB (or set RAILGRAPH_QUEUE_DB), or keep the runs themselves in "
        "PostgreSQL with --db postgresql://HOST/DB"
    )
    with pytest.raises(InputError) as a_file:
        queue_url("jobs.db", None)
    assert str(a_file.value) == (
        "the work queue lives in PostgreSQL: --queue-db must be a postgresql:// URL, not a file"
    )
    assert queue_url(None, "postgresql://db/runs") == "postgresql://db/runs"
    monkeypatch.setenv("RAILGRAPH_QUEUE_DB", "postgresql://db/jobs")
    assert queue_url(None, "postgresql://db/runs") == "postgresql://db/jobs"
    assert queue_url("postgresql://db/other", None) == "postgresql://db/other"
    # The run store named by the environment, as `export RAILGRAPH_DB=postgresql://...`.
    monkeypatch.delenv("RAILGRAPH_QUEUE_DB")
    monkeypatch.setenv("RAILGRAPH_DB", "postgresql://db/runs")
    assert queue_url(None, None) == "postgresql://db/runs"
    assert queue_url(None, "postgresql://db/flag") == "postgresql://db/flag"
    with pytest.raises(InputError):
        queue_url(None, "rg.db")  # --db names a file: the environment's store is not it


class Step(BaseModel):
    n: int


class Done(BaseModel):
    ok: bool


class Two(BaseModel):
    first: dict[str, bool] | None = None
    second: dict[str, bool] | None = None


def two_steps(calls: list[int], entered: asyncio.Event, release: asyncio.Event) -> RailGraph:
    """Two write-tier calls; the first waits for ``release``."""
    tools = ToolRegistry()

    @tools.tool(tier="write")
    async def work(args: Step) -> Done:
        calls.append(args.n)
        if len(calls) == 1:
            entered.set()
            await release.wait()
        return Done(ok=True)

    g = GraphBuilder("two_steps", Two, tools=tools)
    g.tool("first", tool="work", args=lambda s: {"n": 1}, output="first")
    g.tool("second", tool="work", args=lambda s: {"n": 2}, output="second")
    g.edge(START, "first").edge("first", "second").edge("second", END)
    return g.build()


async def test_one_worker_drives_a_run_once_however_many_of_its_jobs_ask(
    runner: Runner, postgres_free_url: str
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    calls: list[int] = []
    runner.register("tests.two:graph", two_steps(calls, entered, release))
    await runner.submit("tests.two:graph", {}, run_id="slow")
    queue = RecordingQueue(postgres_free_url)
    worker = Worker(runner, queue)

    # Two jobs for the run, fetched together by one worker: both read the run before
    # either takes the lease, and the lease's owner is the same for both.
    both = asyncio.gather(worker.drive("slow"), worker.drive("slow"))
    await entered.wait()
    release.set()

    assert sorted(await both) == [BUSY, "completed"]
    assert calls == [1, 2]
    assert queue.asked == [("slow", 30)]


async def test_a_drive_cancelled_by_a_stopping_worker_gives_its_lease_up(
    runner: Runner, postgres_free_url: str
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    calls: list[int] = []
    runner.register("tests.two:graph", two_steps(calls, entered, release))
    await runner.submit("tests.two:graph", {}, run_id="slow")
    worker = Worker(runner, WorkQueue(postgres_free_url))

    drive = asyncio.create_task(worker.drive("slow"))
    await entered.wait()
    drive.cancel()
    with pytest.raises(asyncio.CancelledError):
        await drive

    record = await runner.store.get_run("slow")
    assert record is not None
    assert (record.status, record.lease_owner, record.error) == (
        "running",
        None,
        "the worker driving run slow stopped; another worker takes it over",
    )
    now = runner.clock()
    assert runs_to_drive(await read_snapshot(runner.store, now), now) == {
        "slow": DriveReason.UNDRIVEN
    }
    # The next drive finds the first call `started` and unconfirmed: a person is asked.
    release.set()
    assert await worker.drive("slow") == "paused"
    (request,) = await runner.store.list_approvals(run_id="slow")
    assert (request.node, request.request["kind"]) == ("first", "unknown_effect")
    assert calls == [1]


def test_queue_without_a_queue_database_says_how_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAILGRAPH_QUEUE_DB", raising=False)
    db = str(tmp_path / "rg.db")
    done = CliRunner().invoke(
        app, ["run", REF, "--input", '{"ticket_id": "T-1001"}', "--queue", "--db", db]
    )
    assert done.exit_code == 2
    assert " ".join(done.stderr.split()) == (
        "error: workers take their jobs from a queue in PostgreSQL: pass --queue-db "
        "postgresql://HOST/DB (or set RAILGRAPH_QUEUE_DB), or keep the runs themselves in "
        "PostgreSQL with --db postgresql://HOST/DB"
    )
    assert not Path(db).exists()


def test_a_worker_whose_queue_cannot_be_reached_says_so(tmp_path: Path) -> None:
    queue = "postgresql://127.0.0.1:1/jobs"  # loopback, where nothing listens
    done = CliRunner().invoke(app, ["worker", "--queue-db", queue, "--db", str(tmp_path / "rg.db")])
    assert done.exit_code == 2
    message = " ".join(done.stderr.split())
    assert message.startswith(
        "error: cannot reach or set up the work queue's database (connection failed: "
    )
    assert message.endswith("); start PostgreSQL or fix --queue-db")
