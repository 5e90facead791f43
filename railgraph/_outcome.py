"""Where a run stands after the runner drove it, and how a failure maps to a status."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from railgraph.checkpointers import ApprovalRecord, RunRecord
from railgraph.errors import BudgetExhausted, RunCancelled
from railgraph.vocab import DELIVERABLE, ENDED, RunStatus, shown

__all__ = [
    "DELIVERABLE",
    "ENDED",
    "RunOutcome",
    "RunStatus",
    "ended",
    "failure",
    "short_traceback",
]


@dataclass(frozen=True)
class RunOutcome:
    """Where a run stands after a call to the runner."""

    run_id: str
    """The run."""
    status: RunStatus
    """``paused``, ``completed``, ``failed``, ``budget_exhausted``, ``rejected``, …"""
    result: dict[str, Any]
    """The state's fields (partial if the run stopped early)."""
    usage: dict[str, Any]
    """What the run spent."""
    reason: str | None = None
    """Why the run failed, was rejected, ran out of budget or is paused."""
    pending: list[ApprovalRecord] = field(default_factory=list)
    """Review requests waiting for a person, when paused."""

    def to_json(self) -> dict[str, Any]:
        """The outcome as JSON data (what ``--json`` prints and the HTTP API returns): a NaN or
        an infinity in its result is shown as text, as people are shown it everywhere."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "result": shown(self.result),
            "usage": self.usage,
            "pending": [
                {"request_id": p.request_id, "node": p.node, "request": p.request}
                for p in self.pending
            ],
        }


def failure(error: BaseException) -> tuple[RunStatus, str]:
    if isinstance(error, BudgetExhausted):
        return RunStatus.BUDGET_EXHAUSTED, str(error)
    if isinstance(error, RunCancelled):
        return RunStatus.CANCELLED, str(error)
    from langgraph.errors import GraphRecursionError  # here: the CLI's reads never load LangGraph

    if isinstance(error, GraphRecursionError):
        return RunStatus.FAILED, (
            "the run took more steps than its recursion limit; it may loop forever — set a "
            "steps limit in the budget or add an exit to the loop"
        )
    return RunStatus.FAILED, f"{type(error).__name__}: {error}"


def short_traceback(error: BaseException) -> str:
    return "".join(traceback.format_exception(error, limit=-3))


def ended(record: RunRecord) -> RunOutcome:
    """Where a run stands as stored, for a caller that did not drive it to there."""
    return RunOutcome(
        record.run_id, record.status, record.result or {}, record.usage, record.error or None
    )
