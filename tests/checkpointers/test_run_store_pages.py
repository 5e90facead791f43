"""Runs and review requests listed a page at a time, through indexes in their order."""

from __future__ import annotations

from typing import Any

from railgraph.checkpointers import ApprovalRecord, RunRecord, SqliteCheckpointer
from tests.checkpointers.conftest import SQLITE_ONLY, make_run

ON_BOTH_BACKENDS = True


def run(
    run_id: str, created_at: float, *, graph: str = "railgraph.graphs.refund:graph"
) -> RunRecord:
    name = graph.split(":")[0].split(".")[-1]
    return make_run(
        run_id, graph=graph, graph_name=name, signature="s", status="paused",
        created_at=created_at, updated_at=created_at,
    )  # fmt: skip


def request(request_id: str, created_at: float, expires_at: float | None) -> ApprovalRecord:
    return ApprovalRecord(
        request_id=request_id,
        run_id="r",
        graph="railgraph.graphs.refund:graph",
        node="approve",
        status="pending",
        request={"graph": "refund"},
        created_at=created_at,
        expires_at=expires_at,
    )


async def plans(saver: SqliteCheckpointer, statements: list[str]) -> list[str]:
    found = []
    for query in statements:
        if query.lstrip().startswith("SELECT"):
            rows = await saver.conn.execute_fetchall(f"EXPLAIN QUERY PLAN {query}")
            found.append(" | ".join(row[3] for row in rows))
    return found


async def traced(saver: SqliteCheckpointer, call: Any) -> tuple[Any, list[str]]:
    statements: list[str] = []
    await saver.conn.set_trace_callback(statements.append)
    try:
        result = await call
    finally:
        await saver.conn.set_trace_callback(None)  # type: ignore[arg-type]  # None removes it
    return result, await plans(saver, statements)


async def test_runs_page_by_cursor_newest_first_ties_in_insertion_order(
    saver: SqliteCheckpointer,
) -> None:
    # Times with ties; the module:attribute of one graph and an older copy under its name.
    times = [1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 4.0]
    for i, at in enumerate(times):
        graph = "railgraph.graphs.refund:graph" if i % 3 else "old.refund:graph"
        await saver.store.create_run(run(f"r{i}", at, graph=graph))
    await saver.store.create_run(run("other", 5.0, graph="railgraph.graphs.research:graph"))

    pages: list[list[str]] = []
    before: str | None = None
    while True:
        page = await saver.store.list_runs(graph="refund", limit=3, before=before)
        if not page:
            break
        pages.append([r.run_id for r in page])
        before = page[-1].run_id
    everything = await saver.store.list_runs(graph="refund", limit=None)

    assert pages == [["r6", "r5", "r4"], ["r3", "r2", "r1"], ["r0"]]
    assert [r.run_id for r in everything] == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    by_ref = await saver.store.list_runs(
        graph="railgraph.graphs.refund:graph", limit=2, before="r5"
    )
    assert [r.run_id for r in by_ref] == ["r4", "r2"]


@SQLITE_ONLY
async def test_a_page_of_runs_of_a_graph_reads_its_indexes_in_order(
    saver: SqliteCheckpointer,
) -> None:
    await saver.store.create_run(run("r0", 1.0))

    _, found = await traced(saver, saver.store.list_runs(graph="refund", limit=20, before="r0"))

    # No sort of all the graph's runs: each half reads its index backwards, from the cursor.
    assert found == [
        "SEARCH runs USING INDEX runs_by_graph (graph=? AND created_at<?) | "
        "SCALAR SUBQUERY 1 | SEARCH runs USING INDEX sqlite_autoindex_runs_1 (run_id=?) | "
        "REUSE SUBQUERY 1",
        "SEARCH runs USING INDEX runs_by_graph_name (graph_name=? AND created_at<?) | "
        "SCALAR SUBQUERY 1 | SEARCH runs USING INDEX sqlite_autoindex_runs_1 (run_id=?) | "
        "REUSE SUBQUERY 1",
    ]


@SQLITE_ONLY
async def test_pending_requests_page_by_cursor_and_expiry_reads_only_expiring_ones(
    saver: SqliteCheckpointer,
) -> None:
    for i in range(5):
        await saver.store.add_approval(
            request(f"q{i}", created_at=float(i // 2), expires_at=10.0 if i in (1, 3) else None)
        )

    first = await saver.store.list_approvals(limit=2)
    second = await saver.store.list_approvals(limit=2, after=first[-1].request_id)
    named = await saver.store.list_approvals(graph="refund", limit=10, after="q3")
    expired, found = await traced(saver, saver.store.list_expired(10.0))
    not_yet = await saver.store.list_expired(9.5)

    assert [a.request_id for a in [*first, *second]] == ["q0", "q1", "q2", "q3"]
    assert [a.request_id for a in named] == ["q4"]
    assert [a.request_id for a in expired] == ["q1", "q3"]
    assert not_yet == []
    assert found == [
        "SEARCH approvals USING INDEX approvals_expiring (expires_at>? AND expires_at<?) | "
        "USE TEMP B-TREE FOR ORDER BY"
    ]


async def test_the_decided_requests_of_runs_with_a_status_in_one_statement(
    saver: SqliteCheckpointer,
) -> None:
    store = saver.store
    await store.create_run(run("p1", 1.0))
    await store.create_run(run("p2", 2.0))
    await store.create_run(
        RunRecord.model_validate({**run("done", 3.0).model_dump(), "status": "completed"})
    )
    for request_id, run_id, status in [
        ("a", "p1", "approved"),
        ("b", "p1", "pending"),
        ("c", "p2", "rejected"),
        ("d", "p2", "expired"),
        ("e", "p2", "edited"),
        ("f", "done", "approved"),
    ]:
        made = request(request_id, created_at=float(ord(request_id)), expires_at=None)
        await store.add_approval(
            ApprovalRecord.model_validate({**made.model_dump(), "run_id": run_id, "status": status})
        )

    decided = await store.list_decided(run_status="paused")

    assert [(a.request_id, a.run_id, a.status) for a in decided] == [
        ("a", "p1", "approved"),
        ("c", "p2", "rejected"),
        ("d", "p2", "expired"),
        ("e", "p2", "edited"),
    ]
