"""A database fault (disk full, I/O error) interrupts a run; it never fails it.

The fault is injected where SQLite itself would raise it: every write statement from the
k-th on fails, as on a disk that stays full until someone frees space. The sweep puts the
fault at every write the refund agent makes, then frees the disk and resumes: each run
completes with every node finished once and every effect made exactly once.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from railgraph import Runner
from railgraph._lease import fault_of
from railgraph._report import path_of
from railgraph.checkpointers._tx import Statement
from railgraph.errors import RunInterrupted, StoreError, ToolError
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import make_graph

REF = "railgraph.graphs.refund:graph"
PATH = [
    "load_ticket",
    "classify",
    "by_intent",
    "lookup_invoice",
    "verify_invoice",
    "budget",
    "by_amount",
    "create_refund",
    "notify_customer",
]
FAULTS: dict[str, Callable[[], Exception]] = {
    "disk_full": lambda: sqlite3.OperationalError("database or disk is full"),
    "io_error": lambda: sqlite3.OperationalError("disk I/O error"),
    "enospc": lambda: OSError(errno.ENOSPC, "No space left on device"),
}


class Disk:
    """Counts write statements; from `fail_from` on, each one fails with `fault`."""

    def __init__(self) -> None:
        self.writes = 0
        self.fail_from: int | None = None
        self.fault: Callable[[], Exception] = FAULTS["disk_full"]
        self.once = False

    def free(self) -> None:
        self.fail_from = None


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    disk = Disk()
    original = Statement.run

    def run(self: Statement, conn: sqlite3.Connection) -> Any:
        if self.sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            disk.writes += 1
            if disk.fail_from is not None and disk.writes >= disk.fail_from:
                if disk.once:
                    disk.free()
                raise disk.fault()
        return original(self, conn)

    monkeypatch.setattr(Statement, "run", run)
    yield disk


async def history(runner: Runner, helpdesk: Helpdesk, run_id: str) -> dict[str, Any]:
    record = await runner.store.get_run(run_id)
    assert record is not None
    events = await runner.store.list_events(run_id)
    effects = await runner.store.list_effects(run_id)
    return {
        "status": record.status,
        "lease": record.lease_owner,
        "path": path_of(events),
        "failed_events": [e.kind for e in events if e.kind == "run_failed"],
        "effects": sorted((e.tool, e.status) for e in effects),
        "refunds": [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()],
        "notifications": [n["ticket_id"] for n in helpdesk.notifications()],
    }


async def clean_writes(tmp_path: Path, disk: Disk) -> int:
    helpdesk = Helpdesk(tmp_path / "clean" / "helpdesk.db")
    async with Runner.open(tmp_path / "clean" / "rg.db") as runner:
        before = disk.writes
        outcome = await runner.start(make_graph(helpdesk=helpdesk), {"ticket_id": "T-1001"})
        assert outcome.status == "completed"
        return disk.writes - before


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_fault_at_any_write_interrupts_the_run_and_resume_completes_it(
    tmp_path: Path, disk: Disk, fault: str
) -> None:
    total = await clean_writes(tmp_path, disk)
    assert total > 20
    disk.fault = FAULTS[fault]
    interrupted = 0
    for k in range(1, total + 1):
        where = tmp_path / f"k{k}"
        helpdesk = Helpdesk(where / "helpdesk.db")
        async with Runner.open(where / "rg.db") as runner:
            runner.register(REF, make_graph(helpdesk=helpdesk))
            disk.fail_from = disk.writes + k
            try:
                await runner.start(REF, {"ticket_id": "T-1001"}, run_id="r")
            except RunInterrupted as exc:
                interrupted += 1
                assert exc.run_id == "r"
                assert str(exc).startswith("run r was interrupted by a database fault (")
                assert str(exc).endswith("then run `railgraph resume r`")
            except StoreError as exc:
                # One of the first three writes (the run's record, its graph's spec, its
                # run_started event: one transaction) failed: there is no run at all.
                assert "already exists" not in str(exc)
                disk.free()
                assert await runner.store.get_run("r") is None
                assert helpdesk.refunds() == []
                continue
            disk.free()
            stopped = await runner.store.get_run("r")
            assert stopped is not None and stopped.status == "running"  # never failed

            done = await runner.resume("r")
            h = await history(runner, helpdesk, "r")

        assert done.status == "completed", (k, done)
        assert h == {
            "status": "completed",
            "lease": None,
            "path": PATH,
            "failed_events": [],
            "effects": [("create_refund", "completed"), ("notify_customer", "completed")],
            "refunds": [("T-1001", 42.5)],
            "notifications": ["T-1001"],
        }, k
    assert interrupted == total - 3


async def test_after_a_passing_fault_the_run_reads_interrupted_with_its_reason(
    tmp_path: Path, disk: Disk
) -> None:
    helpdesk = Helpdesk(tmp_path / "helpdesk.db")
    async with Runner.open(tmp_path / "rg.db") as runner:
        runner.register(REF, make_graph(helpdesk=helpdesk))
        disk.once = True  # an I/O error that passes: the runner can record why it stopped
        # the first checkpoint after the run: its record, its spec, its run_started event
        disk.fail_from = disk.writes + 4
        with pytest.raises(RunInterrupted):
            await runner.start(REF, {"ticket_id": "T-1001"}, run_id="r")
        record = await runner.store.get_run("r")
        refunds = helpdesk.refunds()

    assert record is not None
    assert (record.status, record.lease_owner) == ("running", None)
    assert record.error == (
        "run r was interrupted by a database fault (database or disk is full); it has not "
        "failed and nothing is lost: free disk space or fix the disk, then run "
        "`railgraph resume r`"
    )
    assert refunds == []


def test_only_the_stores_own_database_faults_interrupt_a_run() -> None:
    disk_full = sqlite3.OperationalError("database or disk is full")
    store = StoreError("the railgraph database failed")
    store.__cause__ = disk_full
    tool = ToolError("tool 'lookup' failed")  # a tool whose own database is full
    tool.__cause__ = sqlite3.OperationalError("database or disk is full")
    on_purpose = StoreError("tool effect 'k' already completed")

    assert fault_of(store) == "database or disk is full"
    assert fault_of(tool) is None
    assert fault_of(on_purpose) is None
