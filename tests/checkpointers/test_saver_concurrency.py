"""Many runs on one SQLite file at once: in one process, in several, and on two connections.

Every write must land exactly once: each run keeps its whole trace in order, each thread its

whole checkpoint history, each tool effect one completed ledger entry, and no caller ever
sees "database is locked".
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Awaitable, Sequence
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from railgraph import Runner
from railgraph.checkpointers import SCHEMA_VERSION, ApprovalRecord, SqliteCheckpointer
from railgraph.errors import DecisionError
from railgraph.nodes._state import EVENTS

# Real subprocesses: CI runs these; the default developer run skips them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHILD_SCRIPT = Path(__file__).with_name("_concurrency_child.py")


def _load_child() -> ModuleType:
    # Tests are imported with --import-mode=importlib, so the sibling is loaded by path; it
    # must sit in sys.modules before it runs, for pydantic to resolve its annotations.
    spec = importlib.util.spec_from_file_location("_concurrency_child", CHILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


child = _load_child()

RAIL_EVENT_COUNTS = Counter(kind for kind, _ in child.RAIL_TRACE)
PLAIN_STEPS = list(range(len(child.PLAIN_NODES), -2, -1))
"""Steps of a plain thread's checkpoints, newest first: 10, 9, …, 0, -1."""
RAIL_STEPS = list(range(len(child.RAIL_NODES), -2, -1))


def test_expected_counts_per_run_and_thread() -> None:
    # The constants every test below compares against, spelled out once.
    assert RAIL_EVENT_COUNTS == {
        "run_started": 1,
        "node_finished": 8,
        "tool_call": 1,
        "verdict": 1,
        "run_finished": 1,
    }
    assert (child.RAIL_CHECKPOINTS, child.PLAIN_CHECKPOINTS) == (10, 12)


async def gather_all(calls: Sequence[Awaitable[Any]]) -> list[Any]:
    """Await everything at once; fail naming every exception, not only the first."""
    done = await asyncio.gather(*calls, return_exceptions=True)
    errors = [repr(d) for d in done if isinstance(d, BaseException)]
    assert not any("database is locked" in e for e in errors), errors
    assert errors == []
    return done


async def assert_rail_runs(saver: SqliteCheckpointer, run_ids: Sequence[str]) -> None:
    """Each run is completed with its whole trace, one completed effect, all checkpoints."""
    store = saver.store
    runs = await store.list_runs(limit=10 * len(run_ids) + 10)
    assert sorted(r.run_id for r in runs) == sorted(run_ids)
    assert {(r.status, r.error) for r in runs} == {("completed", None)}
    assert {r.result["n"] if r.result else None for r in runs} == {len(child.RAIL_STEPS)}
    for run_id in run_ids:
        events = await store.list_events(run_id)
        assert Counter(e.kind for e in events) == RAIL_EVENT_COUNTS, run_id
        # The exact sequence also says that each node's events precede its
        # node_finished and that no other run's event slipped in between.
        assert [(e.kind, e.node) for e in events] == list(child.RAIL_TRACE), run_id
        assert [e.seq for e in events] == list(range(1, len(child.RAIL_TRACE) + 1)), run_id
        assert {e.run_id for e in events} == {run_id}
        [tool_call] = [e for e in events if e.kind == "tool_call"]
        assert (tool_call.data["status"], tool_call.data["args"]) == ("ok", {"label": run_id})

        [effect] = await store.list_effects(run_id)
        assert (effect.status, effect.node, effect.args) == (
            "completed",
            "record",
            {"label": run_id},
        )
        steps = [c.metadata["step"] async for c in saver.alist(child.thread(run_id))]
        assert steps == RAIL_STEPS, run_id


