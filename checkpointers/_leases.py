"""Who drives a run, and every change of a run's status as a compare-and-set.

A run is driven by one process at a time. That process holds the run's *lease*: its
owner id, host and process id, a heartbeat and an expiry, kept in the run's row. A
lease is live until it expires, or, on the same host, until its process is gone (a
crashed driver is taken over at once). Status changes name the status (and the lease)
they expect, in the same transaction that reads it, so two processes never both win.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from railgraph.errors import StoreError
from railgraph.vocab import CANCEL_DECISION, RunEventKind

from ._backend import Backend, Work
from ._events import event_rows, insert_events, parse_events
from ._json import dumps, dumps_or_none
from ._records import EffectRecord, RunRecord, RunStatus
from ._rows import Table
from ._tx import Body, execute, fetchall, fetchone

__all__ = [
    "Lease",
    "LeaseClaim",
    "RunLeases",
    "RunState",
    "lease_live",
    "pid_alive",
    "unknown_effects_text",
]

_NO_LEASE: Final = (
    "lease_owner = NULL, lease_host = NULL, lease_pid = NULL, heartbeat_at = NULL, "
    "lease_expires_at = NULL"
)
"""The SET clause that gives a run's lease up."""

_T = TypeVar("_T")

_ACTIVE: Final = (RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class Lease:
    """Who asks to drive a run: a runner's id, its host and process."""

    owner: str
    """The runner's id, unique per runner."""
    host: str
    """The host the runner's process runs on."""
    pid: int
    """The runner's process id."""

    @classmethod
    def here(cls, owner: str) -> Lease:
        """A lease for `owner` in this process on this host."""
        return cls(owner=owner, host=socket.gethostname(), pid=os.getpid())


@dataclass(frozen=True)
class RunState:
    """A run's status and who drives it: what the kill switch reads before each call."""

    status: RunStatus
    """The run's status."""
    lease_owner: str | None
    """The runner that holds its lease, if any."""


@dataclass(frozen=True)
class LeaseClaim:
    """The answer to a request for a run's lease."""

    granted: bool
    """Whether the caller now holds the lease."""
    record: RunRecord
    """The run as stored after the claim (the holder's lease when refused)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def lease_live(record: RunRecord, now: float, *, host: str | None = None) -> bool:
    """Whether someone drives the run: a lease not expired whose process is not known dead."""
    if record.lease_owner is None:
        return False
    if record.lease_expires_at is not None and record.lease_expires_at <= now:
        return False
    here = host if host is not None else socket.gethostname()
    if record.lease_host == here and record.lease_pid is not None:
        return pid_alive(record.lease_pid)
    return True


class RunLeases:
    """The run store's lease and status operations (a part of `RunStore`)."""

    _db: Backend
    _runs: Table[RunRecord]
    _effects: Table[EffectRecord]

    def _write(self, work: Work[_T]) -> Awaitable[_T]:
        raise NotImplementedError

    async def run_state(self, run_id: str) -> RunState | None:
        """The run's status and lease holder, or `None` if there is no such run.

        Two columns by primary key, read by one statement on the event loop's thread
        (see `Database.read_row`): cheap enough to ask before every LLM and tool call,
        whatever the size of the run's input or result.
        """
        row = await self._db.read_row(
            "SELECT status, lease_owner FROM runs WHERE run_id = ?", (run_id,)
        )
        return None if row is None else RunState(row[0], row[1])

    def _read_run(self, run_id: str) -> Body[RunRecord]:
        row = yield from fetchone(f"{self._runs.select} WHERE run_id = ?", (run_id,))
        if row is None:
            raise StoreError(f"no run {run_id!r}; list runs with `railgraph runs`.")
        return self._runs.load(row)

    async def acquire_lease(self, run_id: str, lease: Lease, *, ttl: float) -> LeaseClaim:
        """Take the run's lease if nobody else holds a live one, and mark it `running`.

        Refused (`granted` false, nothing changed) when the run has ended or another
        live lease holds it; a lapsed lease, or one whose process is gone, is taken over.

        Raises:
            StoreError: There is no such run.
        """
        now = self._db.clock()

        def claim() -> Body[LeaseClaim]:
            record = yield from self._read_run(run_id)
            if record.status not in _ACTIVE:
                return LeaseClaim(False, record)
            if record.lease_owner not in (None, lease.owner) and lease_live(
                record, now, host=lease.host
            ):
                return LeaseClaim(False, record)
            yield from execute(
                "UPDATE runs SET status = 'running', error = CASE WHEN status = 'paused' "
                "THEN NULL ELSE error END, lease_owner = ?, lease_host = ?, lease_pid = ?, "
                "heartbeat_at = ?, lease_expires_at = ?, updated_at = ? WHERE run_id = ?",
                (lease.owner, lease.host, lease.pid, now, now + ttl, now, run_id),
            )
            return LeaseClaim(True, (yield from self._read_run(run_id)))

        return await self._write(claim)

    async def renew_lease(self, run_id: str, owner: str, *, ttl: float) -> bool:
        """Move the lease's expiry on; `False` if `owner` no longer holds it."""
        now = self._db.clock()
        changed = await self._write(
            lambda: execute(
                "UPDATE runs SET heartbeat_at = ?, lease_expires_at = ? "
                "WHERE run_id = ? AND lease_owner = ?",
                (now, now + ttl, run_id, owner),
            )
        )
        return bool(changed)

    async def release_void_leases(self, now: float) -> int:
        """Clear the lapsed leases that cancelled runs still hold; returns how many.

        A cancel leaves a live driver's lease for the driver to give up when it sees the
        cancel; a driver that died first never does. Its lease is void once it lapses.
        """
        changed = await self._write(
            lambda: execute(
                f"UPDATE runs SET {_NO_LEASE} "
                "WHERE status = 'cancelled' AND lease_owner IS NOT NULL "
                "AND lease_expires_at < ?",
                (now,),
            )
        )
        return int(changed or 0)

    async def release_lease(self, run_id: str, owner: str, *, error: str | None = None) -> bool:
        """Give the lease up, leaving the status as it is; `error` records why (if given)."""
        now = self._db.clock()
        changed = await self._write(
            lambda: execute(
                f"UPDATE runs SET {_NO_LEASE}, error = COALESCE(?, error), "
                "updated_at = ? WHERE run_id = ? AND lease_owner = ?",
                (error, now, run_id, owner),
            )
        )
        return bool(changed)

    async def finish_drive(
        self,
        run_id: str,
        owner: str,
        *,
        expect: RunStatus = RunStatus.RUNNING,
        status: RunStatus,
        usage: Mapping[str, Any],
        result: Mapping[str, Any],
        error: str | None,
        events: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[bool, RunRecord]:
        """Store where a driven run stands, with its last events, and give its lease up.

        One compare-and-set: it changes the run only while its status is `expect` under
        `owner`'s lease, so a run cancelled meanwhile stays cancelled, and the events are
        stored only with the change. `error=None` keeps the stored reason; `""` clears it.
        On a run that was cancelled meanwhile, requests still pending are cancelled too.

        Returns:
            Whether the change was made, and the run as stored afterwards.
        """
        parsed = parse_events(list(events), source=f"finish_drive for run {run_id!r}")
        now = self._db.clock()

        def finish() -> Body[tuple[bool, RunRecord]]:
            changed = yield from execute(
                "UPDATE runs SET status = ?, usage = ?, result = ?, "
                "error = CASE WHEN ? IS NULL THEN error ELSE NULLIF(?, '') END, "
                f"{_NO_LEASE}, updated_at = ? "
                "WHERE run_id = ? AND status = ? AND lease_owner = ?",
                (
                    status,
                    dumps(usage),
                    dumps_or_none(result),
                    error,
                    error,
                    now,
                    run_id,
                    expect,
                    owner,
                ),
            )
            if changed:
                yield from insert_events(run_id, event_rows(parsed))
            else:
                # Ours or not, a lease on a run that ended is void.
                yield from execute(
                    f"UPDATE runs SET {_NO_LEASE} "
                    "WHERE run_id = ? AND lease_owner = ? AND status NOT IN ('running', 'paused')",
                    (run_id, owner),
                )
            record = yield from self._read_run(run_id)
            if record.status == RunStatus.CANCELLED:
                decision = {
                    "decision": CANCEL_DECISION,
                    "by": "railgraph",
                    "at": now,
                    "reason": "the run was cancelled",
                }
                yield from execute(
                    "UPDATE approvals SET status = 'cancelled', decision = ?, "
                    "decided_by = 'railgraph', decided_at = ? "
                    "WHERE run_id = ? AND status = 'pending'",
                    (dumps(decision), now, run_id),
                )
            return bool(changed), record

        return await self._write(finish)

    async def list_unknown_effects(self) -> list[EffectRecord]:
        """Effects whose outcome the ledger does not know, of runs that have ended.

        Nothing will look at them again by itself (a running or paused run asks about
        its own on resume): a person should check the target system.
        """
        columns = ", ".join(f"e.{c}" for c in self._effects.columns)
        rows = await self._db.read(
            fetchall(
                f"SELECT {columns} FROM tool_effects AS e JOIN runs AS r ON r.run_id = e.run_id "
                "WHERE e.status = 'started' AND r.status NOT IN ('running', 'paused') "
                "ORDER BY e.started_at, e.rowid"
            )
        )
        return self._effects.load_all(rows)

    async def cancel_run(
        self, run_id: str, *, by: str, reason: str, at: float
    ) -> tuple[bool, RunRecord, list[EffectRecord]]:
        """Cancel a running or paused run, its pending requests and say so in its trace.

        One transaction: the status changes only from `running` or `paused`, so a
        cancel that loses to a completion changes nothing. Effects of the run whose
        outcome the ledger does not know (`started`) are named in the stored reason
        and in the `run_cancelled` event: they may have happened.

        Returns:
            Whether the run was cancelled, the run as stored afterwards, and its
            effects still `started`.
        """

        def cancel() -> Body[tuple[bool, RunRecord, list[EffectRecord]]]:
            before = yield from self._read_run(run_id)
            if before.status not in _ACTIVE:
                return False, before, []
            rows = yield from fetchall(
                f"{self._effects.select} WHERE run_id = ? AND status = 'started' "
                "ORDER BY started_at, rowid",
                (run_id,),
            )
            unknown = self._effects.load_all(rows)
            done = yield from fetchall(
                "SELECT tool, node FROM tool_effects WHERE run_id = ? AND status = 'completed' "
                "ORDER BY started_at, rowid",
                (run_id,),
            )
            text = f"cancelled by {by}: {reason}"
            if done:
                made = ", ".join(f"{row['tool']} at node {row['node']}" for row in done)
                text += f"; it had already made {made}"
            if unknown:
                text += "; " + unknown_effects_text(unknown)
            yield from execute(
                "UPDATE runs SET status = 'cancelled', error = ?, updated_at = ? "
                "WHERE run_id = ? AND status IN ('running', 'paused')",
                (text, self._db.clock(), run_id),
            )
            if not lease_live(before, self._db.clock()):
                # A crashed driver's lease: nobody is left to give it up. A live driver
                # gives its own up when it sees the cancel.
                yield from execute(
                    f"UPDATE runs SET {_NO_LEASE} WHERE run_id = ?",
                    (run_id,),
                )
            decision = {"decision": CANCEL_DECISION, "by": by, "reason": reason, "at": at}
            yield from execute(
                "UPDATE approvals SET status = 'cancelled', decision = ?, decided_by = ?, "
                "decided_at = ? WHERE run_id = ? AND status = 'pending'",
                (dumps(decision), by, self._db.clock(), run_id),
            )
            event = {
                "kind": RunEventKind.RUN_CANCELLED.value,
                "node": None,
                "at": at,
                "data": {
                    "by": by,
                    "reason": reason,
                    "unknown_effects": [
                        {
                            "tool": e.tool,
                            "node": e.node,
                            "idempotency_key": e.idempotency_key,
                            "args": e.args,
                        }
                        for e in unknown
                    ],
                },
            }
            yield from insert_events(run_id, event_rows(parse_events([event], source="cancel_run")))
            return True, (yield from self._read_run(run_id)), unknown

        return await self._write(cancel)


def unknown_effects_text(effects: list[EffectRecord]) -> str:
    """Say which effects may have happened, and what to do about them."""
    names = ", ".join(f"{e.tool} at node {e.node} (key {e.idempotency_key})" for e in effects)
    return (
        f"{names} had started and its outcome was unknown when the run was cancelled: it "
        "may have happened — check the target system before doing it again"
    )
