"""Worker processes sharing one run store and one queue, one of them SIGKILLed mid-run.

Everything here is a real process: `railgraph run --queue` submits, `railgraph worker`
drives, `railgraph approve/reject --queue` decides from processes that never drive, and
the test reads the store. The queue is a real PostgreSQL database; the run store is either
the same PostgreSQL database (as a fleet runs) or a SQLite file shared by every process on
this machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from railgraph._work_queue import QUEUE_ENV
from railgraph.checkpointers import RunRecord, open_store
from railgraph.graphs._helpdesk import Helpdesk
from tests.postgres_server import PostgresServer
from tests.railgraph._worker_graphs import CRASH_ENV

ROOT = Path(__file__).resolve().parents[2]
REFUND = "tests.railgraph._worker_graphs:refund"
EXPIRING = "tests.railgraph._worker_graphs:expiring"
WAIT_S = 120.0
"""How long a test waits for the workers before it reports what is stuck."""


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where every process keeps the runs: a SQLite file on this machine, or a PostgreSQL
    database of this test's own (apart from the queue's)."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database()
    return str(tmp_path / ".railgraph" / "railgraph.db")


@pytest.fixture
def queue_url(request: pytest.FixtureRequest, store_url: str) -> str:
    """The work queue: the store's own PostgreSQL database, or (beside a SQLite store) a
    PostgreSQL database of this test's own."""
    if store_url.startswith("postgresql://"):
        return store_url
    url: str = request.getfixturevalue("postgres_url")
    return url


