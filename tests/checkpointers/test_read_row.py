"""The kill switch's read: one statement on the loop's thread, its own snapshot."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from railgraph.checkpointers import RunRecord, SqliteCheckpointer
from railgraph.checkpointers._leases import RunState
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
