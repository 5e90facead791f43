"""Write transactions: all or nothing, even when cancelled, on the shared connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from checkpointers._db import Database, open_database
from checkpointers._schema import migrate
from railgraph.errors import StoreError


async def count_runs(db: Database) -> int:
    async with db.read() as tx:
        row = await tx.fetchone("SELECT COUNT(*) FROM runs")
    assert row is not None
    return int(row[0])


INSERT_RUN = (
    "INSERT INTO runs (run_id, graph, graph_name, signature, status, input, budget, usage, "
    "created_at, updated_at) VALUES (?, 'g', 'g', 's', 'running', '{}', '{}', '{}', 1, 1)"
)


@pytest.mark.parametrize("failure", [ValueError("boom"), asyncio.CancelledError()])
async def test_failed_write_rolls_back_and_the_connection_stays_usable(
    db_path: Path, failure: BaseException
) -> None:
    async with open_database(db_path, synchronous="NORMAL") as db:
        await migrate(db)
        with pytest.raises(type(failure)):
            async with db.write() as tx:
                await tx.execute(INSERT_RUN, ("half-done",))
                raise failure
        async with db.write() as tx:
            await tx.execute(INSERT_RUN, ("whole",))

        assert await count_runs(db) == 1
        assert db.conn.in_transaction is False


async def test_sqlite_errors_become_store_errors_and_roll_back(db_path: Path) -> None:
    async with open_database(db_path, synchronous="NORMAL") as db:
        await migrate(db)
        with pytest.raises(StoreError, match=r"UNIQUE constraint failed: runs.run_id"):
            async with db.write() as tx:
                await tx.execute(INSERT_RUN, ("dup",))
                await tx.execute(INSERT_RUN, ("dup",))

        assert await count_runs(db) == 0