async def assert_plain_threads(saver: SqliteCheckpointer, thread_ids: Sequence[str]) -> None:
    """Each thread ends at count 10 with its whole checkpoint history, newest first."""
    for thread_id in thread_ids:
        latest = await saver.aget_tuple(child.thread(thread_id))
        assert latest is not None, thread_id
        assert latest.checkpoint["channel_values"]["count"] == len(child.PLAIN_NODES)
        assert latest.checkpoint["channel_values"]["trail"] == list(child.PLAIN_NODES)
        listed = [c async for c in saver.alist(child.thread(thread_id))]
        assert len(listed) == child.PLAIN_CHECKPOINTS, thread_id
        assert [c.metadata["step"] for c in listed] == PLAIN_STEPS, thread_id
        # Each checkpoint's parent is the next older one: the history is one unbroken chain.
        parents = [c.parent_config["configurable"]["checkpoint_id"] for c in listed[:-1]]
        assert parents == [c.config["configurable"]["checkpoint_id"] for c in listed[1:]]
        assert listed[-1].parent_config is None


def table_counts(path: Path) -> dict[str, Any]:
    """Row counts read straight from the file, on a connection of its own."""
    with closing(sqlite3.connect(path)) as conn:

        def query(sql: str) -> list[tuple[Any, ...]]:
            return conn.execute(sql).fetchall()

        return {
            "runs": query("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status"),
            "events": query("SELECT COUNT(*) FROM run_events")[0][0],
            "effects": query(
                "SELECT status, COUNT(*) FROM tool_effects GROUP BY status ORDER BY status"
            ),
            "checkpoints": query("SELECT COUNT(*) FROM checkpoints")[0][0],
            "threads": query("SELECT COUNT(DISTINCT thread_id) FROM checkpoints")[0][0],
        }


