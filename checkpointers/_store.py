"""The run store: runs, run events, review requests and the tool-effect ledger.

It lives in the checkpointer's database and shares its connections and lock, so
a write here and a checkpoint write never interleave.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Final, TypeVar

from railgraph.errors import DecisionError, StoreError
from railgraph.vocab import RunEventKind

from ._backend import Backend, Work
from ._events import SELECT_EVENTS, SPEC_REF, event_rows, insert_events, parse_events, row_to_event
from ._json import dumps, dumps_or_none
from ._leases import RunLeases
from ._ledger import EFFECTS, RunLedger
from ._pages import RunPages
from ._prune import RunPruning
from ._records import (
    ApprovalRecord,
    ApprovalStatus,
    EventRecord,
    RunRecord,
    RunStatus,
)
from ._redact import Redactor
from ._rows import Table, when
from ._tx import Body, change_and_read, execute, executemany, fetchall, fetchone

__all__ = ["RunStore"]

_T = TypeVar("_T")

_RUNS: Final = Table(
    name="runs",
    record=RunRecord,
    columns=tuple(RunRecord.model_fields),
    json_columns=frozenset({"input", "budget", "usage", "result"}),
)
_APPROVALS: Final = Table(
    name="approvals",
    record=ApprovalRecord,
    columns=tuple(ApprovalRecord.model_fields),
    json_columns=frozenset({"request", "decision"}),
)

_RUN_STATUSES: Final[frozenset[str]] = frozenset(s.value for s in RunStatus)
_DECIDED_STATUSES: Final[frozenset[str]] = frozenset(
    s.value for s in ApprovalStatus if s is not ApprovalStatus.PENDING
)


class RunStore(RunLeases, RunLedger, RunPages, RunPruning):
    """Records of runs, their events, review requests and tool side effects.

    Reach it as `SqliteCheckpointer.store`; it shares the saver's database,
    connections and lock. Every write is one transaction.

    Args:
        db: The checkpointer's open database.
        redactor: Redacts secrets from events, review requests and the ledger's
            arguments before they are stored (they are for people).
    """

    _runs = _RUNS
    _approvals = _APPROVALS
    _effects = EFFECTS

    def __init__(self, db: Backend, *, redactor: Redactor | None = None) -> None:
        self._db = db
        self.redactor = redactor or Redactor()
        """Which secrets are redacted from what this store keeps for people."""
        self._queued: dict[str, list[asyncio.Future[Any]]] = {}
        """By run: completions `complete_effect_with_next_write` queued, until looked at."""
        self._spec_text: dict[str, str] = {}
        """Graph specs as stored, by signature: a graph's runs share one, so it is encoded
        once (but still stored by every run's transaction: a prune elsewhere may delete it)."""

    def _write(self, work: Work[_T]) -> Awaitable[_T]:
        # Every write here changes a row or a few: short (see `Database.write`). A function
        # that makes the body, so that PostgreSQL can run it again (see `_pgdb`).
        return self._db.write(work, short=True)

    # -- runs ---------------------------------------------------------------

    async def create_run(
        self, record: RunRecord, *, events: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Store a new run and its first events in one transaction.

        A `run_started` event's `spec` (the graph's, as data) is stored once per
        `record.signature`; the event names it, and reads back with it.

        Args:
            record: The run.
            events: The run's first events, shaped as for `append_events`.

        Raises:
            StoreError: A run with this id already exists (nothing is stored), or an
                event is not shaped like one.
        """
        parsed = parse_events(list(events), source=f"create_run for run {record.run_id!r}")
        specs: list[tuple[str, str]] = []
        for i, event in enumerate(parsed):
            if event.kind == RunEventKind.RUN_STARTED and isinstance(event.data.get("spec"), dict):
                data = {k: v for k, v in event.data.items() if k != "spec"}
                specs.append((record.signature, self._spec_json(record.signature, event.data)))
                parsed[i] = event.model_copy(update={"data": {**data, SPEC_REF: record.signature}})
        rows = event_rows(parsed, self.redactor)

        def create() -> Body[bool]:
            if not (yield from execute(_RUNS.insert(or_ignore=True), _RUNS.params(record))):
                return False
            yield from executemany(
                "INSERT OR IGNORE INTO graph_specs (signature, spec) VALUES (?, ?)", specs
            )
            yield from insert_events(record.run_id, rows, first_seq=1)
            return True

        if not await self._write(create):
            raise StoreError(
                f"run {record.run_id!r} already exists; start the new run with a fresh id."
            )

    def _spec_json(self, signature: str, data: Mapping[str, Any]) -> str:
        """The stored text of the spec in a `run_started` event's data, encoded once per
        signature (a few kept: one process runs a few graphs)."""
        text = self._spec_text.get(signature)
        if text is None:
            if len(self._spec_text) >= 64:
                self._spec_text.clear()
            text = self._spec_text[signature] = dumps(data["spec"])
        return text

    async def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        usage: Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Change a run's status, usage, result or error; `None` leaves a field as it is.

        An empty `error` clears it (a resumed run drops the reason it was paused for).

        `updated_at` is set to now.

        Returns:
            The run as stored after the change.

        Raises:
            StoreError: There is no such run, or `status` is not a run status.
        """
        if status is not None and status not in _RUN_STATUSES:
            raise StoreError(
                f"{status!r} is not a run status; use one of {', '.join(sorted(_RUN_STATUSES))}."
            )
        changes: dict[str, Any] = {
            "status": status,
            "usage": dumps_or_none(usage),
            "result": dumps_or_none(result),
            "error": error,
        }
        sets = [f"{column} = ?" for column, value in changes.items() if value is not None]
        params = [value or None for value in changes.values() if value is not None]
        update = f"UPDATE runs SET {', '.join([*sets, 'updated_at = ?'])} WHERE run_id = ?"
        now = self._db.clock()
        _, row = await self._write(
            lambda: change_and_read(
                update,
                (*params, now, run_id),
                f"{_RUNS.select} WHERE run_id = ?",
                (run_id,),
            )
        )
        if row is None:
            raise StoreError(f"no run {run_id!r}; list runs with `railgraph runs`.")
        return _RUNS.load(row)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or `None`."""
        row = await self._db.read_short(
            lambda: fetchone(f"{_RUNS.select} WHERE run_id = ?", (run_id,))
        )
        return None if row is None else _RUNS.load(row)

    # -- events -------------------------------------------------------------

    async def append_events(
        self, run_id: str, events: Sequence[Mapping[str, Any]]
    ) -> list[EventRecord]:
        """Add events the runner records itself (such as a review request) to a run's trace.

        Args:
            run_id: The run.
            events: Dicts shaped `{"kind": str, "node": str | None, "at": float,
                "data": dict}`, in order.

        Returns:
            The stored events, with the `seq` each was given.

        Raises:
            StoreError: An event is not shaped like one; nothing is stored.
        """
        parsed = parse_events(list(events), source=f"append_events for run {run_id!r}")
        rows_in = event_rows(parsed, self.redactor)

        def append() -> Body[list[sqlite3.Row]]:
            last = yield from fetchone(
                "SELECT COALESCE(MAX(seq), 0) AS seq FROM run_events WHERE run_id = ?", (run_id,)
            )
            yield from insert_events(run_id, rows_in)
            return (
                yield from fetchall(
                    f"{SELECT_EVENTS} WHERE e.run_id = ? AND e.seq > ? ORDER BY e.seq",
                    (run_id, last["seq"] if last is not None else 0),
                )
            )

        rows = await self._write(append)
        return [row_to_event(row) for row in rows]

    async def list_events(self, run_id: str) -> list[EventRecord]:
        """A run's events in order: harvested from checkpoints and appended, as one sequence."""
        rows = await self._db.read(
            fetchall(
                f"{SELECT_EVENTS} WHERE e.run_id = ? ORDER BY e.seq",
                (run_id,),
            )
        )
        return [row_to_event(row) for row in rows]

    # -- approvals ----------------------------------------------------------

    async def add_approval(self, record: ApprovalRecord) -> None:
        """Store a new review request.

        Raises:
            StoreError: A request with this id already exists.
        """
        record = record.model_copy(update={"request": self.redactor.redact(record.request)})
        params = _APPROVALS.params(record)
        changed = await self._write(lambda: execute(_APPROVALS.insert(or_ignore=True), params))
        if not changed:
            raise StoreError(
                f"review request {record.request_id!r} already exists; "
                "raise a new request with a fresh id."
            )

    async def get_approval(self, request_id: str) -> ApprovalRecord | None:
        """The review request with this id, or `None`."""
        row = await self._db.read_short(
            lambda: fetchone(f"{_APPROVALS.select} WHERE request_id = ?", (request_id,))
        )
        return None if row is None else _APPROVALS.load(row)

    async def decide_approval(
        self,
        request_id: str,
        *,
        status: ApprovalStatus,
        decision: Mapping[str, Any],
        decided_by: str,
    ) -> ApprovalRecord:
        """Decide a pending review request, once: a compare-and-set on `pending`.

        Of two people deciding the same request at once, exactly one succeeds.

        Args:
            request_id: The request.
            status: The outcome, such as `"approved"`, `"edited"` or `"rejected"`.
            decision: The decision's details (edited arguments, a reason, ...).
            decided_by: Who decided.

        Returns:
            The request as decided.

        Raises:
            DecisionError: There is no such request, it was already decided, or
                `status` is not a decision; the request is left as it was.
        """
        if status not in _DECIDED_STATUSES:
            raise DecisionError(
                f"{status!r} is not a decision; use one of {', '.join(sorted(_DECIDED_STATUSES))}."
            )
        decided = (status, dumps(decision), decided_by, self._db.clock(), request_id)
        changed, row = await self._write(
            lambda: change_and_read(
                "UPDATE approvals SET status = ?, decision = ?, decided_by = ?, decided_at = ? "
                "WHERE request_id = ? AND status = 'pending'",
                decided,
                f"{_APPROVALS.select} WHERE request_id = ?",
                (request_id,),
            )
        )
        if row is None:
            raise DecisionError(
                f"no review request {request_id!r}; list them with `railgraph pending`."
            )
        record = _APPROVALS.load(row)
        if not changed:
            by = f" by {record.decided_by}" if record.decided_by else ""
            raise DecisionError(
                f"review request {request_id!r} was already {record.status}{by} at "
                f"{when(record.decided_at)}; a request can be decided only once."
            )
        return record
