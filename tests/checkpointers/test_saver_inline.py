"""Short writes inline, on the event loop's thread: how they run, fall back, and keep the WAL.

The semantics every way of writing shares (all or nothing, batches, cancellation)
are tested in `test_saver_transactions.py`, which runs the inline way too.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.checkpointers._db import Database
from railgraph.checkpointers._open import open_database
from railgraph.checkpointers._put import put_checkpoint
from railgraph.checkpointers._schema import migrate
from railgraph.checkpointers._tx import Body, execute, fetchone
from railgraph.checkpointers._values import LARGE

INSERT_RUN = (
    "INSERT INTO runs (run_id, graph, graph_name, signature, status, input, budget, usage, "
    "created_at, updated_at) VALUES (?, 'g', 'g', 's', 'running', '{}', '{}', '{}', 1, 1)"
)
FRAME_BYTES = 4096 + 24
"""One page in the WAL, with its frame header."""


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    async with open_database(db_path, synchronous="NORMAL") as db:
        await migrate(db)
        yield db


def insert_runs(*run_ids: str) -> Body[None]:
    for run_id in run_ids:
        yield from execute(INSERT_RUN, (run_id,))


async def count_runs(db: Database) -> int:
    row = await db.read(fetchone("SELECT COUNT(*) FROM runs"))
    assert row is not None
    return int(row[0])


def inline_conn(db: Database) -> sqlite3.Connection:
    assert db.inline is not None
    return db.inline.conn


def names(statements: list[str]) -> list[str]:
    return [s.split(" (")[0] for s in statements]


async def test_short_writes_run_inline_and_the_others_in_the_worker_thread(db: Database) -> None:
    inline: list[str] = []
    worker: list[str] = []
    inline_conn(db).set_trace_callback(inline.append)
    await db.conn.set_trace_callback(worker.append)

    await db.write(insert_runs("short"), short=True)
    await db.write(insert_runs("long"))
    await db.conn.set_trace_callback(None)  # type: ignore[arg-type]  # None removes it

    assert names(inline) == ["BEGIN IMMEDIATE", "INSERT INTO runs", "COMMIT"]
    assert names(worker) == ["BEGIN IMMEDIATE", "INSERT INTO runs", "COMMIT"]


async def test_a_batch_runs_inline_only_when_every_write_in_it_is_short(db: Database) -> None:
    inline: list[str] = []
    inline_conn(db).set_trace_callback(inline.append)

    # The long write queues first, so the short one finds it waiting and joins its batch.
    await asyncio.gather(db.write(insert_runs("b")), db.write(insert_runs("a"), short=True))

    assert inline == []
    assert await count_runs(db) == 2


@pytest.mark.parametrize(("synchronous", "level"), [("NORMAL", 1), ("FULL", 2)])
async def test_the_inline_connection_is_configured_never_to_wait(
    db_path: Path, synchronous: Any, level: int
) -> None:
    async with open_database(db_path, synchronous=synchronous) as db:
        conn = inline_conn(db)

        def pragma(name: str) -> Any:
            return conn.execute(f"PRAGMA {name}").fetchone()[0]

        assert {
            name: pragma(name)
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
                "wal_autocheckpoint",
            )
        } == {
            "journal_mode": "wal",
            "synchronous": level,
            "foreign_keys": 1,
            "busy_timeout": 0,
            "wal_autocheckpoint": 0,
        }
        # aiosqlite's connection waits and checkpoints as before.
        assert [
            row[0]
            for name in ("synchronous", "busy_timeout", "wal_autocheckpoint")
            for row in await db.conn.execute_fetchall(f"PRAGMA {name}")
        ] == [level, 30_000, 4_000]


async def test_reads_see_each_inline_commit_at_once(db: Database, db_path: Path) -> None:
    for i in range(20):
        await db.write(insert_runs(f"r{i}"), short=True)
        assert await count_runs(db) == i + 1
    # Committed to the file, not only visible to this process's connections.
    with closing(sqlite3.connect(db_path)) as other:
        assert other.execute("SELECT COUNT(*) FROM runs").fetchone() == (20,)


def insert_then_count(run_id: str) -> Body[int]:
    yield from execute(INSERT_RUN, (run_id,))
    row = yield from fetchone("SELECT COUNT(*) FROM runs")
    assert row is not None
    return int(row[0])


async def test_reads_inside_an_inline_write_see_its_own_changes(db: Database) -> None:
    inline: list[str] = []
    inline_conn(db).set_trace_callback(inline.append)

    counts = await asyncio.gather(
        db.write(insert_then_count("a"), short=True), db.write(insert_then_count("b"), short=True)
    )

    assert counts == [1, 2]
    assert "SELECT COUNT(*) FROM runs" in inline


async def test_a_write_blocked_by_another_connection_waits_in_the_worker_not_on_the_loop(
    db: Database, db_path: Path
) -> None:
    inline: list[str] = []
    worker: list[str] = []
    inline_conn(db).set_trace_callback(inline.append)
    await db.conn.set_trace_callback(worker.append)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute(INSERT_RUN, ("holder",))
        write = asyncio.create_task(db.write(insert_runs("blocked"), short=True))

        ticks = 0

        async def tick() -> None:
            # Records that the loop runs other coroutines while the write waits.
            nonlocal ticks
            while "BEGIN IMMEDIATE" not in worker or ticks < 100:
                await asyncio.sleep(0)
                ticks += 1
                assert ticks < 1_000_000, "the write never reached the worker thread"

        await tick()
        assert not write.done()
        holder.execute("COMMIT")
        await write
    await db.conn.set_trace_callback(None)  # type: ignore[arg-type]  # None removes it

    assert ticks >= 100
    # The inline connection found the lock taken at once and ran nothing more.
    assert inline == ["BEGIN IMMEDIATE"]
    assert names(worker) == ["BEGIN IMMEDIATE", "INSERT INTO runs", "COMMIT"]
    assert await count_runs(db) == 2
    assert db.conn.in_transaction is False
    assert inline_conn(db).in_transaction is False


async def test_a_cancelled_write_waiting_for_the_lock_is_not_applied(
    db: Database, db_path: Path
) -> None:
    worker: list[str] = []
    await db.conn.set_trace_callback(worker.append)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(db.write(insert_runs("cancelled"), short=True))
        while "BEGIN IMMEDIATE" not in worker:  # noqa: ASYNC110  # set by the worker thread
            await asyncio.sleep(0)
        write.cancel()
        holder.execute("COMMIT")
        with pytest.raises(asyncio.CancelledError):
            await write
    await db.conn.set_trace_callback(None)  # type: ignore[arg-type]  # None removes it
    await db.write(insert_runs("after"), short=True)

    # The write ran in the worker thread to its end (cancelling stops only the wait).
    assert await count_runs(db) in (1, 2)
    assert db.conn.in_transaction is False
    assert inline_conn(db).in_transaction is False


def wal_pages(db_path: Path) -> int:
    """The WAL file's size, in pages."""
    return os.stat(f"{db_path}-wal").st_size // FRAME_BYTES


