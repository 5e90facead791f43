"""Which runs need a driver that nobody is: what the workers' periodic sweep hands out.

The run store is the only record of what is owed. A run needs driving when it is
`running` and nobody drives it (submitted and not taken yet, released by a driver that
stopped, or held by a lease that lapsed or whose process is gone), when it is `paused`
and a decision was recorded after it paused (its decider did not deliver it), or when one
of its requests is past its expiry. The sweep reads these from the store and hands each
run to the queue as one drive job; the queue's lock keeps one job waiting per run, and
the run's lease keeps one driver at a time, whoever asks.

The selection is a pure function of what was read, so it is tested with exact sets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from railgraph.checkpointers import ApprovalRecord, RunRecord, RunStore, lease_live
from railgraph.vocab import DELIVERABLE, RunStatus

__all__ = ["DriveReason", "Snapshot", "read_snapshot", "runs_to_drive"]


class DriveReason(StrEnum):
    """Why the sweep hands a run to a worker."""

    UNDRIVEN = "undriven"
    """`running` with nobody's lease: submitted and not started, or released by a driver
    that stopped (a worker shut down, a database fault)."""
    LAPSED = "lapsed"
    """`running` under a lease that expired, or whose process on this host is gone."""
    DECIDED = "decided"
    """`paused`, with a decision recorded after it paused that nobody delivered."""
    EXPIRED = "expired"
    """A pending request of the run is past its expiry."""


@dataclass(frozen=True)
class Snapshot:
    """What the sweep reads from the run store in one pass."""

    running: Sequence[RunRecord]
    """Every `running` run."""
    paused: Sequence[RunRecord]
    """Every `paused` run."""
    decided: Mapping[str, Sequence[ApprovalRecord]]
    """The decided requests of each paused run, by run id."""
    expired: Sequence[ApprovalRecord]
    """Pending requests past their expiry."""


def runs_to_drive(
    snapshot: Snapshot, now: float, *, host: str | None = None
) -> dict[str, DriveReason]:
    """The runs that need a driver, each with the first reason found.

    Args:
        snapshot: What the store holds now.
        now: The time to judge leases and expiries by.
        host: This host's name, to tell a lease of a dead local process (the default
            is this machine's).
    """
    here = host if host is not None else socket.gethostname()
    due: dict[str, DriveReason] = {}
    for record in snapshot.running:
        if record.lease_owner is None:
            due[record.run_id] = DriveReason.UNDRIVEN
        elif not lease_live(record, now, host=here):
            due[record.run_id] = DriveReason.LAPSED
    for record in snapshot.paused:
        if _undelivered(record, snapshot.decided.get(record.run_id, ())):
            due.setdefault(record.run_id, DriveReason.DECIDED)
    for approval in snapshot.expired:
        due.setdefault(approval.run_id, DriveReason.EXPIRED)
    return due


def _undelivered(record: RunRecord, decided: Iterable[ApprovalRecord]) -> bool:
    # A paused run was last changed when it paused: a decision recorded since has not
    # reached it (a delivery resumes it, and its next pause is later again).
    return any(
        a.status in DELIVERABLE and a.decided_at is not None and a.decided_at >= record.updated_at
        for a in decided
    )


async def read_snapshot(store: RunStore, now: float) -> Snapshot:
    """Read what :func:`runs_to_drive` judges: active runs, paused runs' decisions, and
    requests past their expiry (through the store's index of expiring requests)."""
    running = await store.list_runs(status=RunStatus.RUNNING, limit=None)
    paused = await store.list_runs(status=RunStatus.PAUSED, limit=None)
    # One statement for every paused run's decisions, not one per run.
    decided: dict[str, list[ApprovalRecord]] = {r.run_id: [] for r in paused}
    for approval in await store.list_decided(run_status=RunStatus.PAUSED):
        # A run that paused between the two reads has no entry: the next sweep sees it.
        if approval.run_id in decided:
            decided[approval.run_id].append(approval)
    expired = await store.list_expired(now)
    return Snapshot(running=running, paused=paused, decided=decided, expired=expired)
