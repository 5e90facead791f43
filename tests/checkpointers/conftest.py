"""Fixtures for the checkpointer and run store tests: a settable clock, savers, checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint

from railgraph.checkpointers import RunRecord, SqliteCheckpointer
from railgraph.checkpointers._tx import fetchtuples
from tests.postgres_server import PostgresServer

MakeCheckpoint = Callable[[dict[str, Any], dict[str, str]], Checkpoint]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def set_time(clock: FakeClock) -> Callable[[float], None]:
    """Sets what the savers' clock reads from now on."""

    def set_time(now: float) -> None:
        clock.now = now

    return set_time


def checkpoint_with(values: dict[str, Any], versions: dict[str, str]) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = dict(versions)
    return checkpoint


@pytest.fixture
def make_checkpoint() -> MakeCheckpoint:
    """Builds a fresh checkpoint holding these channel values at these versions."""
    return checkpoint_with


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "railgraph.db"


BOTH_BACKENDS = "ON_BOTH_BACKENDS"
"""A test module that sets this name to `True` runs its tests that take `saver` (or `db`)
on each backend: a SQLite file and a PostgreSQL database of the test's own."""


SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
"""For a test of such a module that checks SQLite's own workings (its query plans, its file)."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not getattr(metafunc.module, BOTH_BACKENDS, False) or "backend" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        if mark.args and mark.args[0] == "backend":
            return  # the test chose its backends itself
    metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The engine the `saver` runs on: SQLite unless the module asks for both."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_store(
    postgres_server: PostgresServer,
) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    """One PostgreSQL database with railgraph's schema for the session, and a connection to it.

    Creating and migrating a database for each test would cost most of a second; emptying
    this one costs milliseconds (see `postgres_store_url`).
    """
    url = postgres_server.create_database("railgraph_store")

    async def create() -> None:
        async with SqliteCheckpointer.from_path(url):
            pass

    # On a thread of its own: no event loop may be running where asyncio.run is called.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
    with psycopg.connect(url, autocommit=True) as conn:
        yield url, conn


@pytest.fixture
def postgres_store_url(postgres_store: tuple[str, psycopg.Connection[Any]]) -> str:
    """The URL of the session's PostgreSQL store, emptied of every row for this test."""
    return emptied(postgres_store)


def emptied(postgres_store: tuple[str, psycopg.Connection[Any]]) -> str:
    """Delete every row of the session's PostgreSQL store; return its URL."""
    url, conn = postgres_store
    tables = conn.execute(
        "SELECT string_agg('railgraph.' || quote_ident(tablename), ', ') FROM pg_tables "
        "WHERE schemaname = 'railgraph' AND tablename != 'railgraph_schema'"
    ).fetchone()
    assert tables is not None
    conn.execute(f"TRUNCATE {tables[0]} RESTART IDENTITY")
    return url


@pytest.fixture
def db(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """Where the `saver` stores: a SQLite file, or an empty PostgreSQL store."""
    if backend == "postgresql":
        return str(request.getfixturevalue("postgres_store_url"))
    return str(db_path)


@pytest.fixture
async def saver(db: str, clock: FakeClock) -> AsyncIterator[SqliteCheckpointer]:
    """A checkpointer on a real WAL file (or on PostgreSQL, see `BOTH_BACKENDS`) that
    harvests events from the `events` channel."""
    async with SqliteCheckpointer.from_path(db, event_channel="events", clock=clock) as s:
        yield s


@pytest.fixture
async def memory_saver(
    backend: str, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[SqliteCheckpointer]:
    """A checkpointer in memory (or on an empty PostgreSQL store, see `BOTH_BACKENDS`)."""
    where = (
        str(request.getfixturevalue("postgres_store_url"))
        if backend == "postgresql"
        else ":memory:"
    )
    async with SqliteCheckpointer.from_path(where, clock=clock) as s:
        yield s


async def query(
    saver: SqliteCheckpointer, sql: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Rows of a query in SQLite's SQL, read in one transaction on either backend."""
    return await saver._db.read(fetchtuples(sql, params))


def make_run(run_id: str = "r1", **fields: Any) -> RunRecord:
    """A run record of the refund graph, `running`, created at 1.0; `fields` override."""
    values: dict[str, Any] = {
        "run_id": run_id,
        "graph": "railgraph.graphs.refund:graph",
        "graph_name": "refund",
        "signature": "sig-1",
        "status": "running",
        "input": {},
        "budget": {},
        "usage": {},
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    values.update(fields)
    return RunRecord(**values)