def wal_restarts(db_path: Path) -> int:
    """The WAL header's checkpoint sequence number, which counts the times the WAL started over."""
    with open(f"{db_path}-wal", "rb") as wal:
        return int.from_bytes(wal.read(16)[12:16], "big")


async def test_a_checkpoint_lets_the_wal_start_over(db: Database, db_path: Path) -> None:
    assert db.inline is not None
    db.inline.check_every, db.wal_pages = 10, 50
    # Every write adds a page per B-tree it touches: the runs table and its five indexes.
    await db.write(insert_runs("first"), short=True)
    first, largest = wal_restarts(db_path), 0
    for i in range(300):
        await db.write(insert_runs(f"r{i}"), short=True)
        largest = max(largest, wal_pages(db_path))
        if (checkpoint := db._checkpointer) is not None:
            await checkpoint  # so that no write races it, as the next test lets them

    # Every 10th commit (the 10th, 20th, ..., 300th) started a checkpoint; each
    # found more than 50 pages, so the write after it started the WAL over, and
    # the WAL never held more than the migration and 10 writes (a write that
    # splits B-tree pages adds more than six).
    assert db.inline.commits == 302  # and the migration's, in the worker thread, counts too
    assert wal_restarts(db_path) - first == 30
    assert largest < 10 * 21
    assert await count_runs(db) == 301


