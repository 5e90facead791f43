"""Reading a run store file on the calling thread: the store's own reads, with no event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from railgraph.checkpointers import SqliteCheckpointer, open_store
from railgraph.checkpointers._read_now import open_file_now, read_now
from railgraph.checkpointers._tx import fetchall
from railgraph.errors import StoreError
from tests.checkpointers.conftest import make_run
from tests.checkpointers.test_run_store import approval


async def _fill(db: Path) -> None:
    async with SqliteCheckpointer.from_path(db) as saver:
        store = saver.store
        await store.create_run(make_run("r1", created_at=1.0))
        await store.create_run(make_run("r2", created_at=2.0, status="paused"))
        started = {"kind": "node_started", "node": "a", "at": 2.5, "data": {}}
        await store.append_events("r2", [started])
        await store.add_approval(approval("q1", run_id="r2", created_at=3.0))
        await store.begin_effect("k1", run_id="r1", node="pay", tool="refund", args={"n": 1})
        await store.update_run("r1", status="failed", error="boom")


async def _read_on_a_loop(db: Path) -> list[Any]:
    async with open_store(db) as store:
        return [
            await store.list_runs(),
            await store.get_run("r2"),
            await store.list_events("r2"),
            await store.list_approvals(),
            await store.list_unknown_effects(),
        ]


def test_the_stores_reads_give_what_they_give_on_an_event_loop(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    asyncio.run(_fill(db))

    with open_file_now(db) as store:
        read = [
            read_now(store.list_runs()),
            read_now(store.get_run("r2")),
            read_now(store.list_events("r2")),
            read_now(store.list_approvals()),
            read_now(store.list_unknown_effects()),
        ]

    assert read == asyncio.run(_read_on_a_loop(db))
    runs, run, events, requests, unknown = read
    assert [(r.run_id, r.status, r.error) for r in runs] == [
        ("r2", "paused", None),
        ("r1", "failed", "boom"),
    ]
    assert run is not None and run.run_id == "r2"
    assert [(e.seq, e.kind, e.node) for e in events] == [(1, "node_started", "a")]
    assert [q.request_id for q in requests] == ["q1"]
    assert [(e.idempotency_key, e.status) for e in unknown] == [("k1", "started")]


def test_it_writes_nothing_and_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    asyncio.run(_fill(db))
    before = db.read_bytes()

    with open_file_now(db) as store, pytest.raises(StoreError) as refused:
        read_now(store.update_run("r1", status="completed"))

    assert str(refused.value) == (
        f"the railgraph database at {db} is open for reading only; open it with "
        "`open_store(path, read_only=False)` to change it."
    )
    assert db.read_bytes() == before
    with open_file_now(db) as store:
        unchanged = read_now(store.get_run("r1"))
    assert unchanged is not None and unchanged.status == "failed"


def test_a_missing_file_is_refused_as_open_store_refuses_it(tmp_path: Path) -> None:
    db = tmp_path / "none.db"

    async def on_a_loop() -> None:
        async with open_store(db):
            pass

    with pytest.raises(StoreError) as now, open_file_now(db):
        pass
    with pytest.raises(StoreError) as looped:
        asyncio.run(on_a_loop())

    assert str(now.value) == str(looped.value)
    assert str(now.value).startswith(f"no railgraph database at {db} (no file); nothing was")
    assert not db.exists()


def test_a_failed_statement_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    asyncio.run(_fill(db))

    with open_file_now(db) as store, pytest.raises(StoreError) as failed:
        read_now(store._db.read(fetchall("SELECT * FROM no_such_table")))

    assert str(failed.value) == (
        f"reading the railgraph database at {db} failed: no such table: no_such_table. Check "
        "that the file is readable and whole (`sqlite3 FILE 'PRAGMA integrity_check'`)."
    )
    assert isinstance(failed.value.__cause__, sqlite3.OperationalError)


def test_a_coroutine_that_waits_for_anything_else_is_refused_and_closed() -> None:
    async def sleeps() -> int:
        await asyncio.sleep(0)
        return 1

    waiting = sleeps()
    with pytest.raises(RuntimeError) as refused:
        read_now(waiting)

    assert str(refused.value) == (
        "read_now runs coroutines that only read through open_file_now's store; this one "
        "waited for something else: run it with asyncio.run instead."
    )
    assert waiting.cr_frame is None  # closed: it never runs on
