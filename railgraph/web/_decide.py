"""Deciding, cancelling and resuming from the web: the runner's operations, and the HTTP status
each refusal takes.

The runner is the one implementation: it checks the reviewers, self-approval, the edit and
whether the request is still pending, and its message is what the page and the API show. This
module only chooses the status code that fits a refusal (404 unknown, 409 already decided or
not in a state to decide, 403 not allowed to, 400 malformed), by looking at the request as
stored once the runner has refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from railgraph._outcome import RunOutcome
from railgraph.checkpointers import ApprovalRecord
from railgraph.errors import DecisionError, InputError, RailgraphError
from railgraph.nodes import Decision, ReviewRequest
from railgraph.vocab import ApprovalStatus
from railgraph.web._auth import Principal
from railgraph.web._state import WebState

__all__ = ["DECISIONS", "DecideError", "cancel", "decide", "decision_of", "resume", "status_of"]

DECISIONS = ("approve", "edit", "reject", "happened")
"""What a reviewer may answer (railgraph alone expires requests)."""


class DecideError(Exception):
    """An operation the runner refused, with the HTTP status that fits."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _matches(name: str | None, other: str) -> bool:
    return name is not None and name.strip().casefold() == other.strip().casefold()


async def _target(state: WebState, run_id: str, request_id: str | None) -> ApprovalRecord | None:
    store = state.runner.store
    if request_id is not None:
        return await store.get_approval(request_id)
    pending = await store.list_approvals(run_id=run_id, status=ApprovalStatus.PENDING)
    return pending[0] if len(pending) == 1 else None


async def status_of(
    state: WebState,
    error: RailgraphError,
    *,
    run_id: str,
    request_id: str | None = None,
    user: Principal | None = None,
    approving: bool = False,
) -> int:
    """The HTTP status for an error the runner raised on ``run_id``."""
    if isinstance(error, InputError):
        record = await state.runner.store.get_run(run_id)
        return 404 if record is None else 400
    if not isinstance(error, DecisionError):
        return 500
    record = await state.runner.store.get_run(run_id)
    if record is None:
        return 404
    approval = await _target(state, run_id, request_id)
    if request_id is not None and (approval is None or approval.run_id != run_id):
        return 404
    if approval is None or approval.status != ApprovalStatus.PENDING:
        return 409  # decided already, or nothing (or more than one thing) to decide
    if user is not None:
        review = ReviewRequest.model_validate(approval.request)
        if review.reviewers and not any(_matches(user.name, r) for r in review.reviewers):
            return 403
        if approving and not review.allow_self_approval and _matches(record.started_by, user.name):
            return 403
    if "changed since run" in str(error):
        return 409
    return 400


def decision_of(
    kind: str,
    user: Principal,
    *,
    args: dict[str, Any] | None,
    reason: str | None,
    result: dict[str, Any] | None = None,
) -> Decision:
    """The decision a reviewer submitted, recorded under their signed-in name.

    ``happened`` (with the ``result`` observed) answers a request about an effect a crash
    left unknown.

    Raises:
        DecideError: The decision is malformed (400).
    """
    if kind not in DECISIONS:
        raise DecideError(
            f"unknown decision {kind!r}; use approve, edit or reject (or happened, for an "
            "effect a crash left unknown)",
            400,
        )
    try:
        return Decision.model_validate(
            {
                "decision": kind,
                "by": user.name,
                "args": args or None,
                "reason": reason or None,
                "result": result,
            }
        )
    except ValidationError as exc:
        message = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise DecideError(message, 400) from None


async def decide(
    state: WebState,
    run_id: str,
    decision: Decision,
    *,
    user: Principal,
    request_id: str | None,
) -> RunOutcome:
    """Record a decision through the runner and resume the run.

    Raises:
        DecideError: The runner refused; the message is the runner's.
    """
    try:
        return await state.op(lambda: state.runner.decide(run_id, decision, request_id=request_id))
    except RailgraphError as exc:
        status = await status_of(
            state,
            exc,
            run_id=run_id,
            request_id=request_id,
            user=user,
            approving=decision.approved,
        )
        raise DecideError(str(exc), status) from None


async def cancel(state: WebState, run_id: str, *, user: Principal, reason: str) -> RunOutcome:
    """Stop a run for good through the runner; only admins may.

    Raises:
        DecideError: Not an admin (403), no reason (400), unknown run (404), already ended (409).
    """
    if not user.admin:
        raise DecideError(
            f"{user.name} is a reviewer; only an admin may cancel runs (add one with "
            "`railgraph users add NAME --role admin`)",
            403,
        )
    if not reason.strip():
        raise DecideError("a cancellation needs a reason, e.g. 'duplicate ticket'", 400)
    try:
        return await state.op(lambda: state.runner.cancel(run_id, by=user.name, reason=reason))
    except RailgraphError as exc:
        status = await status_of(state, exc, run_id=run_id)
        raise DecideError(str(exc), 409 if status == 400 else status) from None


async def resume(state: WebState, run_id: str) -> RunOutcome:
    """Continue an interrupted run through the runner.

    Raises:
        DecideError: Unknown run (404), ended or changed graph (409).
    """
    try:
        return await state.op(lambda: state.runner.resume(run_id))
    except RailgraphError as exc:
        status = await status_of(state, exc, run_id=run_id)
        raise DecideError(str(exc), 409 if status == 400 else status) from None
