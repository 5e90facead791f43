"""What a graph's last stored runs show: outcomes, people, retries, time and unit cost.

Every figure is computed from run records, events and review requests as the store keeps
them, so each can be checked against ``railgraph runs`` and ``railgraph show``. Percentiles
are nearest-rank: the p-th percentile of n values is the ceil(p/100 * n)-th smallest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from railgraph.checkpointers import ApprovalRecord, RunRecord, RunStore
from railgraph.vocab import ApprovalStatus, RunStatus

__all__ = ["ENDED_STATUSES", "percentile", "read_runs_profile", "runs_profile"]

ENDED_STATUSES: tuple[str, ...] = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.BUDGET_EXHAUSTED,
    RunStatus.REJECTED,
    RunStatus.CANCELLED,
)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _spread(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def runs_profile(
    records: Sequence[RunRecord], approvals: Sequence[ApprovalRecord]
) -> dict[str, Any]:
    """The figures of ``records`` (the runs considered) and their review requests.

    Rates are shares of all runs considered; wall time is measured on ended runs (a paused
    run's clock is still running); cost per completed outcome divides what *all* the runs
    spent by the number that completed, so failures and rejections are paid for.
    """
    n = len(records)
    statuses = Counter(r.status for r in records)
    asked = {a.run_id for a in approvals}
    ended = [r for r in records if r.status in ENDED_STATUSES]
    costs = [float(r.usage.get("cost_usd", 0.0)) for r in records]
    retries = [int(r.usage.get("retries", 0)) for r in records]
    waits = [
        a.decided_at - a.created_at
        for a in approvals
        if a.decided_at is not None
        and a.status not in (ApprovalStatus.PENDING, ApprovalStatus.CANCELLED)
    ]
    total = sum(costs)
    completed = statuses.get(RunStatus.COMPLETED, 0)
    return {
        "runs": n,
        "statuses": dict(sorted(statuses.items())),
        "completion_rate": _rate(completed, n),
        "escalation_rate": _rate(len(asked), n),
        "rejection_rate": _rate(statuses.get(RunStatus.REJECTED, 0), n),
        "retries": {"total": sum(retries), "runs_with_retries": sum(1 for r in retries if r)},
        "decisions": dict(sorted(Counter(a.status for a in approvals).items())),
        "approval_wait_s": _spread(waits),
        "wall_s": _spread([r.updated_at - r.created_at for r in ended]),
        "cost_usd": {**_spread(costs), "total": total},
        "cost_per_completed_usd": total / completed if completed else None,
    }


async def read_runs_profile(store: RunStore, graph: str, name: str, limit: int) -> dict[str, Any]:
    """The figures of the last ``limit`` runs stored under reference ``graph`` (or ``name``)."""
    records = await store.list_runs(graph=graph, limit=limit)
    if not records:
        records = await store.list_runs(graph=name, limit=limit)
    approvals: list[ApprovalRecord] = []
    for record in records:
        approvals += await store.list_approvals(run_id=record.run_id, status=None)
    return runs_profile(records, approvals)
