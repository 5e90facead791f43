"""Every change of a run's status is a compare-and-set; a lease says who drives a run."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from railgraph.checkpointers import Lease, RunRecord, SqliteCheckpointer
from railgraph.errors import RunCancelled

ON_BOTH_BACKENDS = True

A = Lease(owner="a", host="host-a", pid=10)
B = Lease(owner="b", host="host-b", pid=20)


def run(run_id: str = "r1", **changes: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "run_id": run_id,
        "graph": "railgraph.graphs.refund:graph",
        "graph_name": "refund",
        "signature": "sig-1",
        "status": "paused",
        "input": {},
        "budget": {},
        "usage": {},
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    return RunRecord(**{**fields, **changes})


def finished(kind: str) -> dict[str, Any]:
    return {"kind": kind, "node": None, "at": 5.0, "data": {}}


async def test_a_lease_is_held_by_one_owner_until_it_lapses(
    saver: SqliteCheckpointer, set_time: Callable[[float], None]
) -> None:
    store = saver.store
    set_time(100.0)
    await store.create_run(run())

    first = await store.acquire_lease("r1", A, ttl=30.0)
    set_time(129.0)
    refused = await store.acquire_lease("r1", B, ttl=30.0)
    again = await store.acquire_lease("r1", A, ttl=30.0)  # its own lease: renewed
    set_time(158.0)
    renewed = await store.renew_lease("r1", "a", ttl=30.0)
    set_time(188.0)
    taken = await store.acquire_lease("r1", B, ttl=30.0)  # lapsed at 188
    lost = await store.renew_lease("r1", "a", ttl=30.0)

    assert first.granted and again.granted and taken.granted
    assert not refused.granted
    assert (refused.record.lease_owner, refused.record.lease_expires_at) == ("a", 130.0)
    assert (first.record.status, first.record.lease_host, first.record.lease_pid) == (
        "running",
        "host-a",
        10,
    )
    assert renewed and not lost
    assert (taken.record.lease_owner, taken.record.heartbeat_at) == ("b", 188.0)


async def test_a_completion_never_overwrites_a_cancel(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.create_run(run())
    assert (await store.acquire_lease("r1", A, ttl=30.0)).granted
    cancelled, _, _ = await store.cancel_run("r1", by="ops", reason="stop", at=3.0)

    changed, after = await store.finish_drive(
        "r1",
        "a",
        status="completed",
        usage={"steps": 3},
        result={},
        error="",
        events=[finished("run_finished")],
    )
    events = await store.list_events("r1")

    assert cancelled and not changed
    assert (after.status, after.error, after.lease_owner) == (
        "cancelled",
        "cancelled by ops: stop",
        None,
    )
    assert [e.kind for e in events] == ["run_cancelled"]  # no run_finished


async def test_a_cancel_that_loses_to_a_completion_changes_nothing(
    saver: SqliteCheckpointer,
) -> None:
    store = saver.store
    await store.create_run(run())
    assert (await store.acquire_lease("r1", A, ttl=30.0)).granted
    changed, _ = await store.finish_drive(
        "r1", "a", status="completed", usage={}, result={"ok": True}, error="", events=[]
    )

    cancelled, after, unknown = await store.cancel_run("r1", by="ops", reason="stop", at=3.0)

    assert changed and not cancelled
    assert (after.status, after.result, unknown) == ("completed", {"ok": True}, [])
    assert await store.list_events("r1") == []


async def test_only_the_lease_holder_finishes_a_drive(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.create_run(run())
    assert (await store.acquire_lease("r1", A, ttl=30.0)).granted

    changed, after = await store.finish_drive(
        "r1", "b", status="failed", usage={}, result={}, error="boom", events=[]
    )

    assert not changed
    assert (after.status, after.lease_owner) == ("running", "a")


async def test_no_effect_starts_after_a_cancel(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.create_run(run())
    await store.cancel_run("r1", by="ops", reason="stop", at=3.0)

    with pytest.raises(RunCancelled, match=r"^run r1 was cancelled, so the call to tool 'refund'"):
        await store.begin_effect("k1", run_id="r1", node="n", tool="refund", args={})

    assert await store.list_effects("r1") == []


async def test_a_cancel_names_effects_made_and_effects_that_may_have_happened(
    saver: SqliteCheckpointer,
) -> None:
    store = saver.store
    await store.create_run(run(status="running"))
    await store.begin_effect("k1", run_id="r1", node="refund", tool="create_refund", args={})
    await store.complete_effect("k1", {"id": 1})
    await store.begin_effect("k2", run_id="r1", node="notify", tool="notify_customer", args={})

    cancelled, after, unknown = await store.cancel_run("r1", by="ops", reason="stop", at=3.0)
    [event] = await store.list_events("r1")

    assert cancelled
    assert after.error == (
        "cancelled by ops: stop; it had already made create_refund at node refund; "
        "notify_customer at node notify (key k2) had started and its outcome was unknown when "
        "the run was cancelled: it may have happened — check the target system before doing "
        "it again"
    )
    assert [e.idempotency_key for e in unknown] == ["k2"]
    assert event.data["unknown_effects"] == [
        {"tool": "notify_customer", "node": "notify", "idempotency_key": "k2", "args": {}}
    ]


async def test_an_ended_run_grants_no_lease(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.create_run(run(status="completed"))

    claim = await store.acquire_lease("r1", A, ttl=30.0)

    assert not claim.granted
    assert (claim.record.status, claim.record.lease_owner) == ("completed", None)


async def test_lease_columns_come_with_schema_4(db_path: Path) -> None:
    async with SqliteCheckpointer.from_path(db_path):
        pass

    with sqlite3.connect(db_path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert columns[-5:] == [
        "lease_owner",
        "lease_host",
        "lease_pid",
        "heartbeat_at",
        "lease_expires_at",
    ]


async def test_a_dead_drivers_lease_on_a_cancelled_run_is_cleared_once_it_lapses(
    saver: SqliteCheckpointer, set_time: Callable[[float], None]
) -> None:
    store = saver.store
    set_time(100.0)
    for run_id in ("cancelled", "driven"):
        await store.create_run(run(run_id))
    await store.acquire_lease("cancelled", A, ttl=30.0)  # its driver dies at once
    await store.acquire_lease("driven", B, ttl=30.0)
    # Cancelled from another host while the dead driver's lease is live: left to it.
    await store.cancel_run("cancelled", by="ops", reason="stuck", at=110.0)

    set_time(125.0)
    early = await store.release_void_leases(125.0)
    set_time(131.0)
    cleared = await store.release_void_leases(131.0)

    assert (early, cleared) == (0, 1)
    gone = await store.get_run("cancelled")
    assert gone is not None and gone.status == "cancelled"
    assert (gone.lease_owner, gone.lease_host, gone.lease_pid, gone.lease_expires_at) == (
        None,
        None,
        None,
        None,
    )
    # A running run's lapsed lease is the sweep's to hand over, not this one's to clear.
    kept = await store.get_run("driven")
    assert kept is not None and (kept.status, kept.lease_owner) == ("running", "b")
