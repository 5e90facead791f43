"""The run store: runs, events, review requests and the tool-effect ledger."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from railgraph.checkpointers import (
    ApprovalRecord,
    EffectRecord,
    EventRecord,
    RunRecord,
    SqliteCheckpointer,
)
from railgraph.errors import DecisionError, RunBusy, RunCancelled, StoreError
from tests.checkpointers.conftest import SQLITE_ONLY, query

ON_BOTH_BACKENDS = True


def run(
    run_id: str,
    *,
    graph: str = "railgraph.graphs.refund:graph",
    created_at: float = 1.0,
    **changes: Any,
) -> RunRecord:
    fields: dict[str, Any] = {
        "run_id": run_id,
        "graph": graph,
        "graph_name": graph.split(":")[0].split(".")[-1],
        "signature": "sig-1",
        "status": "running",
        "input": {"ticket": "T-1"},
        "budget": {"tool_calls": 5},
        "usage": {},
        "started_by": "ann",
        "created_at": created_at,
        "updated_at": created_at,
    }
    return RunRecord(**{**fields, **changes})


def approval(
    request_id: str, *, run_id: str = "r1", created_at: float = 1.0, **changes: Any
) -> ApprovalRecord:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "run_id": run_id,
        "graph": "railgraph.graphs.refund:graph",
        "node": "approve_refund",
        "status": "pending",
        "request": {"action": "refund", "args": {"amount": 40}},
        "created_at": created_at,
    }
    return ApprovalRecord(**{**fields, **changes})


# -- runs ---------------------------------------------------------------------------------------


async def test_create_get_and_update_run(
    saver: SqliteCheckpointer, set_time: Callable[[float], None]
) -> None:
    store = saver.store
    await store.create_run(run("r1"))
    set_time(50.0)

    updated = await store.update_run(
        "r1", status="completed", usage={"tool_calls": 2}, result={"refund": "ok"}, error=None
    )
    only_status = await store.update_run("r1", status="failed", error="boom")

    assert updated == run(
        "r1", status="completed", usage={"tool_calls": 2}, result={"refund": "ok"}, updated_at=50.0
    )
    assert only_status == run(
        "r1",
        status="failed",
        usage={"tool_calls": 2},
        result={"refund": "ok"},
        error="boom",
        updated_at=50.0,
    )
    assert await store.get_run("r1") == only_status
    assert await store.get_run("nope") is None


async def test_run_errors(saver: SqliteCheckpointer) -> None:
    await saver.store.create_run(run("r1"))

    with pytest.raises(StoreError, match=re.escape("run 'r1' already exists; start the new run")):
        await saver.store.create_run(run("r1", graph="other"))
    with pytest.raises(
        StoreError, match=re.escape("no run 'r2'; list runs with `railgraph runs`.")
    ):
        await saver.store.update_run("r2", status="completed")
    with pytest.raises(
        StoreError, match=r"'done' is not a run status; use one of budget_exhausted"
    ):
        await saver.store.update_run("r1", status="done")  # type: ignore[arg-type]
    assert await saver.store.get_run("r1") == run("r1")


async def test_list_runs_newest_first_with_filters(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.create_run(run("a", created_at=1.0))
    await store.create_run(
        run("b", created_at=2.0, graph="railgraph.graphs.research:graph", status="paused")
    )
    await store.create_run(run("c", created_at=3.0, status="paused"))
    await store.create_run(run("d", created_at=4.0, graph="adhoc"))

    async def ids(**filters: Any) -> list[str]:
        return [r.run_id for r in await store.list_runs(**filters)]

    assert await ids() == ["d", "c", "b", "a"]
    assert await ids(limit=2) == ["d", "c"]
    assert await ids(status="paused") == ["c", "b"]
    assert await ids(graph="railgraph.graphs.refund:graph") == ["c", "a"]
    assert await ids(graph="research") == ["b"]  # by graph_name
    assert await ids(graph="refund", status="running") == ["a"]
    assert await ids(graph="nope") == []


# -- events ------------------------------------------------------------------------------------


async def test_append_and_list_events(saver: SqliteCheckpointer) -> None:
    store = saver.store
    first = await store.append_events(
        "r1",
        [
            {"kind": "run_started", "node": None, "at": 1.0, "data": {"by": "ann"}},
            {"kind": "approval_requested", "node": "approve", "at": 2, "data": {"id": "q1"}},
        ],
    )
    other = await store.append_events(
        "r2", [{"kind": "run_started", "node": None, "at": 3.0, "data": {}}]
    )
    second = await store.append_events(
        "r1", [{"kind": "run_finished", "node": None, "at": 4.0, "data": {}}]
    )

    assert first == [
        EventRecord(run_id="r1", seq=1, kind="run_started", node=None, at=1.0, data={"by": "ann"}),
        EventRecord(
            run_id="r1", seq=2, kind="approval_requested", node="approve", at=2.0, data={"id": "q1"}
        ),
    ]
    assert other == [
        EventRecord(run_id="r2", seq=1, kind="run_started", node=None, at=3.0, data={})
    ]
    assert second == [
        EventRecord(run_id="r1", seq=3, kind="run_finished", node=None, at=4.0, data={})
    ]
    assert await store.list_events("r1") == [*first, *second]
    assert await store.list_events("none") == []


async def test_append_events_refuses_malformed_events_atomically(saver: SqliteCheckpointer) -> None:
    with pytest.raises(
        StoreError, match=r"append_events for run 'r1': event 1 is malformed \(kind: Field required"
    ):
        await saver.store.append_events(
            "r1",
            [
                {"kind": "ok", "node": None, "at": 1.0, "data": {}},
                {"node": None, "at": 1.0, "data": {}},
            ],
        )
    assert await saver.store.list_events("r1") == []


# -- approvals ---------------------------------------------------------------------------------


async def test_add_get_and_list_approvals(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.add_approval(approval("q2", created_at=2.0, expires_at=100.0))
    await store.add_approval(approval("q1", created_at=1.0))
    await store.add_approval(
        approval("q3", created_at=3.0, run_id="r2", graph="railgraph.graphs.other:graph")
    )
    await store.add_approval(approval("q0", created_at=0.5, status="expired"))

    async def ids(**filters: Any) -> list[str]:
        return [a.request_id for a in await store.list_approvals(**filters)]

    assert await store.get_approval("q2") == approval("q2", created_at=2.0, expires_at=100.0)
    assert await store.get_approval("nope") is None
    assert await ids() == ["q1", "q2", "q3"]
    assert await ids(status=None) == ["q0", "q1", "q2", "q3"]
    assert await ids(status="expired") == ["q0"]
    assert await ids(run_id="r2") == ["q3"]
    assert await ids(graph="railgraph.graphs.refund:graph") == ["q1", "q2"]
    with pytest.raises(StoreError, match=re.escape("review request 'q1' already exists")):
        await store.add_approval(approval("q1"))


async def test_decide_approval_once(
    saver: SqliteCheckpointer, set_time: Callable[[float], None]
) -> None:
    store = saver.store
    await store.add_approval(approval("q1"))
    set_time(1_700_000_100.0)

    decided = await store.decide_approval(
        "q1", status="edited", decision={"args": {"amount": 30}}, decided_by="bob"
    )

    assert decided == approval(
        "q1",
        status="edited",
        decision={"args": {"amount": 30}},
        decided_by="bob",
        decided_at=1_700_000_100.0,
    )
    with pytest.raises(
        DecisionError,
        match=re.escape(
            "review request 'q1' was already edited by bob at 2023-11-14T22:15:00+00:00; "
            "a request can be decided only once."
        ),
    ):
        await store.decide_approval("q1", status="approved", decision={}, decided_by="eve")
    with pytest.raises(
        DecisionError,
        match=re.escape("no review request 'q9'; list them with `railgraph pending`."),
    ):
        await store.decide_approval("q9", status="approved", decision={}, decided_by="eve")
    with pytest.raises(DecisionError, match=r"'pending' is not a decision; use one of approved"):
        await store.decide_approval("q1", status="pending", decision={}, decided_by="eve")
    assert await store.get_approval("q1") == decided


async def test_concurrent_decisions_exactly_one_wins(saver: SqliteCheckpointer) -> None:
    await saver.store.add_approval(approval("q1"))

    outcomes = await asyncio.gather(
        *(
            saver.store.decide_approval("q1", status="approved", decision={}, decided_by=who)
            for who in ("ann", "bob", "cy")
        ),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if isinstance(o, ApprovalRecord)]
    losers = [o for o in outcomes if isinstance(o, DecisionError)]
    assert (len(winners), len(losers)) == (1, 2)
    assert (await saver.store.get_approval("q1")) == winners[0]


@SQLITE_ONLY
async def test_pending_approvals_use_the_status_index_across_10000_runs(
    saver: SqliteCheckpointer,
) -> None:
    rows = [
        (
            f"q{i:05}",
            f"r{i:05}",
            "railgraph.graphs.refund:graph",
            "approve",
            "pending" if i % 1000 == 0 else "approved",
            "{}",
            float(i),
        )
        for i in range(10_000)
    ]
    await saver.conn.executemany(
        "INSERT INTO approvals (request_id, run_id, graph, node, status, request, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    statements: list[str] = []
    await saver.conn.set_trace_callback(statements.append)
    pending = await saver.store.list_approvals()
    await saver.conn.set_trace_callback(None)  # type: ignore[arg-type]  # None removes it

    query = next(s for s in statements if s.startswith("SELECT"))
    plan = " ".join(
        row[3] for row in await saver.conn.execute_fetchall(f"EXPLAIN QUERY PLAN {query}")
    )
    assert [a.request_id for a in pending] == [f"q{i:05}" for i in range(0, 10_000, 1000)]
    assert plan == "SEARCH approvals USING INDEX approvals_by_status (status=?)"


# -- tool-effect ledger ------------------------------------------------------------------------


async def test_effect_ledger(saver: SqliteCheckpointer, set_time: Callable[[float], None]) -> None:
    store = saver.store
    set_time(10.0)
    assert (
        await store.begin_effect("k1", run_id="r1", node="pay", tool="refund", args={"amount": 40})
        is None
    )
    set_time(11.0)
    assert await store.begin_effect("k2", run_id="r1", node="mail", tool="email", args={}) is None
    set_time(12.0)
    again = await store.begin_effect(
        "k1", run_id="r1", node="pay", tool="refund", args={"amount": 40}
    )
    started = EffectRecord(
        idempotency_key="k1",
        run_id="r1",
        node="pay",
        tool="refund",
        args={"amount": 40},
        status="started",
        started_at=10.0,
    )
    assert again == started

    set_time(13.0)
    await store.fail_effect("k2", "smtp down")
    set_time(14.0)
    await store.complete_effect("k2", {"sent": True})
    await store.complete_effect("k1", {"refund_id": "RF-1"})

    assert await store.get_effect("k1") == started.model_copy(
        update={"status": "completed", "result": {"refund_id": "RF-1"}, "finished_at": 14.0}
    )
    assert await store.begin_effect("k1", run_id="r1", node="pay", tool="refund", args={}) == (
        await store.get_effect("k1")
    )
    assert [
        (e.idempotency_key, e.status, e.result, e.error) for e in await store.list_effects("r1")
    ] == [
        ("k1", "completed", {"refund_id": "RF-1"}, None),
        ("k2", "completed", {"sent": True}, None),
    ]
    assert await store.list_effects("r2") == []
    assert await store.get_effect("k9") is None


async def test_one_approval_claims_one_resend(
    saver: SqliteCheckpointer, set_time: Callable[[float], None]
) -> None:
    """A re-send is claimed for one question of one node task: that question and the ones
    before it are spent; a later question, or another task's, claims anew."""
    store = saver.store
    set_time(10.0)
    await store.begin_effect("k1", run_id="r1", node="pay", tool="refund", args={"amount": 40})
    await store.fail_effect("k1", "connection reset")
    set_time(11.0)

    assert await store.resend_effect("k1", task="pay:t1", question=1) is True
    effect = await store.get_effect("k1")
    assert effect is not None
    # Started again (its outcome is unknown until recorded), as first claimed.
    assert (
        effect.status,
        effect.error,
        effect.started_at,
        effect.finished_at,
        effect.resent_task,
        effect.resent_question,
    ) == ("started", None, 10.0, None, "pay:t1", 1)
    assert await store.resend_effect("k1", task="pay:t1", question=1) is False
    assert await store.resend_effect("k1", task="pay:t1", question=2) is True
    assert await store.resend_effect("k1", task="pay:t1", question=1) is False
    assert await store.resend_effect("k1", task="pay:t1", question=2) is False
    assert await store.resend_effect("k1", task="pay:t2", question=1) is True
    effect = await store.get_effect("k1")
    assert effect is not None
    assert (effect.resent_task, effect.resent_question) == ("pay:t2", 1)

    await store.complete_effect("k1", {"refund_id": "RF-1"})
    with pytest.raises(StoreError) as done:
        await store.resend_effect("k1", task="pay:t2", question=2)
    assert str(done.value) == (
        "tool effect 'k1' already completed at 1970-01-01T00:00:11+00:00; its result is final, "
        "so resume the run to reuse it instead of sending the call again."
    )
    with pytest.raises(StoreError) as unknown:
        await store.resend_effect("k9", task="pay:t1", question=1)
    assert str(unknown.value) == "no tool effect with key 'k9'; call `begin_effect` first."
    effect = await store.get_effect("k1")
    assert effect is not None
    assert (effect.status, effect.result) == ("completed", {"refund_id": "RF-1"})


