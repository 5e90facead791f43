"""A bounded WAL: cut back when it starts over, and copied into the database when idle."""

from __future__ import annotations

from pathlib import Path

from railgraph.checkpointers import RunRecord, SqliteCheckpointer
from railgraph.checkpointers._inline import JOURNAL_SIZE_LIMIT


def record(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        graph="g:graph",
        graph_name="g",
        signature="s",
        status="running",
        input={"text": "x" * 2_000},
        budget={},
        usage={},
        created_at=1.0,
        updated_at=1.0,
    )


async def test_both_connections_cut_the_wal_back_when_it_starts_over(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path) as saver:
        (row,) = await saver.conn.execute_fetchall("PRAGMA journal_size_limit")
        db = saver._db
        assert db.inline is not None
        inline = db.inline.conn.execute("PRAGMA journal_size_limit").fetchone()

    assert (row[0], inline[0], JOURNAL_SIZE_LIMIT) == (33_554_432, 33_554_432, 33_554_432)


async def test_an_idle_database_copies_its_wal_and_the_next_write_starts_it_over(
    db_path: Path,
) -> None:
    wal = db_path.with_name(db_path.name + "-wal")
    async with SqliteCheckpointer.from_path(db_path) as saver:
        db = saver._db
        for i in range(20):
            await saver.store.create_run(record(f"r{i}"))
        # Nothing has checkpointed yet: the WAL holds every frame written (header 32 bytes,
        # each frame 24 bytes and a page).
        grown = (wal.stat().st_size - 32) // (24 + 4096)
        # The write batch armed the idle timer; fire it as if no write came since.
        assert db._idle is not None
        db._idle.cancel()
        db._written = False
        db._idle_checkpoint()
        assert db._checkpointer is not None
        await db._checkpointer
        await saver.store.create_run(record("after"))
        # PASSIVE says how long the WAL now is, in frames.
        ((_busy, restarted, _copied),) = await saver.conn.execute_fetchall(
            "PRAGMA wal_checkpoint(PASSIVE)"
        )

    # 20 runs wrote dozens of frames; after the idle checkpoint the next write starts the
    # WAL over, from its first frame.
    assert grown > 40
    assert restarted < 10
