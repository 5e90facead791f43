"""LangGraph's checkpointer conformance suite, every capability, every way of running SQL."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.checkpointers._open import open_database
from railgraph.checkpointers._schema import migrate
from tests.checkpointers.conftest import emptied

ALL_CAPABILITIES = {
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
}


@checkpointer_test(name="SqliteCheckpointer")
async def sqlite_checkpointer() -> AsyncIterator[SqliteCheckpointer]:
    async with SqliteCheckpointer.from_path(":memory:") as saver:
        yield saver


@checkpointer_test(name="SqliteCheckpointer on a file, short writes inline")
async def sqlite_checkpointer_on_a_file() -> AsyncIterator[SqliteCheckpointer]:
    # A file, unlike ":memory:", gets the second connection that short writes run on.
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteCheckpointer.from_path(Path(tmp) / "railgraph.db") as saver:
            assert saver._db.inline is not None
            yield saver


@checkpointer_test(name="SqliteCheckpointer, one aiosqlite call per statement")
async def sqlite_checkpointer_call_per_statement() -> AsyncIterator[SqliteCheckpointer]:
    # How the saver runs when aiosqlite lacks the private hook for one-trip transactions.
    async with open_database(":memory:", synchronous="NORMAL", one_trip=False) as db:
        await migrate(db)
        yield SqliteCheckpointer(db)


@pytest.mark.parametrize(
    "factory",
    [sqlite_checkpointer, sqlite_checkpointer_on_a_file, sqlite_checkpointer_call_per_statement],
    ids=["one trip", "inline", "call per statement"],
)
async def test_conformance_all_eight_capabilities_pass(factory: Any) -> None:
    report = await validate(factory)

    assert {name: r.failures for name, r in report.results.items()} == {
        name: [] for name in ALL_CAPABILITIES
    }
    assert {name: (r.detected, r.passed, r.tests_failed) for name, r in report.results.items()} == {
        name: (True, True, 0) for name in ALL_CAPABILITIES
    }
    assert all(r.tests_passed > 0 for r in report.results.values())
    assert report.conformance_level() == "FULL"


async def test_conformance_all_eight_capabilities_pass_on_postgresql(
    postgres_store: tuple[str, psycopg.Connection[Any]],
) -> None:
    @checkpointer_test(name="SqliteCheckpointer on PostgreSQL")
    async def postgres_checkpointer() -> AsyncIterator[SqliteCheckpointer]:
        # An empty store each time, as ":memory:" is for SQLite.
        async with SqliteCheckpointer.from_path(emptied(postgres_store)) as saver:
            assert saver._db.engine == "postgresql"
            yield saver

    report = await validate(postgres_checkpointer)

    assert {name: r.failures for name, r in report.results.items()} == {
        name: [] for name in ALL_CAPABILITIES
    }
    assert {name: (r.detected, r.passed, r.tests_failed) for name, r in report.results.items()} == {
        name: (True, True, 0) for name in ALL_CAPABILITIES
    }
    assert all(r.tests_passed > 0 for r in report.results.values())
    assert report.conformance_level() == "FULL"