async def test_an_effect_claim_checks_the_run_in_its_own_statement(
    saver: SqliteCheckpointer,
) -> None:
    store = saver.store
    await store.create_run(run("mine", lease_owner="me"))
    await store.create_run(run("taken", lease_owner="them"))
    await store.create_run(run("unowned"))
    await store.create_run(run("parked", status="paused", lease_owner="them"))
    await store.create_run(run("stopped", status="cancelled", lease_owner="me"))

    # The driver's own run, a run with no record, and one whose status is not `running`
    # (nobody drives it now) are claimed; without a driver, no lease is asked about.
    for run_id, driver in [("mine", "me"), ("nope", "me"), ("parked", "me"), ("taken", None)]:
        claimed = await store.begin_effect(
            f"k-{run_id}", run_id=run_id, node="pay", tool="refund", args={}, driver=driver
        )
        assert claimed is None, run_id
    with pytest.raises(
        RunBusy,
        match=re.escape(
            "run taken is no longer driven by this runner (its lease is held by them), so the "
            "call to tool 'refund' was not made; the holder drives it on (see `railgraph show "
            "taken`)"
        )
        + "$",
    ):
        await store.begin_effect(
            "k-t2", run_id="taken", node="pay", tool="refund", args={}, driver="me"
        )
    with pytest.raises(
        RunBusy,
        match=re.escape(
            "run unowned is no longer driven by this runner (its lease is held by nobody)"
        ),
    ):
        await store.begin_effect(
            "k-u", run_id="unowned", node="pay", tool="refund", args={}, driver="me"
        )
    # A cancel is refused whoever asks, and a known key does not get past it.
    await store.create_run(run("stopped2", status="cancelled", lease_owner="me"))
    for key, run_id, driver in [
        ("k-s", "stopped", "me"),
        ("k-s", "stopped", None),
        ("k-mine", "stopped2", "me"),
    ]:
        with pytest.raises(
            RunCancelled,
            match=re.escape(
                f"run {run_id} was cancelled, so the call to tool 'refund' was not made"
            ),
        ):
            await store.begin_effect(
                key, run_id=run_id, node="pay", tool="refund", args={}, driver=driver
            )
    assert sorted(e.idempotency_key for e in await store.list_effects("taken")) == ["k-taken"]
    assert await store.list_effects("unowned") == []
    assert await store.list_effects("stopped") == []
    assert [e.idempotency_key for e in await store.list_effects("mine")] == ["k-mine"]
    # A known key is returned as it is stored, with the run still the driver's.
    known = await store.begin_effect(
        "k-mine", run_id="mine", node="pay", tool="refund", args={}, driver="me"
    )
    assert known is not None
    assert (known.idempotency_key, known.status, known.run_id) == ("k-mine", "started", "mine")