def thread_switches(path: Path) -> int:
    """How often consecutive checkpoint rows belong to different workers."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT thread_id FROM checkpoints ORDER BY rowid").fetchall()
    workers = [thread_id.split("-")[0] for (thread_id,) in rows]
    return sum(a != b for a, b in itertools.pairwise(workers))


def approval(request_id: str, *, created_at: float) -> ApprovalRecord:
    """A pending review request of the made-up run "shared"."""
    return ApprovalRecord(
        request_id=request_id,
        run_id="shared",
        graph="g",
        node="gate",
        status="pending",
        request={},
        created_at=created_at,
    )


# -- 1. many runs at once in one process -----------------------------------------------------


async def test_fifty_railgraph_runs_at_once_on_one_runner(tmp_path: Path) -> None:
    path = tmp_path / "railgraph.db"
    recorded: list[str] = []
    graph = child.make_rail_graph(recorded)
    run_ids = [f"run-{i:02}" for i in range(50)]

    async with Runner.open(path) as runner:
        outcomes = await gather_all(
            [runner.start(graph, {"label": run_id}, run_id=run_id) for run_id in run_ids]
        )

        assert [(o.run_id, o.status, o.reason) for o in outcomes] == [
            (run_id, "completed", None) for run_id in run_ids
        ]
        assert sorted(recorded) == run_ids
        await assert_rail_runs(runner.saver, run_ids)

    assert table_counts(path) == {
        "runs": [("completed", 50)],
        "events": 50 * len(child.RAIL_TRACE),
        "effects": [("completed", 50)],
        "checkpoints": 50 * child.RAIL_CHECKPOINTS,
        "threads": 50,
    }


async def test_fifty_plain_langgraph_threads_at_once_on_one_saver(tmp_path: Path) -> None:
    path = tmp_path / "railgraph.db"
    thread_ids = [f"plain-{i:02}" for i in range(50)]

    async with SqliteCheckpointer.from_path(path) as saver:
        graph = child.make_plain_graph(saver)
        finals = await gather_all(
            [
                graph.ainvoke({"count": 0, "trail": []}, child.thread(t), durability="sync")
                for t in thread_ids
            ]
        )

        assert finals == [{"count": 10, "trail": list(child.PLAIN_NODES)}] * 50
        await assert_plain_threads(saver, thread_ids)
        assert len([c async for c in saver.alist(None)]) == 50 * child.PLAIN_CHECKPOINTS

    assert table_counts(path) == {
        "runs": [],
        "events": 0,
        "effects": [],
        "checkpoints": 50 * child.PLAIN_CHECKPOINTS,
        "threads": 50,
    }


# -- 2. several processes on one file at once ------------------------------------------------

WORKERS = 4
RUNS_PER_WORKER = 10


async def spawn(db_path: Path, worker: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD_SCRIPT),
        str(db_path),
        worker,
        str(RUNS_PER_WORKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=db_path.parent,
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_four_processes_write_one_file_at_once(tmp_path: Path) -> None:
    # The schema exists, so the workers race only to write (opening a new file at once is
    # the subject of the next test).
    path = tmp_path / "railgraph.db"
    async with SqliteCheckpointer.from_path(path):
        pass
    workers = [f"w{i}" for i in range(WORKERS)]
    procs = [await spawn(path, worker) for worker in workers]
    try:
        for proc in procs:
            assert proc.stdout is not None
            ready = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            assert ready == b"ready\n"
        # Every worker is now blocked on stdin: release them together.
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        await asyncio.gather(*(proc.stdin.drain() for proc in procs if proc.stdin))
        results = await asyncio.gather(*(finish(proc) for proc in procs))
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    for worker, (code, stdout, stderr) in zip(workers, results, strict=True):
        assert "database is locked" not in stderr, stderr
        assert code == 0, stderr
        summary = json.loads(stdout)
        names = [f"{worker}-run-{i}" for i in range(RUNS_PER_WORKER)]
        assert summary == {
            "worker": worker,
            "statuses": ["completed"] * RUNS_PER_WORKER,
            "reasons": [None] * RUNS_PER_WORKER,
            "recorded": sorted(names),
            "counts": [len(child.PLAIN_NODES)] * RUNS_PER_WORKER,
        }

    # The workers' writes really were interleaved, not one process after another.
    assert thread_switches(path) >= WORKERS
    total = WORKERS * RUNS_PER_WORKER
    assert table_counts(path) == {
        "runs": [("completed", total)],
        "events": total * len(child.RAIL_TRACE),
        "effects": [("completed", total)],
        "checkpoints": total * (child.RAIL_CHECKPOINTS + child.PLAIN_CHECKPOINTS),
        "threads": 2 * total,
    }
    async with SqliteCheckpointer.from_path(path) as saver:
        await assert_rail_runs(
            saver, [f"{w}-run-{i}" for w in workers for i in range(RUNS_PER_WORKER)]
        )
        await assert_plain_threads(
            saver, [f"{w}-plain-{i}" for w in workers for i in range(RUNS_PER_WORKER)]
        )


# Enough work to keep a transaction open for a fraction of a second, without sleeping.
BUSY_WORK = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) "
    "SELECT COUNT(*) FROM n"
)


async def test_opening_a_new_file_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    # Workers that start together on a new file each switch it to WAL, and the switch takes
    # the file's write lock while it is still in rollback-journal mode. Here one connection
    # holds that lock, as a worker does mid-switch, only longer; the saver opening the file
    # must wait for it, as every other statement does (up to the busy timeout), not fail.
    path = tmp_path / "railgraph.db"
    locked = threading.Event()

    def hold_the_write_lock() -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                locked.set()  # also on failure, which `await holder` then reports
            conn.execute(BUSY_WORK).fetchone()
            conn.execute("COMMIT")

    holder = asyncio.ensure_future(asyncio.to_thread(hold_the_write_lock))
    try:
        await asyncio.to_thread(locked.wait)
        async with SqliteCheckpointer.from_path(path) as saver:
            await saver.store.append_events(
                "r", [{"kind": "opened", "node": None, "at": 0.0, "data": {}}]
            )
            assert [e.seq for e in await saver.store.list_events("r")] == [1]
    finally:
        await holder

    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


# -- 3. two connections on one file in one process -------------------------------------------


async def test_two_savers_on_one_file_interleave_without_losing_writes(tmp_path: Path) -> None:
    path = tmp_path / "railgraph.db"
    recorded: list[str] = []
    graph = child.make_rail_graph(recorded)
    async with (
        SqliteCheckpointer.from_path(path, event_channel=EVENTS) as first,
        SqliteCheckpointer.from_path(path, event_channel=EVENTS) as second,
    ):
        savers = {"a": first, "b": second}
        runners = {name: Runner(saver) for name, saver in savers.items()}
        plain = {name: child.make_plain_graph(saver) for name, saver in savers.items()}
        # Half of the runs and threads go through each connection.
        runs = [(name, f"{name}-run-{i:02}") for name in savers for i in range(20)]
        threads = [(name, f"{name}-plain-{i:02}") for name in savers for i in range(20)]
        run_ids = [run_id for _, run_id in runs]
        thread_ids = [thread_id for _, thread_id in threads]
        keys = [f"key-{i:02}" for i in range(20)]

        done = await gather_all(
            [
                *(runners[n].start(graph, {"label": r}, run_id=r) for n, r in runs),
                *(
                    plain[n].ainvoke({"count": 0, "trail": []}, child.thread(t), durability="sync")
                    for n, t in threads
                ),
                # Both connections append to one run's trace, their transactions interleaved.
                *(
                    saver.store.append_events(
                        "shared", [{"kind": "mark", "node": None, "at": 0.0, "data": {"by": n}}]
                    )
                    for n, saver in savers.items()
                    for _ in range(25)
                ),
                # Both connections claim the same effects at the same moment.
                *(
                    saver.store.begin_effect(key, run_id="shared", node="n", tool="t", args={})
                    for key in keys
                    for saver in savers.values()
                ),
            ]
        )

        outcomes = done[: len(run_ids)]
        assert [(o.run_id, o.status) for o in outcomes] == [(r, "completed") for r in run_ids]
        assert sorted(recorded) == sorted(run_ids)
        claims = done[len(run_ids) + len(thread_ids) + 50 :]
        # begin_effect returns None to the one caller that claimed the key.
        assert [claims[2 * i : 2 * i + 2].count(None) for i in range(len(keys))] == [1] * 20

        # Each connection sees every write, whichever connection made it.
        for saver in savers.values():
            await assert_rail_runs(saver, run_ids)
            await assert_plain_threads(saver, thread_ids)
            shared = await saver.store.list_events("shared")
            assert [e.seq for e in shared] == list(range(1, 51))
            assert Counter(e.data["by"] for e in shared) == {"a": 25, "b": 25}
            assert {e.status for e in await saver.store.list_effects("shared")} == {"started"}
            assert len(await saver.store.list_effects("shared")) == 20

        # A review request decided from both connections at once is decided exactly once.
        await gather_all(
            [
                runners["a"].store.add_approval(approval(f"req-{i}", created_at=float(i)))
                for i in range(10)
            ]
        )
        decisions = await asyncio.gather(
            *(
                saver.store.decide_approval(
                    f"req-{i}", status="approved", decision={"by": name}, decided_by=name
                )
                for i in range(10)
                for name, saver in savers.items()
            ),
            return_exceptions=True,
        )
        for i in range(10):
            pair = decisions[2 * i : 2 * i + 2]
            assert sorted(type(d).__name__ for d in pair) == ["ApprovalRecord", "DecisionError"]
            [lost] = [d for d in pair if isinstance(d, DecisionError)]
            assert "was already approved by" in str(lost)

    assert table_counts(path) == {
        "runs": [("completed", 40)],
        "events": 40 * len(child.RAIL_TRACE) + 50,
        "effects": [("completed", 40), ("started", 20)],
        "checkpoints": 40 * (child.RAIL_CHECKPOINTS + child.PLAIN_CHECKPOINTS),
        "threads": 80,
    }
