"""Write transactions: all or nothing, even when cancelled, on the shared connections.

Each test runs every way a `Database` can run a write: inline on the event
loop's thread, as one call in aiosqlite's worker thread, and as one public
aiosqlite call per statement. Every write here is short (see `Database.write`),
so it runs inline wherever the database has an inline connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from railgraph.checkpointers._db import Database, _worker_hook
from railgraph.checkpointers._open import open_database
from railgraph.checkpointers._schema import migrate
from railgraph.checkpointers._tx import Body, execute, fetchone
from railgraph.errors import StoreError

INSERT_RUN = (
    "INSERT INTO runs (run_id, graph, graph_name, signature, status, input, budget, usage, "
    "created_at, updated_at) VALUES (?, 'g', 'g', 's', 'running', '{}', '{}', '{}', 1, 1)"
)


@pytest.fixture(params=["inline", "one trip", "call per statement"])
async def db(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Database]:
    one_trip, inline = request.param != "call per statement", request.param == "inline"
    async with open_database(db_path, synchronous="NORMAL", one_trip=one_trip, inline=inline) as db:
        assert (db.one_trip, db.inline is not None) == (one_trip, inline)
        await migrate(db)
        yield db


async def write(db: Database, body: Body[Any]) -> Any:
    return await db.write(body, short=True)


def assert_no_transaction(db: Database) -> None:
    assert db.conn.in_transaction is False
    assert db.inline is None or db.inline.conn.in_transaction is False


async def trace(db: Database, callback: Callable[[str], object] | None) -> None:
    """Trace the statements of the connection that `db`'s short writes run on."""
    if db.inline is not None:
        db.inline.conn.set_trace_callback(callback)
    else:
        await db.conn.set_trace_callback(callback)  # type: ignore[arg-type]  # None removes it


async def count_runs(db: Database) -> int:
    row = await db.read(fetchone("SELECT COUNT(*) FROM runs"))
    assert row is not None
    return int(row[0])


def insert_runs(*run_ids: str, then: BaseException | None = None) -> Body[None]:
    for run_id in run_ids:
        yield from execute(INSERT_RUN, (run_id,))
    if then is not None:
        raise then


async def test_a_body_failing_half_way_rolls_back_and_the_connection_stays_usable(
    db: Database,
) -> None:
    with pytest.raises(ValueError, match="boom"):
        await write(db, insert_runs("half-done", then=ValueError("boom")))
    await write(db, insert_runs("whole"))

    assert await count_runs(db) == 1
    assert_no_transaction(db)


async def test_a_cancelled_write_is_all_or_nothing(db: Database) -> None:
    # Cancel while the transaction is queued or running: either every row lands or none.
    task = asyncio.create_task(write(db, insert_runs(*(f"r{i}" for i in range(50)))))
    await asyncio.sleep(0)
    # Inline, with nothing else running, the write ran whole within its first step.
    assert task.cancel() == (db.inline is None)
    if db.inline is None:
        with pytest.raises(asyncio.CancelledError):
            await task
    await write(db, insert_runs("after"))

    assert await count_runs(db) in (1, 51)
    assert_no_transaction(db)


async def test_sqlite_errors_become_store_errors_and_roll_back(db: Database) -> None:
    with pytest.raises(StoreError, match=r"UNIQUE constraint failed: runs.run_id"):
        await write(db, insert_runs("dup", "dup"))

    assert await count_runs(db) == 0
    assert_no_transaction(db)


async def test_a_write_with_statements_runs_as_one_trip_or_one_call_each(db: Database) -> None:
    statements: list[str] = []
    await trace(db, statements.append)
    await write(db, insert_runs("a", "b"))
    await trace(db, None)

    assert [s.split(" (")[0] for s in statements] == [
        "BEGIN IMMEDIATE",
        "INSERT INTO runs",
        "INSERT INTO runs",
        "COMMIT",
    ]


def test_without_aiosqlites_private_hook_the_database_uses_public_calls() -> None:
    class WithoutHook:
        """Stands for an aiosqlite release without `_execute`."""

    broken: Any = WithoutHook()
    assert _worker_hook(broken) is None


async def traced(
    db: Database, *writes: Body[None], held: bool = False
) -> tuple[list[Any], list[str]]:
    """Run `writes` concurrently; with `held`, they all wait for the lock first."""
    statements: list[str] = []
    await trace(db, statements.append)
    try:
        if held:
            async with db.lock:
                tasks = [asyncio.create_task(write(db, w)) for w in writes]
                await asyncio.sleep(0)  # each write is queued behind the lock
            done = await asyncio.gather(*tasks, return_exceptions=True)
        else:
            done = await asyncio.gather(*(write(db, w) for w in writes), return_exceptions=True)
    finally:
        await trace(db, None)
    return done, [s.split(" (")[0] for s in statements]


async def test_a_short_write_with_nothing_waiting_runs_inline_within_the_call(
    db: Database,
) -> None:
    done, statements = await traced(db, insert_runs("a"), insert_runs("b"))

    assert done == [None, None]
    alone = ["BEGIN IMMEDIATE", "INSERT INTO runs", "COMMIT"] * 2
    if db.inline is not None:
        # Each committed alone, as soon as it was made; not batched with the next.
        assert statements == alone
    elif db.one_trip:
        # In the worker thread, both were waiting for the trip, and took it together.
        assert statements == [
            "BEGIN IMMEDIATE",
            "SAVEPOINT body",
            "INSERT INTO runs",
            "RELEASE body",
            "SAVEPOINT body",
            "INSERT INTO runs",
            "RELEASE body",
            "COMMIT",
        ]
    else:
        assert statements == alone
    assert await count_runs(db) == 2


async def test_writes_waiting_together_commit_together(db: Database) -> None:
    done, statements = await traced(db, insert_runs("a"), insert_runs("b"), held=True)

    assert done == [None, None]
    if db.one_trip:
        assert statements == [
            "BEGIN IMMEDIATE",
            "SAVEPOINT body",
            "INSERT INTO runs",
            "RELEASE body",
            "SAVEPOINT body",
            "INSERT INTO runs",
            "RELEASE body",
            "COMMIT",
        ]
    else:
        assert statements == ["BEGIN IMMEDIATE", "INSERT INTO runs", "COMMIT"] * 2
    assert await count_runs(db) == 2


async def test_a_failing_write_in_a_batch_fails_alone(db: Database) -> None:
    done, _ = await traced(
        db,
        insert_runs("a"),
        insert_runs("dup", "dup"),
        insert_runs("c", then=ValueError("c")),
        held=True,
    )

    assert done[0] is None
    assert isinstance(done[1], StoreError)
    assert "UNIQUE constraint failed: runs.run_id" in str(done[1])
    assert isinstance(done[2], ValueError)
    assert await count_runs(db) == 1  # only "a": "dup" and "c" are undone
    assert_no_transaction(db)


async def test_a_write_cancelled_before_its_transaction_starts_is_not_applied(
    db: Database,
) -> None:
    async with db.lock:
        task = asyncio.create_task(write(db, insert_runs("never")))
        await asyncio.sleep(0)  # the write is queued, its transaction not begun
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await write(db, insert_runs("after"))

    assert await count_runs(db) == 1