async def test_effect_ledger_errors(saver: SqliteCheckpointer) -> None:
    store = saver.store
    await store.begin_effect("k1", run_id="r1", node="pay", tool="refund", args={})
    await store.complete_effect("k1", "done")

    with pytest.raises(
        StoreError,
        match=re.escape("tool effect 'k1' already completed at 2023-11-14T22:13:20+00:00"),
    ):
        await store.complete_effect("k1", "again")
    with pytest.raises(StoreError, match=re.escape("tool effect 'k1' already completed")):
        await store.fail_effect("k1", "late failure")
    with pytest.raises(
        StoreError, match=re.escape("no tool effect with key 'k9'; call `begin_effect` first.")
    ):
        await store.complete_effect("k9", None)
    effect = await store.get_effect("k1")
    assert effect is not None
    assert (effect.status, effect.result, effect.error) == ("completed", "done", None)


async def test_a_spec_is_stored_once_per_signature_and_reads_back_with_each_run(
    saver: SqliteCheckpointer,
) -> None:
    spec = {"name": "refund", "nodes": [{"id": "a"}], "edges": []}

    def started(n: int) -> dict[str, Any]:
        data = {"input": {"n": n}, "budget": {}, "spec": spec}
        return {"kind": "run_started", "node": None, "at": 1.0, "data": data}

    for run_id in ("r1", "r2"):
        await saver.store.create_run(run(run_id), events=[started(int(run_id[1]))])
    # A run_started event as older railgraph stored it: the whole spec inside.
    await saver.store.create_run(run("old"))
    await saver.store.append_events("old", [started(0)])
    with pytest.raises(StoreError, match=r"^run 'r1' already exists"):
        await saver.store.create_run(run("r1"), events=[started(9)])

    stored = await query(saver, "SELECT signature, spec FROM graph_specs")
    raw = await query(
        saver, "SELECT run_id, data FROM run_events WHERE run_id != 'old' ORDER BY run_id"
    )
    assert [tuple(r) for r in stored] == [
        ("sig-1", '{"name":"refund","nodes":[{"id":"a"}],"edges":[]}')
    ]
    assert [tuple(r) for r in raw] == [
        ("r1", '{"input":{"n":1},"budget":{},"spec_signature":"sig-1"}'),
        ("r2", '{"input":{"n":2},"budget":{},"spec_signature":"sig-1"}'),
    ]
    for run_id, n in (("r1", 1), ("r2", 2), ("old", 0)):
        assert await saver.store.list_events(run_id) == [
            EventRecord(
                run_id=run_id,
                seq=1,
                kind="run_started",
                node=None,
                at=1.0,
                data={"input": {"n": n}, "budget": {}, "spec": spec},
            )
        ]
