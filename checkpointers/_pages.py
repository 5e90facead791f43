"""Listing runs and review requests a page at a time, at the database.

Each list reads one page through an index in its order, so it costs O(page), not
O(rows): runs newest first (`runs_by_status`, `runs_by_graph`, `runs_by_graph_name`,
`runs_by_created_at`), requests oldest first (`approvals_by_status`, `approvals_by_run`).
A page goes on from a *cursor*: the id of the last record of the page before. Ties on
the timestamp are broken by insertion order (the rowid, which every index ends with).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from railgraph.vocab import DELIVERABLE

from ._backend import Backend
from ._records import ApprovalRecord, ApprovalStatus, RunRecord, RunStatus
from ._rows import Table
from ._tx import Body, fetchall

__all__ = ["RunPages"]

_NO_LIMIT: Final = -1


class RunPages:
    """The run store's paged lists (a part of `RunStore`)."""

    _db: Backend
    _runs: Table[RunRecord]
    _approvals: Table[ApprovalRecord]

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        graph: str | None = None,
        limit: int | None = 50,
        before: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, one page.

        Args:
            status: Only runs with this status.
            graph: Only runs of this graph, by import reference or by name.
            limit: At most this many runs; `None` for all.
            before: A cursor: the id of the last run of the previous page; this page
                holds the runs listed after it.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if before is not None:
            clauses.append(
                "(created_at, rowid) < (SELECT created_at, rowid FROM runs WHERE run_id = ?)"
            )
            params.append(before)
        count = _NO_LIMIT if limit is None else limit
        select = f"{self._runs.select.replace('SELECT ', 'SELECT rowid AS at_row, ', 1)}"
        order = "ORDER BY created_at DESC, rowid DESC LIMIT ?"

        def page() -> Body[list[sqlite3.Row]]:
            if graph is None:
                where = " AND ".join(clauses) or "1"
                return (yield from fetchall(f"{select} WHERE {where} {order}", (*params, count)))
            # By reference, then by name: each half reads its own index in order, instead
            # of one `OR` that would sort every run of the graph.
            rest = "".join(f" AND {c}" for c in clauses)
            by_ref = yield from fetchall(
                f"{select} WHERE graph = ?{rest} {order}", (graph, *params, count)
            )
            by_name = yield from fetchall(
                f"{select} WHERE graph_name = ? AND graph != ?{rest} {order}",
                (graph, graph, *params, count),
            )
            both = sorted(
                [*by_ref, *by_name], key=lambda r: (r["created_at"], r["at_row"]), reverse=True
            )
            return both if limit is None else both[:limit]

        return self._runs.load_all(await self._db.read(page()))

    async def list_approvals(
        self,
        *,
        status: ApprovalStatus | None = ApprovalStatus.PENDING,
        graph: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[ApprovalRecord]:
        """Review requests, oldest first; by default the pending ones of every run.

        Args:
            status: Only requests with this status; `None` for all.
            graph: Only requests of this graph: its import reference, or its name (as
                the request records it).
            run_id: Only requests of this run.
            limit: At most this many; `None` for all.
            after: A cursor: the id of the last request of the previous page.
        """
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("status", status), ("run_id", run_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if graph is not None:
            if ":" in graph:
                clauses.append("graph = ?")
                params.append(graph)
            else:
                clauses.append("request ->> '$.graph' = ?")
                params.append(graph)
        if after is not None:
            clauses.append(
                "(created_at, rowid) > "
                "(SELECT created_at, rowid FROM approvals WHERE request_id = ?)"
            )
            params.append(after)
        where = " AND ".join(clauses) or "1"
        rows = await self._db.read(
            fetchall(
                f"{self._approvals.select} WHERE {where} ORDER BY created_at, rowid LIMIT ?",
                (*params, _NO_LIMIT if limit is None else limit),
            )
        )
        return self._approvals.load_all(rows)

    async def list_decided(self, *, run_status: RunStatus) -> list[ApprovalRecord]:
        """The decided requests (approved, edited, rejected or expired) of every run with
        status `run_status`, oldest first: one statement, however many runs there are."""
        decided = sorted(DELIVERABLE)
        marks = ", ".join("?" * len(decided))
        rows = await self._db.read(
            fetchall(
                f"{self._approvals.select} WHERE status IN ({marks}) AND run_id IN "
                "(SELECT run_id FROM runs WHERE status = ?) ORDER BY created_at, rowid",
                (*decided, run_status),
            )
        )
        return self._approvals.load_all(rows)

    async def list_expired(self, now: float, *, run_id: str | None = None) -> list[ApprovalRecord]:
        """Pending requests whose expiry is at or before `now`, oldest first.

        Found through the index of expiring requests: the others are never read.
        """
        clauses = ["status = 'pending'", "expires_at IS NOT NULL", "expires_at <= ?"]
        params: list[Any] = [now]
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        # INDEXED BY: the status index would read every pending request, expiring or not.
        select = self._approvals.select + " INDEXED BY approvals_expiring"
        rows = await self._db.read(
            fetchall(
                f"{select} WHERE {' AND '.join(clauses)} ORDER BY created_at, rowid",
                params,
            )
        )
        return self._approvals.load_all(rows)
