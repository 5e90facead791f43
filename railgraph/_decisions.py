"""Which decisions a reviewer may take on a request, with their data checked, and how one
is recorded.

The rules of the review queue (reviewer lists, self-approval, what each kind of request
accepts) in one place, apart from delivering decisions to runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from railgraph._graph import RailGraph
from railgraph._identity import os_host, os_user
from railgraph.checkpointers import RunRecord, RunStore
from railgraph.errors import DecisionError
from railgraph.nodes import Decision, ReviewRequest, merge_edit, observed_result
from railgraph.nodes._review import same_person
from railgraph.vocab import DecisionKind, ReviewKind

__all__ = ["checked_decision", "parse_decision", "record_decision"]


def checked_decision(
    decision: Decision,
    review: ReviewRequest,
    rail: RailGraph,
    record: RunRecord,
    request_id: str,
) -> Decision:
    """The decision if this reviewer may take it on this request, with its data checked.

    Names are compared trimmed and case-insensitively. An edit's arguments and an observed
    result are checked strictly against the tool's schemas and stored as checked.

    Raises:
        DecisionError: Naming what is wrong; the request stays pending.
    """
    if review.reviewers and not any(same_person(decision.by, r) for r in review.reviewers):
        raise DecisionError(
            f"{decision.by} may not decide request {request_id}; its reviewers are "
            f"{', '.join(review.reviewers)}"
        )
    if (
        decision.decision.approves
        and not review.allow_self_approval
        and same_person(decision.by, record.started_by)
    ):
        raise DecisionError(
            f"{decision.by} started run {record.run_id} and may not approve it; "
            "ask another reviewer"
        )
    if decision.decision == DecisionKind.EXPIRE:
        raise DecisionError("only railgraph expires requests; approve, edit or reject")
    unknown_effect = review.kind == ReviewKind.UNKNOWN_EFFECT
    if decision.decision == DecisionKind.HAPPENED:
        if not unknown_effect or review.action is None:
            raise DecisionError(
                f"request {request_id} asks for an approval, not about an effect a crash left "
                "unknown; approve, edit or reject it"
            )
        result = observed_result(rail.tools[review.action.tool], decision.result or {})
        return decision.model_copy(update={"result": result})
    if decision.decision == DecisionKind.EDIT:
        if unknown_effect:
            raise DecisionError(
                f"request {request_id} asks whether to send a call again after a crash; its "
                "arguments cannot change — approve to send it again, say it happened with "
                "its result, or reject it"
            )
        if review.action is None:
            raise DecisionError(
                f"request {request_id} reviews no action, so there are no arguments "
                "to edit; approve or reject it"
            )
        # Refused here, while the request is still pending; the gate merges it again.
        merge_edit(rail.tools[review.action.tool], review.action.args, decision.args or {})
    return decision


def parse_decision(data: Mapping[str, Any]) -> Decision:
    """A decision from plain data, or a DecisionError naming what is wrong."""
    try:
        return Decision.model_validate(dict(data))
    except ValidationError as exc:
        raise DecisionError(
            "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        ) from None


def _stamped(decision: Decision, review: ReviewRequest, at: float) -> Decision:
    """The decision as it is stored: when it was taken, on which arguments (as the reviewer
    saw them), and by which operating-system user on which host."""
    return decision.model_copy(
        update={
            "at": at,
            "reviewed": review.action.args if review.action is not None else None,
            "effect": review.effect,
            "os_user": os_user(),
            "host": os_host(),
        }
    )


async def record_decision(
    store: RunStore,
    request_id: str,
    decision: Decision,
    review: ReviewRequest,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Record a checked decision on a pending request (a compare-and-set); return it as stored.

    Raises:
        DecisionError: The request is not pending (decided meanwhile); nothing was changed.
    """
    data = _stamped(decision, review, clock()).model_dump(mode="json")
    await store.decide_approval(
        request_id, status=decision.decision.status, decision=data, decided_by=decision.by
    )
    return data
