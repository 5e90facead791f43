"""Retention: deleting old runs with everything stored for them, then reclaiming the space.

A run is one LangGraph thread, so pruning it deletes its checkpoints, blobs and writes
(and the large values no other row names), its events, review requests and ledger rows,
its record, and the specs no remaining run was started on. Runs that are `running` or
`paused` are kept unless their status is asked for by name.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Final

from railgraph.vocab import ENDED as RUN_ENDED

from ._backend import Backend
from ._json import dumps
from ._records import RunStatus
from ._tx import Body, execute, fetchall, fetchone

__all__ = ["ACTIVE", "ENDED", "PRUNED_TABLES", "PruneReport", "RunPruning"]

ACTIVE: Final[frozenset[str]] = frozenset(s.value for s in RunStatus if s not in RUN_ENDED)
"""Statuses pruned only when asked for by name: someone may still decide or resume them."""
ENDED: Final[frozenset[str]] = frozenset(s.value for s in RUN_ENDED)
"""Statuses pruned by default."""

PRUNED_TABLES: Final = (
    ("runs", "run_id"),
    ("run_events", "run_id"),
    ("approvals", "run_id"),
    ("tool_effects", "run_id"),
    ("checkpoints", "thread_id"),
    ("checkpoint_blobs", "thread_id"),
    ("checkpoint_writes", "thread_id"),
)
_IN_RUNS = "IN (SELECT value FROM json_each(?))"


@dataclass(frozen=True)
class PruneReport:
    """What a prune deleted (or, dry, would delete)."""

    run_ids: list[str]
    """The runs, oldest first."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table: runs, events, requests, ledger, checkpoints, blobs, writes, values
    and graph specs (values and specs counted only when deleted)."""
    dry_run: bool = False
    """Nothing was deleted: this is what would be."""
    bytes_before: int = 0
    """The database's size in bytes (pages in use and free) before."""
    bytes_after: int = 0
    """Its size after the space was reclaimed (the same as before on a dry run)."""


class RunPruning:
    """The run store's retention (a part of `RunStore`)."""

    _db: Backend

    async def prune(
        self,
        *,
        older_than: float,
        statuses: Collection[RunStatus] | None = None,
        graph: str | None = None,
        dry_run: bool = False,
    ) -> PruneReport:
        """Delete runs last changed before `older_than` with everything stored for them.

        Args:
            older_than: A unix time; runs whose `updated_at` is earlier are pruned.
            statuses: Only runs with these statuses; by default the ended ones. A
                `running` or `paused` run is pruned only when its status is named here.
            graph: Only runs of this graph, by import reference or name.
            dry_run: Count what would be deleted, delete nothing.

        Returns:
            The runs and the rows deleted per table; after a real prune the file has
            been vacuumed, so the space is back with the file system.
        """
        # Here: `_threads` loads LangGraph's saver types, which reading commands never need.
        from ._threads import delete_threads

        wanted = sorted(statuses if statuses is not None else ENDED)
        clauses = ["updated_at < ?", "status IN (SELECT value FROM json_each(?))"]
        params: list[Any] = [older_than, dumps(wanted)]
        if graph is not None:
            clauses.append("(graph = ? OR graph_name = ?)")
            params.extend((graph, graph))
        where = " AND ".join(clauses)

        def prune() -> Body[tuple[list[str], dict[str, int], int]]:
            found = yield from fetchall(
                f"SELECT run_id FROM runs WHERE {where} ORDER BY created_at, rowid", params
            )
            run_ids = [row[0] for row in found]
            ids = dumps(run_ids)
            size = yield from _size()
            rows: dict[str, int] = {}
            for table, column in PRUNED_TABLES:
                row = yield from fetchone(
                    f"SELECT COUNT(*) FROM {table} WHERE {column} {_IN_RUNS}", (ids,)
                )
                rows[table] = int(row[0]) if row is not None else 0
            if dry_run or not run_ids:
                return run_ids, rows, size
            values_before = yield from _count("checkpoint_values")
            specs_before = yield from _count("graph_specs")
            yield from delete_threads(run_ids)
            for table in ("run_events", "approvals", "tool_effects", "runs"):
                yield from execute(f"DELETE FROM {table} WHERE run_id {_IN_RUNS}", (ids,))
            yield from execute(
                "DELETE FROM graph_specs WHERE signature NOT IN (SELECT signature FROM runs)"
            )
            rows["checkpoint_values"] = values_before - (yield from _count("checkpoint_values"))
            rows["graph_specs"] = specs_before - (yield from _count("graph_specs"))
            return run_ids, rows, size

        run_ids, rows, before = await self._db.write(prune)
        after = before
        if run_ids and not dry_run:
            await self._db.vacuum()
            after = await self._db.read(_size())
        return PruneReport(run_ids, rows, dry_run, before, after)


def _count(table: str) -> Body[int]:
    row = yield from fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row is not None else 0


def _size() -> Body[int]:
    row = yield from fetchone(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    )
    return int(row[0]) if row is not None else 0
