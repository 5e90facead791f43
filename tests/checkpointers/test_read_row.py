"""The kill switch's read: one statement on the loop's thread, its own snapshot."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from langgraph.checkpoint.base import empty_checkpoint

from railgraph.checkpointers import RunRecord, SqliteCheckpointer
from railgraph.checkpointers._db import Database
from railgraph.checkpointers._leases import RunState
from railgraph.checkpointers._watch import CommitWatch
from railgraph.vocab import RunStatus
from tests.checkpointers.conftest import make_run


def run(run_id: str) -> RunRecord:
    return make_run(run_id, lease_owner="me")


async def test_a_status_another_process_commits_is_seen_at_the_next_read(
    saver: SqliteCheckpointer, db_path: Path
) -> None:
    store = saver.store
    await store.create_run(run("r1"))
    assert await store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    assert await store.run_state("nope") is None

    other = sqlite3.connect(db_path)  # another process's connection, as `railgraph cancel`
    with other:
        other.execute("UPDATE runs SET status = 'cancelled' WHERE run_id = 'r1'")
    other.close()

    assert await store.run_state("r1") == RunState(RunStatus.CANCELLED, "me")
    # The read left no transaction open: the next write on the same connection commits.
    await store.create_run(run("r2"))
    assert await store.run_state("r2") == RunState(RunStatus.RUNNING, "me")


# -- answered again without SQL while nobody commits (see `_watch`) -------------------------

_STATE_SQL = "SELECT status, lease_owner FROM runs WHERE run_id = 'r1'"


def _statements(saver: SqliteCheckpointer) -> list[str]:
    """The statements the inline connection runs from now on, as SQLite expands them."""
    db = saver.store._db
    assert isinstance(db, Database) and db.inline is not None
    ran: list[str] = []
    db.inline.conn.set_trace_callback(ran.append)
    return ran


async def _node_writes(saver: SqliteCheckpointer) -> None:
    """What the saver commits for a node: a checkpoint, then a task's writes against it."""
    config = await saver.aput(
        {"configurable": {"thread_id": "r1", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
    )
    await saver.aput_writes(config, [("counter", 1)], "task-1")


async def test_a_status_nobody_changed_is_answered_without_sql(
    saver: SqliteCheckpointer,
) -> None:
    await saver.store.create_run(run("r1"))
    ran = _statements(saver)
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    assert ran.count(_STATE_SQL) == 1
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    # The saver's own commits touch no run: the answer stays good across them.
    await _node_writes(saver)
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    assert ran.count(_STATE_SQL) == 1
    assert any(s.startswith("INSERT OR IGNORE INTO checkpoint_writes") for s in ran)


async def test_a_cancel_committed_before_our_own_write_is_still_seen(
    saver: SqliteCheckpointer, db_path: Path
) -> None:
    await saver.store.create_run(run("r1"))
    ran = _statements(saver)
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    other = sqlite3.connect(db_path)  # `railgraph cancel` in another process
    with other:
        other.execute("UPDATE runs SET status = 'cancelled' WHERE run_id = 'r1'")
    other.close()
    # Our next commit leaves the WAL index as a commit of ours does; it must not hide
    # that another connection committed before it.
    await _node_writes(saver)
    assert await saver.store.run_state("r1") == RunState(RunStatus.CANCELLED, "me")
    assert ran.count(_STATE_SQL) == 2


async def test_a_cancel_from_another_process_is_seen_at_the_next_read(
    saver: SqliteCheckpointer, db_path: Path
) -> None:
    await saver.store.create_run(run("r1"))
    ran = _statements(saver)
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    script = (
        "import sqlite3, sys\n"
        "with sqlite3.connect(sys.argv[1]) as conn:\n"
        "    conn.execute(\"UPDATE runs SET lease_owner = 'them' WHERE run_id = 'r1'\")\n"
    )
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script, str(db_path)], check=True
    )
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "them")
    assert ran.count(_STATE_SQL) == 2


async def test_a_write_of_the_run_store_is_read_again(saver: SqliteCheckpointer) -> None:
    await saver.store.create_run(run("r1"))
    ran = _statements(saver)
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    # Any write but the saver's may touch runs (this one only adds a run, but it is not
    # known not to): the next read asks SQLite.
    await saver.store.create_run(run("r2"))
    assert await saver.store.run_state("r1") == RunState(RunStatus.RUNNING, "me")
    assert ran.count(_STATE_SQL) == 2


def test_a_file_that_is_no_wal_index_is_not_watched(tmp_path: Path) -> None:
    assert CommitWatch.open(str(tmp_path / "none.db")) is None  # no -shm file
    (tmp_path / "zeros.db-shm").write_bytes(bytes(32768))
    assert CommitWatch.open(str(tmp_path / "zeros.db")) is None  # not SQLite's header
    (tmp_path / "short.db-shm").write_bytes(b"\x00" * 10)
    assert CommitWatch.open(str(tmp_path / "short.db")) is None


def test_every_commit_rewrites_the_header_and_reads_do_not(tmp_path: Path) -> None:
    # What the cache stands on, checked against the SQLite this runs with.
    path = str(tmp_path / "x.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    watch = CommitWatch.open(path)
    assert watch is not None
    try:
        before = watch.header()
        conn.execute("SELECT * FROM t").fetchall()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        assert watch.header() == before
        seen = {before}
        for value in range(3):
            conn.execute("INSERT INTO t VALUES (?)", (value,))
            seen.add(watch.header())
        assert len(seen) == 4
    finally:
        watch.close()
        conn.close()
