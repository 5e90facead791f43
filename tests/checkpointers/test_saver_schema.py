"""Schema versions: fresh databases, upgrades, refusal of newer ones, reopening."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from railgraph.checkpointers import SCHEMA_VERSION, RunRecord, SqliteCheckpointer
from railgraph.checkpointers._open import open_database
from railgraph.checkpointers._schema import MIGRATIONS, migrate
from railgraph.errors import SchemaVersionError, StoreError
from tests.checkpointers.conftest import make_run

CHECKPOINT_TABLES = {"checkpoints", "checkpoint_blobs", "checkpoint_writes"}
SHARED_VALUES = {"checkpoint_values", "graph_specs"}
RUN_STORE_TABLES = {"runs", "run_events", "approvals", "tool_effects"}
USER_TABLES = {"users", "user_tokens", "user_sessions"}


def read_file(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute(sql)]


def tables(path: Path) -> set[str]:
    return {
        name for (name,) in read_file(path, "SELECT name FROM sqlite_master WHERE type='table'")
    }


async def pragma(saver: SqliteCheckpointer, name: str) -> Any:
    (row,) = await saver.conn.execute_fetchall(f"PRAGMA {name}")
    return row[0]


def run_record(run_id: str) -> RunRecord:
    return make_run(run_id, input={"ticket": "T-1"})


async def test_fresh_database_gets_current_version_and_pragmas(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path, synchronous="FULL") as saver:
        pragmas = {
            name: await pragma(saver, name)
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
                "wal_autocheckpoint",
            )
        }

    # 5: users; 6: events once, specs, indexes; 7: one key for checkpoints; 8: folded writes;
    # 9: the approval each effect re-send spent
    assert len(MIGRATIONS) == SCHEMA_VERSION == 9
    assert read_file(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert tables(db_path) == CHECKPOINT_TABLES | RUN_STORE_TABLES | SHARED_VALUES | USER_TABLES
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 30_000,
        "wal_autocheckpoint": 4_000,
    }


async def test_older_database_is_upgraded_and_keeps_its_data(db_path: Path) -> None:
    async with open_database(db_path, synchronous="NORMAL") as db:
        assert await migrate(db, MIGRATIONS[:1]) == 1
        old = SqliteCheckpointer(db)
        stored = await old.aput(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
        )
    assert read_file(db_path, "PRAGMA user_version") == [(1,)]
    assert tables(db_path) == CHECKPOINT_TABLES

    async with SqliteCheckpointer.from_path(db_path) as saver:
        found = await saver.aget_tuple(stored)
        await saver.store.create_run(run_record("t"))

    assert found is not None
    assert found.config == stored
    assert read_file(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert tables(db_path) == CHECKPOINT_TABLES | RUN_STORE_TABLES | SHARED_VALUES | USER_TABLES


async def test_a_schema_6_database_keeps_its_checkpoints_under_one_unique_key(
    db_path: Path,
) -> None:
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    older, newer = empty_checkpoint(), empty_checkpoint()
    async with open_database(db_path, synchronous="NORMAL") as db:
        assert await migrate(db, MIGRATIONS[:6]) == 6
        old = SqliteCheckpointer(db)
        first = await old.aput(config, older, {"step": 1}, {})
        second = await old.aput(first, newer, {"step": 2}, {})

    async with SqliteCheckpointer.from_path(db_path) as saver:
        listed = [t.config["configurable"]["checkpoint_id"] async for t in saver.alist(config)]
        # The same checkpoint stored again replaces its row, as under the old key.
        await saver.aput(first, newer, {"step": 3}, {})
        again = await saver.aget_tuple(second)

    assert listed == [newer["id"], older["id"]]
    assert again is not None and again.metadata == {"step": 3}
    assert read_file(db_path, "SELECT COUNT(*) FROM checkpoints") == [(2,)]
    assert read_file(
        db_path,
        "SELECT name FROM sqlite_master WHERE tbl_name = 'checkpoints' AND type = 'index' "
        "ORDER BY name",
    ) == [("checkpoints_by_run_id",), ("checkpoints_by_thread_and_id",)]


async def test_newer_database_is_refused(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(
        SchemaVersionError,
        match=re.escape(
            f"the railgraph database at {db_path} has schema version {SCHEMA_VERSION + 1}, but "
            f"this railgraph supports schema version {SCHEMA_VERSION} at most; upgrade railgraph "
            "(`pip install -U railgraph`) "
            "to open it."
        ),
    ):
        async with SqliteCheckpointer.from_path(db_path):
            pass
    assert read_file(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


async def test_failed_migration_leaves_the_previous_version(db_path: Path) -> None:
    broken = (*MIGRATIONS[:1], ("CREATE TABLE runs (run_id TEXT PRIMARY KEY)", "NOT SQL"))

    async with open_database(db_path, synchronous="NORMAL") as db:
        with pytest.raises(StoreError, match=r"syntax error"):
            await migrate(db, broken)

    assert read_file(db_path, "PRAGMA user_version") == [(0,)]
    assert tables(db_path) == set()


async def test_reopening_keeps_checkpoints_and_runs(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path) as saver:
        stored = await saver.aput(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
        )
        await saver.store.create_run(run_record("t"))

    async with SqliteCheckpointer.from_path(db_path) as saver:
        found = await saver.aget_tuple({"configurable": {"thread_id": "t"}})
        run = await saver.store.get_run("t")

    assert found is not None
    assert found.config == stored
    assert run == run_record("t")
    assert read_file(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_memory_database_and_bad_synchronous() -> None:
    async with SqliteCheckpointer.from_path(":memory:") as saver:
        assert await pragma(saver, "user_version") == SCHEMA_VERSION

    with pytest.raises(StoreError, match=r"synchronous must be 'NORMAL' or 'FULL', not 'OFF'"):
        async with SqliteCheckpointer.from_path(":memory:", synchronous="OFF"):  # type: ignore[arg-type]
            pass


async def test_closed_saver_raises_store_error(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path) as saver:
        pass

    with pytest.raises(StoreError, match=r"is still open"):
        await saver.aget_tuple({"configurable": {"thread_id": "t"}})
