"""The run store: runs, run events, review requests and the tool-effect ledger.

It lives in the checkpointer's database and shares its connections and lock, so
a write here and a checkpoint write never interleave.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from railgraph.errors import DecisionError, RunCancelled, StoreError
from railgraph.vocab import EffectStatus, RunEventKind

from ._backend import Backend, Work
from ._db import Database
from ._events import SELECT_EVENTS, SPEC_REF, event_rows, insert_events, parse_events, row_to_event
from ._json import dumps, dumps_or_none
from ._leases import RunLeases, run_is_cancelled
from ._pages import RunPages
from ._prune import RunPruning
from ._records import (
    ApprovalRecord,
    ApprovalStatus,
    EffectRecord,
    EventRecord,
    RunRecord,
    RunStatus,
)
from ._redact import Redactor
from ._rows import Table
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
_EFFECTS: Final = Table(
    name="tool_effects",
    record=EffectRecord,
    columns=tuple(EffectRecord.model_fields),
    json_columns=frozenset({"args", "result"}),
)

_RUN_STATUSES: Final[frozenset[str]] = frozenset(s.value for s in RunStatus)
_DECIDED_STATUSES: Final[frozenset[str]] = frozenset(
    s.value for s in ApprovalStatus if s is not ApprovalStatus.PENDING
)


def _retrieved(future: asyncio.Future[Any]) -> None:
    # Looked at here too, so that a failure nobody asks about is not reported as lost.
    if not future.cancelled():
        future.exception()


def _when(timestamp: float | None) -> str:
    """A unix time as readable UTC, for messages."""
    if timestamp is None:
        return "an unknown time"
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


class RunStore(RunLeases, RunPages, RunPruning):
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
    _effects = _EFFECTS

    def __init__(self, db: Backend, *, redactor: Redactor | None = None) -> None:
        self._db = db
        self.redactor = redactor or Redactor()
        """Which secrets are redacted from what this store keeps for people."""
        self._queued: dict[str, list[asyncio.Future[Any]]] = {}
        """By run: completions `complete_effect_with_next_write` queued, until looked at."""

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
                specs.append((record.signature, dumps(event.data["spec"])))
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
                f"{_when(record.decided_at)}; a request can be decided only once."
            )
        return record

    # -- tool-effect ledger -------------------------------------------------

    async def begin_effect(
        self, key: str, *, run_id: str, node: str, tool: str, args: Mapping[str, Any]
    ) -> EffectRecord | None:
        """Claim a side effect before running it.

        Returns:
            `None` if the key is new (a `started` entry now exists and the tool
            may run); otherwise the existing entry, untouched, so the caller can
            reuse a completed result instead of repeating the effect.

        Raises:
            RunCancelled: The run is cancelled (the kill switch, checked in the same
                transaction as the claim, so no effect starts after a cancel commits).
            StoreError: Recording an earlier completed effect of the run failed (see
                `complete_effect_with_next_write`); no new effect starts.
        """
        record = EffectRecord(
            idempotency_key=key,
            run_id=run_id,
            node=node,
            tool=tool,
            args=self.redactor.redact(dict(args)),
            status=EffectStatus.STARTED,
            started_at=self._db.clock(),
        )
        params = _EFFECTS.params(record)
        self.raise_unrecorded(run_id)

        def claim() -> Body[sqlite3.Row | None]:
            if (yield from run_is_cancelled(run_id)):
                raise RunCancelled(
                    f"run {run_id} was cancelled, so the call to tool {tool!r} was not made"
                )
            if (yield from execute(_EFFECTS.insert(or_ignore=True), params)):
                return None
            return (yield from fetchone(f"{_EFFECTS.select} WHERE idempotency_key = ?", (key,)))

        row = await self._write(claim)
        return None if row is None else _EFFECTS.load(row)

    async def complete_effect(self, key: str, result: Any) -> None:
        """Record that a side effect happened, with the tool's result.

        Raises:
            StoreError: There is no such entry, or it is already completed.
        """
        await self._write(
            functools.partial(self._finish_effect, key, EffectStatus.COMPLETED, result=result)
        )

    async def complete_effect_with_next_write(self, key: str, run_id: str, result: Any) -> None:
        """Record that a side effect happened, in the transaction of the database's next write.

        A tool node's writes follow its call at once: on SQLite the record commits with
        them (or earlier), at no transaction of its own. A crash before that commit leaves
        the effect `started`, as a crash between the effect and `complete_effect` does: its
        outcome is unknown, so it is sent again only to an idempotent tool, otherwise a
        person decides. A failure to record it is raised by `raise_unrecorded` and by the
        run's next `begin_effect`. On PostgreSQL, whose writes each commit on their own,
        it is recorded at once, as by `complete_effect`.
        """
        work = functools.partial(self._finish_effect, key, EffectStatus.COMPLETED, result=result)
        if not isinstance(self._db, Database):
            await self._write(work)
            return
        done = self._db.write_with_next(work)
        done.add_done_callback(_retrieved)  # its failure is raised by raise_unrecorded
        self._queued.setdefault(run_id, []).append(done)

    def raise_unrecorded(self, run_id: str) -> None:
        """Raise the first failure to record a completed effect of the run, if any.

        Raises:
            StoreError: Recording a completion that `complete_effect_with_next_write`
                queued failed; the effect stays as it was stored before.
        """
        queued = self._queued.pop(run_id, None)
        if not queued:
            return
        error: BaseException | None = None
        waiting = []
        for future in queued:
            if not future.done():
                waiting.append(future)
            elif not future.cancelled() and error is None:
                # Cancelled only when the loop shuts down: the effect stays `started`
                # (unknown), as after a crash.
                error = future.exception()
        if waiting:
            self._queued[run_id] = waiting
        if error is not None:
            raise StoreError(
                f"run {run_id}: recording a completed tool effect failed ({error}); the run "
                "stops so that nothing runs on an effect the ledger does not know of. "
                f"Check `railgraph show {run_id}`, then resume it"
            ) from error

    def forget_unrecorded(self, run_id: str) -> None:
        """Stop watching the run's queued completions: its drive is over.

        A completion that failed, or fails later, leaves its effect `started` in the ledger;
        the next drive treats it as an effect that may have happened, as after a crash, and
        never meets this drive's failure again.
        """
        self._queued.pop(run_id, None)

    async def fail_effect(self, key: str, error: str) -> None:
        """Record that a side effect failed (a later `complete_effect` may still succeed).

        Raises:
            StoreError: There is no such entry, or it is already completed.
        """
        await self._write(
            functools.partial(self._finish_effect, key, EffectStatus.FAILED, error=error)
        )

    def _finish_effect(
        self,
        key: str,
        status: EffectStatus,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> Body[None]:
        # A completed effect is final: finishing it again would mean it ran twice.
        params = (status, dumps_or_none(result), error, self._db.clock(), key)
        changed = yield from execute(
            "UPDATE tool_effects SET status = ?, result = ?, error = ?, finished_at = ? "
            "WHERE idempotency_key = ? AND status != 'completed'",
            params,
        )
        if changed:
            return  # the usual case: nothing to read back
        row = yield from fetchone(f"{_EFFECTS.select} WHERE idempotency_key = ?", (key,))
        if row is None:
            raise StoreError(f"no tool effect with key {key!r}; call `begin_effect` first.")
        raise StoreError(
            f"tool effect {key!r} already completed at {_when(row['finished_at'])}; "
            "its result is final, so reuse it instead of running the tool again."
        )

    async def get_effect(self, key: str) -> EffectRecord | None:
        """The ledger entry with this key, or `None`."""
        row = await self._db.read(fetchone(f"{_EFFECTS.select} WHERE idempotency_key = ?", (key,)))
        return None if row is None else _EFFECTS.load(row)

    async def list_effects(self, run_id: str) -> list[EffectRecord]:
        """A run's ledger entries, in the order they started."""
        rows = await self._db.read(
            fetchall(f"{_EFFECTS.select} WHERE run_id = ? ORDER BY started_at, rowid", (run_id,))
        )
        return _EFFECTS.load_all(rows)
