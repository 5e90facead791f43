"""A driver's hold on a run: the heartbeat that keeps its lease, and what others are told.

Renewing is one small write every ``every`` seconds on a timer, never one per node, so a
lease costs a run nothing per step. A process that stops (a crash, SIGKILL) stops renewing,
and its lease lapses; on the same host, its lease is void as soon as the process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

from railgraph.checkpointers import RunRecord
from railgraph.errors import RunError, StoreError
from railgraph.vocab import RunStatus

__all__ = [
    "Heartbeat",
    "busy_message",
    "driver_line",
    "fault_of",
    "next_step",
    "queued",
    "shown_status",
    "when",
]


def when(timestamp: float | None) -> str:
    """A unix time as readable UTC, for messages."""
    if timestamp is None:
        return "an unknown time"
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def holder(record: RunRecord) -> str:
    """Who holds a run's lease, as people read it."""
    return f"runner {record.lease_owner} on {record.lease_host} (pid {record.lease_pid})"


def busy_message(record: RunRecord) -> str:
    """Why a second driver is refused, naming the holder and when its lease lapses."""
    return (
        f"run {record.run_id} is being driven by {holder(record)}, whose lease lapses at "
        f"{when(record.lease_expires_at)} unless it renews it (last heartbeat "
        f"{when(record.heartbeat_at)}); wait for it to finish, or if that process is gone, "
        f"run `railgraph resume {record.run_id}` after its lease lapses"
    )


def queued(record: RunRecord) -> bool:
    """Whether a run waits for a worker to take it: `running`, never driven and never
    stopped (no lease, no reason), as `railgraph run --queue` leaves it."""
    return record.status == RunStatus.RUNNING and record.lease_owner is None and not record.error


def shown_status(record: RunRecord, live: bool) -> str:
    """A run's status as people read it: `running` with nobody driving it is `queued` while
    it waits for a worker, else `interrupted`."""
    if record.status != RunStatus.RUNNING or live:
        return record.status
    return "queued" if queued(record) else "interrupted"


def next_step(record: RunRecord, run_id: str) -> str:
    """What to do about a run nobody drives, in a few words (`run_id` as a shell reads it;
    a queued run's own words name no run)."""
    if queued(record):
        return "start a worker: railgraph worker"
    return f"resume: railgraph resume {run_id}"


def driver_line(record: RunRecord, live: bool) -> str | None:
    """Who drives a running run, or what to do when nobody does."""
    if record.status != RunStatus.RUNNING:
        return None
    if live:
        return (
            f"driven by {holder(record)}, lease until {when(record.lease_expires_at)} "
            f"(last heartbeat {when(record.heartbeat_at)})"
        )
    if queued(record):
        return (
            "queued: waiting for a worker to take it; start one with `railgraph worker` "
            f"(or drive it in this process with `railgraph resume {record.run_id}`)"
        )
    return (
        "interrupted: no process drives it (a crash or a database fault stopped it); "
        f"continue it with `railgraph resume {record.run_id}`"
    )


def fault_of(error: BaseException) -> str | None:
    """The database fault behind `error` (disk full, I/O error), or `None` if it is not one.

    Such a fault says nothing about the run: the run stays resumable. A `StoreError` that
    railgraph raised on purpose (an effect finished twice, a missing row) is not a fault.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RunError):
            return None  # the run's own failure, such as a tool whose database failed
        if isinstance(current, StoreError) and isinstance(
            current.__cause__, (sqlite3.OperationalError, OSError)
        ):
            return str(current.__cause__)
        current = current.__cause__ or current.__context__
    return None


class Heartbeat:
    """Renews a lease every ``every`` seconds while its block runs.

    Args:
        renew: Renews the lease; returns whether it is still held.
        every: Seconds between renewals.
    """

    def __init__(self, renew: Callable[[], Awaitable[bool]], every: float) -> None:
        self._renew = renew
        self._every = every
        self._task: asyncio.Task[None] | None = None
        self.lost = False
        """Whether a renewal found the lease taken by someone else."""

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                held = await self._renew()
            except StoreError:
                continue  # a failing disk fails the run's own writes too; try again
            if not held:
                self.lost = True
                return

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