async def largest_wal(db: Database, db_path: Path, writes: int) -> int:
    """Write `writes` small rows, one inline transaction each; the WAL's largest size in pages."""
    largest = 0
    for i in range(writes):
        await db.write(insert_runs(f"r{i}"), short=True)
        largest = max(largest, wal_pages(db_path))
    assert await count_runs(db) == writes
    return largest


async def test_without_checkpoints_inline_writes_would_grow_the_wal(
    db: Database, db_path: Path
) -> None:
    # The control for the deterministic WAL test: without checkpoints the log only grows.
    assert db.inline is not None
    db.inline.check_every = 10**9

    assert await largest_wal(db, db_path, 1_000) > 6 * 1_000


async def test_closing_closes_both_connections_and_removes_the_wal(db_path: Path) -> None:
    async with open_database(db_path, synchronous="NORMAL") as db:
        await migrate(db)
        await db.write(insert_runs("a"), short=True)
        conn = inline_conn(db)
        assert db.inline is not None
        db.inline.check_every = 1
        await db.write(insert_runs("b"), short=True)  # starts a checkpoint; closing waits for it

    assert db.inline is None
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
    assert not os.path.exists(f"{db_path}-wal")  # noqa: ASYNC240  # a test, nothing else waits
    with closing(sqlite3.connect(db_path)) as other:
        assert other.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)


@pytest.mark.parametrize(
    ("path", "one_trip", "inline"),
    [(":memory:", True, True), ("file", False, True), ("file", True, False)],
    ids=["memory", "call per statement", "inline off"],
)
async def test_some_databases_have_no_inline_connection(
    db_path: Path, path: str, one_trip: bool, inline: bool
) -> None:
    where = db_path if path == "file" else path
    async with open_database(where, synchronous="NORMAL", one_trip=one_trip, inline=inline) as db:
        await migrate(db)
        assert db.inline is None
        await db.write(insert_runs("a"), short=True)
        assert await count_runs(db) == 1


def test_only_checkpoints_without_large_values_are_short(make_checkpoint: Any) -> None:
    saver = SqliteCheckpointer.__new__(SqliteCheckpointer)  # only for its serializer
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    small = make_checkpoint({"a": "x"}, {"a": "1"})
    large = make_checkpoint({"a": "x" * LARGE}, {"a": "1"})

    shorts = [put_checkpoint(config, c, {}, {"a": "1"}, saver.serde).short for c in (small, large)]

    assert shorts == [True, False]


async def test_a_saver_on_a_file_runs_a_nodes_writes_inline(
    saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    inline: list[str] = []
    inline_conn(saver._db).set_trace_callback(inline.append)
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}

    stored = await saver.aput(config, make_checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
    await saver.aput_writes(stored, [("a", 2)], "task")

    assert [s.split()[0] for s in inline].count("COMMIT") == 2
    latest = await saver.aget_tuple(config)
    assert latest is not None and latest.pending_writes == [("task", "a", 2)]


async def test_a_reader_that_always_holds_a_snapshot_cannot_keep_the_wal_growing(
    db: Database, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import railgraph.checkpointers._wal as db_module

    assert db.inline is not None
    db.inline.check_every, db.wal_pages = 10, 50
    # Another process's reader: a snapshot held from before the writes, given up only
    # when the checkpoint waits for it (RESTART), as a reader's transaction ends.
    reader = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM runs").fetchone()
    waited = threading.Event()
    restart = db_module._checkpoint_restart

    def restart_after_the_reader(conn: sqlite3.Connection) -> int:
        waited.set()
        reader.execute("COMMIT")
        return restart(conn)

    monkeypatch.setattr(db_module, "_checkpoint_restart", restart_after_the_reader)
    await db.write(insert_runs("first"), short=True)
    first = wal_restarts(db_path)
    for i in range(100):
        await db.write(insert_runs(f"r{i}"), short=True)
        if (checkpoint := db._checkpointer) is not None:
            await checkpoint
    reader.close()

    # PASSIVE alone could copy nothing past the reader's snapshot; RESTART waited for it,
    # and the WAL started over.
    assert waited.is_set()
    assert wal_restarts(db_path) > first
    assert await count_runs(db) == 101
