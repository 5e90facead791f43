"""The tool-effect ledger: a side effect claimed before it runs, then completed or failed.

A part of `RunStore`, in the same database: the claim checks the kill switch (and the
driver's lease) in its own statement, and a completion may ride with the next write (a tool
node's writes).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

from railgraph.errors import RunBusy, RunCancelled, StoreError
from railgraph.vocab import EffectStatus, RunStatus

from ._backend import Backend, Work
from ._db import Database
from ._json import dumps, dumps_or_none
from ._records import EffectRecord
from ._redact import Redactor
from ._rows import Table, when
from ._tx import Body, execute, fetchall, fetchone

__all__ = ["EFFECTS", "RunLedger"]

_T = TypeVar("_T")

EFFECTS: Final = Table(
    name="tool_effects",
    record=EffectRecord,
    columns=tuple(EffectRecord.model_fields),
    json_columns=frozenset({"args", "result"}),
)


_CLAIM: Final = """
    INSERT OR IGNORE INTO tool_effects
        (idempotency_key, run_id, node, tool, args, status, started_at)
    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
    WHERE NOT EXISTS (
        SELECT 1 FROM runs WHERE run_id = ?2 AND (
            status = 'cancelled'
            OR (
                status = 'running' AND CAST(?8 AS TEXT) IS NOT NULL
                AND (lease_owner IS NULL OR lease_owner <> ?8)
            )
        )
    )
