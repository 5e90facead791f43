"""A tool node's completed effect commits with the node's writes, not in a transaction of
its own; until that commit it is `started` (unknown), as after a crash."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from railgraph.checkpointers import RunRecord, SqliteCheckpointer
from railgraph.errors import StoreError
from tests.checkpointers.conftest import make_run


def run(run_id: str = "r1") -> RunRecord:
    return make_run(run_id)


def stored_status(db: Path, key: str) -> str:
    """The effect's status as another connection (another process) sees it."""
    conn = sqlite3.connect(db)
    try:
        (status,) = conn.execute(
            "SELECT status FROM tool_effects WHERE idempotency_key = ?", (key,)
        ).fetchone()
    finally:
        conn.close()
    return str(status)


async def test_the_completion_waits_for_the_next_write_and_commits_in_it(
    saver: SqliteCheckpointer, db_path: Path
) -> None:
    store = saver.store
    await store.create_run(run())
    await store.begin_effect("k1", run_id="r1", node="pay", tool="pay", args={"amount": 5})
    inline = saver._db.inline
    assert inline is not None
    commits = inline.commits

    await store.complete_effect_with_next_write("k1", "r1", {"ok": True})
    for _ in range(5):
        await asyncio.sleep(0)  # turns of the loop start no transaction for it

    assert (stored_status(db_path, "k1"), inline.commits) == ("started", commits)

    await store.append_events("r1", [{"kind": "x", "node": "pay", "at": 2.0, "data": {}}])

    # One transaction stored both: the completion rode with the write that followed it.
    assert (stored_status(db_path, "k1"), inline.commits) == ("completed", commits + 1)
    effect = await store.get_effect("k1")
    assert effect is not None
    assert (effect.status, effect.result) == ("completed", {"ok": True})


async def test_closing_commits_a_completion_no_write_followed(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path) as saver:
        await saver.store.create_run(run())
        await saver.store.begin_effect("k1", run_id="r1", node="pay", tool="pay", args={})
        await saver.store.complete_effect_with_next_write("k1", "r1", {"ok": True})

    assert stored_status(db_path, "k1") == "completed"


async def test_a_completion_that_fails_to_record_stops_the_runs_next_effect(
    saver: SqliteCheckpointer,
) -> None:
    store = saver.store
    await store.create_run(run())
    await store.create_run(run("r2"))
    await store.begin_effect("k1", run_id="r1", node="pay", tool="pay", args={})
    await store.complete_effect("k1", {"ok": True})

    # Completing it again would mean it ran twice: the queued record fails in its write.
    await store.complete_effect_with_next_write("k1", "r1", {"ok": True})
    await store.append_events("r1", [{"kind": "x", "node": "pay", "at": 2.0, "data": {}}])

    # Another run is not stopped by it; this run's next effect is, and nothing is claimed.
    await store.begin_effect("k3", run_id="r2", node="pay", tool="pay", args={})
    with pytest.raises(StoreError, match=r"^run r1: recording a completed tool effect failed"):
        await store.begin_effect("k2", run_id="r1", node="pay", tool="pay", args={})
    assert [e.idempotency_key for e in await store.list_effects("r1")] == ["k1"]
    store.raise_unrecorded("r1")  # raised once: the run's driver has stopped it