class Cluster:
    """Worker processes and CLI processes in one working directory."""

    def __init__(self, workdir: Path, store: str, queue: str) -> None:
        self.workdir = workdir
        self.store = store
        self.queue = queue
        self.workers: list[subprocess.Popen[bytes]] = []
        # Deciders and submitters find the queue through the environment; workers by flag.
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), QUEUE_ENV: queue}
        self.env.pop(CRASH_ENV, None)

    def cli(self, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "railgraph", *args, "--db", self.store, "--json"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode in (0, 1), done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def submit(self, ref: str, data: dict[str, Any]) -> str:
        outcome = self.cli("run", ref, "--input", json.dumps(data), "--queue")
        assert outcome["status"] == "running"
        return str(outcome["run_id"])

    def worker(
        self, name: str, *, crash: str | None = None, concurrency: int = 2
    ) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if crash is not None:
            env[CRASH_ENV] = crash
        with (self.workdir / f"{name}.log").open("wb") as log:
            process = self._popen(env, log, concurrency)
        self.workers.append(process)
        return process

    def _popen(self, env: dict[str, str], log: Any, concurrency: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "railgraph",
                "worker",
                "--db",
                self.store,
                "--queue-db",
                self.queue,
                "--concurrency",
                str(concurrency),
                "--lease",
                "3",
                "--sweep-every",
                "1",
                "--graph",
                REFUND,
            ],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def runs(self) -> dict[str, RunRecord]:
        async def read() -> dict[str, RunRecord]:
            async with open_store(self.store) as store:
                return {r.run_id: r for r in await store.list_runs(limit=None)}

        return asyncio.run(read())

    def tool_calls(self, run_id: str) -> list[tuple[str, str]]:
        async def read() -> list[tuple[str, str]]:
            async with open_store(self.store) as store:
                events = await store.list_events(run_id)
            return [
                (e.data["tool"], e.data["status"])
                for e in events
                if e.kind == "tool_call" and e.data["tool"] in ("create_refund", "notify_customer")
            ]

        return asyncio.run(read())

    def wait_for(self, what: str, done: Callable[[dict[str, RunRecord]], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if done(self.runs()):
                return
            time.sleep(0.2)
        states = {r.run_id: (r.status, r.lease_owner) for r in self.runs().values()}
        logs = {p.name: p.read_text()[-2000:] for p in self.workdir.glob("*.log")}
        pytest.fail(f"waited {WAIT_S:g} s for {what}: {states}\n{logs}")

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def cluster(tmp_path: Path, store_url: str, queue_url: str) -> Iterator[Cluster]:
    made = Cluster(tmp_path, store_url, queue_url)
    try:
        yield made
    finally:
        made.stop()


def settled(runs: dict[str, RunRecord]) -> bool:
    return all(r.status not in ("running",) for r in runs.values())


def ended(runs: dict[str, RunRecord]) -> bool:
    return all(r.status not in ("running", "paused") for r in runs.values())


# Where the first worker dies, and the killed run's refund and notice as its trace shows
# them: an effect whose outcome the crash left unknown is sent again under the same
# idempotency key ("recovered"), which the helpdesk keeps once; a recorded one is not.
CRASHES = {
    "before:create_refund": [("create_refund", "recovered"), ("notify_customer", "ok")],
    "after:create_refund": [("create_refund", "recovered"), ("notify_customer", "ok")],
    "before:notify": [("create_refund", "ok"), ("notify_customer", "recovered")],
}


@pytest.mark.slow
@pytest.mark.parametrize("crash", CRASHES)
def test_workers_drive_every_run_once_though_one_is_killed(cluster: Cluster, crash: str) -> None:
    auto = [cluster.submit(REFUND, {"ticket_id": "T-1001"}) for _ in range(3)]
    large = [cluster.submit(REFUND, {"ticket_id": "T-1002"}) for _ in range(2)]

    # Alone, the first worker takes runs until a refund kills it mid-run (SIGKILL).
    doomed = cluster.worker("doomed", crash=crash, concurrency=1)
    assert doomed.wait(WAIT_S) == -signal.SIGKILL
    killed = [r for r in cluster.runs().values() if r.lease_pid == doomed.pid]
    assert len(killed) == 1 and killed[0].run_id in auto and killed[0].status == "running"

    # Two more take over: the killed run, and every run not yet taken.
    cluster.worker("w2")
    cluster.worker("w3")
    cluster.wait_for("every run to pause or end", settled)
    runs = cluster.runs()
    assert {r: runs[r].status for r in auto} == dict.fromkeys(auto, "completed")
    assert {r: runs[r].status for r in large} == dict.fromkeys(large, "paused")

    # Decisions from processes that never drive: workers deliver them.
    approved, rejected = large
    assert cluster.cli("approve", approved, "--by", "alice", "--queue")["status"] == "paused"
    decided = cluster.cli("reject", rejected, "--by", "alice", "--reason", "no", "--queue")
    assert decided["status"] == "paused"
    cluster.wait_for("every run to end", ended)

    runs = cluster.runs()
    assert {r: runs[r].status for r in [*auto, *large]} == {
        **dict.fromkeys(auto, "completed"),
        approved: "completed",
        rejected: "rejected",
    }
    assert all(r.lease_owner is None for r in runs.values())
    helpdesk = Helpdesk(cluster.workdir / ".railgraph" / "helpdesk.db")
    refunds = sorted((r["ticket_id"], r["amount"]) for r in helpdesk.refunds())
    assert refunds == [("T-1001", 42.5)] * 3 + [("T-1002", 480.0)]
    assert len({r["idempotency_key"] for r in helpdesk.refunds()}) == 4
    notices = helpdesk.notifications()
    # Each run told its customer once: three refunds, one refund, one refusal.
    assert sorted(n["ticket_id"] for n in notices) == ["T-1001"] * 3 + ["T-1002"] * 2
    assert len({n["idempotency_key"] for n in notices}) == 5
    for run_id in auto:
        calls = cluster.tool_calls(run_id)
        if run_id == killed[0].run_id:
            assert calls == CRASHES[crash]
        else:
            assert calls == [("create_refund", "ok"), ("notify_customer", "ok")], run_id

    # SIGTERM stops a worker gracefully.
    for process in cluster.workers[1:]:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


@pytest.mark.slow
def test_a_worker_applies_an_expiry(cluster: Cluster) -> None:
    cluster.worker("w1")
    run_id = cluster.submit(EXPIRING, {})

    cluster.wait_for("the request to expire and the run to end", ended)

    record = cluster.runs()[run_id]
    assert (record.status, record.result) == ("completed", {"note": "expired"})