"""
"""Claim an effect: insert it as `started` unless its key is known or the run may not go
on (cancelled, or, when a driver is named, taken over by another runner)."""


def _taken_over(status: str, owner: str | None, driver: str | None) -> bool:
    """Whether a run driven by `driver` has been taken over (the claim's own test)."""
    return driver is not None and status == RunStatus.RUNNING and owner != driver


def _retrieved(future: asyncio.Future[Any]) -> None:
    # Looked at here too, so that a failure nobody asks about is not reported as lost.
    if not future.cancelled():
        future.exception()


class RunLedger:
    """The run store's tool-effect ledger (a part of `RunStore`)."""

    checks_run_state = True
    """Its claims refuse a cancelled run, or one another runner holds (see `begin_effect`):
    a claimed call needs no kill-switch read of its own."""

    _db: Backend
    redactor: Redactor
    _queued: dict[str, list[asyncio.Future[Any]]]

    def _write(self, work: Work[_T]) -> Awaitable[_T]:
        raise NotImplementedError

    async def begin_effect(
        self,
        key: str,
        *,
        run_id: str,
        node: str,
        tool: str,
        args: Mapping[str, Any],
        driver: str | None = None,
    ) -> EffectRecord | None:
        """Claim a side effect before running it.

        The claim is one statement: it inserts the `started` entry only if the key is new
        and the run may go on (the kill switch, and with `driver` the run's lease, checked
        in the same transaction, so no effect starts after a cancel or a takeover commits).

        Args:
            key: The effect's idempotency key.
            run_id: The run that makes the call.
            node: The node that makes it.
            tool: The tool called.
            args: The call's arguments (stored redacted).
            driver: The lease owner of the runner that drives the run; when given, a
                `running` run whose lease another owner holds refuses the claim.

        Returns:
            `None` if the key is new (a `started` entry now exists and the tool
            may run); otherwise the existing entry, untouched, so the caller can
            reuse a completed result instead of repeating the effect.

        Raises:
            RunCancelled: The run is cancelled.
            RunBusy: With `driver`: another runner holds the run's lease.
            StoreError: Recording an earlier completed effect of the run failed (see
                `complete_effect_with_next_write`); no new effect starts.
        """
        params = (
            key,
            run_id,
            node,
            tool,
            dumps(self.redactor.redact(dict(args))),
            EffectStatus.STARTED.value,
            self._db.clock(),
            driver,
        )
        self.raise_unrecorded(run_id)

        def claim() -> Body[sqlite3.Row | None]:
            if (yield from execute(_CLAIM, params)):
                return None  # the usual case: one statement
            # Refused: the run may not go on, or the key is known. Which, read in the same
            # transaction (SQLite's write lock, PostgreSQL's one serializable snapshot).
            state = yield from fetchone(
                "SELECT status, lease_owner FROM runs WHERE run_id = ?", (run_id,)
            )
            if state is not None and state["status"] == RunStatus.CANCELLED:
                raise RunCancelled(
                    f"run {run_id} was cancelled, so the call to tool {tool!r} was not made"
                )
            if state is not None and _taken_over(state["status"], state["lease_owner"], driver):
                raise RunBusy(
                    f"run {run_id} is no longer driven by this runner (its lease is held by "
                    f"{state['lease_owner'] or 'nobody'}), so the call to tool {tool!r} was "
                    f"not made; the holder drives it on (see `railgraph show {run_id}`)"
                )
            row = yield from fetchone(f"{EFFECTS.select} WHERE idempotency_key = ?", (key,))
            if row is None:
                raise StoreError(
                    f"the claim of tool {tool!r}'s effect in run {run_id} was refused for no "
                    "reason found; try again"
                )
            return row

        row = await self._write(claim)
        return None if row is None else EFFECTS.load(row)

    async def resend_effect(self, key: str, *, task: str, question: int) -> bool:
        """Claim the re-send of an effect whose outcome was unknown, on a person's approval.

        One approval sends the call once. The claim names the approved question by the node
        task that asked it (LangGraph's checkpoint namespace: the same on every re-run of
        the task after a crash or a resume) and its number within that task, asked in
        order. It is refused if the ledger shows a re-send on that question or a later one
        of the same task: LangGraph hands a re-run task its old answers again, and the
        outcome of the re-send that answer made is unknown too, so a person must be asked
        again. A claim sets the effect `started` again (its outcome is unknown until
        recorded), in the same statement that checks it.

        Args:
            key: The effect's idempotency key.
            task: The checkpoint namespace of the node task that asked.
            question: The approved question's number within that task (1 for the first).

        Returns:
            Whether the re-send is claimed (send it); `False` when that approval is spent.

        Raises:
            StoreError: There is no such entry, or it is already completed.
        """

        def claim() -> Body[bool]:
            changed = yield from execute(
                "UPDATE tool_effects SET status = ?, error = NULL, finished_at = NULL, "
                "resent_task = ?, resent_question = ? "
                "WHERE idempotency_key = ? AND status != 'completed' "
                "AND (COALESCE(resent_task, '') <> ? OR COALESCE(resent_question, 0) < ?)",
                (EffectStatus.STARTED.value, task, question, key, task, question),
            )
            if changed:
                return True
            row = yield from fetchone(f"{EFFECTS.select} WHERE idempotency_key = ?", (key,))
            if row is None:
                raise StoreError(f"no tool effect with key {key!r}; call `begin_effect` first.")
            if row["status"] == EffectStatus.COMPLETED:
                raise StoreError(
                    f"tool effect {key!r} already completed at {when(row['finished_at'])}; "
                    "its result is final, so resume the run to reuse it instead of sending "
                    "the call again."
                )
            return False

        return await self._write(claim)

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
        row = yield from fetchone(f"{EFFECTS.select} WHERE idempotency_key = ?", (key,))
        if row is None:
            raise StoreError(f"no tool effect with key {key!r}; call `begin_effect` first.")
        raise StoreError(
            f"tool effect {key!r} already completed at {when(row['finished_at'])}; "
            "its result is final, so reuse it instead of running the tool again."
        )

    async def get_effect(self, key: str) -> EffectRecord | None:
        """The ledger entry with this key, or `None`."""
        row = await self._db.read(fetchone(f"{EFFECTS.select} WHERE idempotency_key = ?", (key,)))
        return None if row is None else EFFECTS.load(row)

    async def list_effects(self, run_id: str) -> list[EffectRecord]:
        """A run's ledger entries, in the order they started."""
        rows = await self._db.read(
            fetchall(f"{EFFECTS.select} WHERE run_id = ? ORDER BY started_at, rowid", (run_id,))
        )
        return EFFECTS.load_all(rows)
