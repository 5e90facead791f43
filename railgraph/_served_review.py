"""A review request as LangGraph's server shows it, and the decision a person's answer makes.

A served graph asks through ``interrupt()`` with a list of one *HumanInterrupt*, the shape
Agent Inbox displays (``action_request {action, args}``, ``config {allow_accept, allow_edit,
allow_respond, allow_ignore}``, ``description``), plus a ``railgraph`` key with the request
as the run store keeps it. The answer is Agent Inbox's *HumanResponse* (``{type, args}``,
alone or in a list) or railgraph's own decision (``{decision, by, args, reason}``):

- ``accept`` approves the call as proposed;
- ``edit`` approves it with the arguments in ``args.args`` (Agent Inbox sends every value as
  text: a value whose proposed form is not text is read as JSON, so ``"80"`` is 80);
- ``response`` rejects it, its text being the reason;
- ``ignore`` is refused: a run on rails does not skip a review silently.

Who decides is the response's ``by`` if it names someone, else the user the server
authenticated; an answer with neither is refused, as is any the queue's rules refuse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from railgraph._decisions import parse_decision
from railgraph.checkpointers import ApprovalRecord
from railgraph.errors import DecisionError
from railgraph.nodes import Decision, ReviewRequest
from railgraph.vocab import DecisionKind, InboxResponse, ReviewKind

__all__ = ["asked_request", "decision_of", "human_interrupt"]


def human_interrupt(approval: ApprovalRecord, refused: str | None = None) -> dict[str, Any]:
    """The interrupt value of a pending request: one HumanInterrupt, with railgraph's request.

    Args:
        approval: The request as the run store keeps it (its secrets redacted).
        refused: Why the last answer was refused, told to the reviewer first.
    """
    review = ReviewRequest.model_validate(approval.request)
    action = review.action
    can_edit = action is not None and review.kind != ReviewKind.UNKNOWN_EFFECT
    lines = []
    if refused:
        lines += [f"**Your last answer was refused:** {refused}", ""]
    lines += [f"**{review.reason}**", ""]
    if action is not None:
        lines.append(
            f"Tool `{action.tool}` ({action.tier}, policy: {action.policy}) at node "
            f"`{action.node}`: {action.description}".rstrip(": ")
        )
    lines.append(
        f"Gate `{review.gate}` of run `{approval.run_id}`; request `{approval.request_id}`."
    )
    spend = ", ".join(f"{k} {v:g}" for k, v in sorted(review.spend.items()) if v)
    if spend:
        lines.append(f"Spent so far: {spend}.")
    if review.reviewers:
        lines.append(f"Reviewers: {', '.join(review.reviewers)}.")
    if review.kind == ReviewKind.UNKNOWN_EFFECT:
        # Accept sends the call again: said plainly, since a call that did go out must not.
        lines.append(
            "Accept only if the call did not happen: it is sent again. If it happened, "
            'answer {"decision": "happened", "by": "<your name>", "result": {...}} with the '
            "result the target system shows. Respond with the reason to stop the run."
        )
    else:
        lines.append(
            "Accept to approve"
            + (", edit the arguments to approve them changed" if can_edit else "")
            + ", or respond with the reason to reject."
        )
    return {
        "action_request": {
            "action": action.tool if action is not None else review.gate,
            "args": dict(action.args) if action is not None else {},
        },
        "config": {
            "allow_accept": True,
            "allow_edit": can_edit,
            "allow_respond": True,
            "allow_ignore": False,
        },
        "description": "\n".join(lines),
        "railgraph": {
            "request_id": approval.request_id,
            "run_id": approval.run_id,
            "gate": approval.node,
            "request": approval.request,
        },
    }


def asked_request(interrupt_id: str, value: Any) -> tuple[str, dict[str, Any], bool]:
    """The request an interrupt asks about: (request id, request, whether a served graph asked).

    A runner's tool node asks with the request itself, under the interrupt's id. A node a
    served graph ran asks with `human_interrupt`'s list of one, which names the request the
    queue already holds; only the server answers it (the node waits there for an answer in
    Agent Inbox's shape, and a decision recorded meanwhile is the one it delivers), so a
    runner that resumes such a thread leaves it waiting.
    """
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        served = value[0].get("railgraph")
        if isinstance(served, Mapping) and isinstance(served.get("request_id"), str):
            return served["request_id"], dict(served["request"]), True
    return interrupt_id, dict(value), False


def decision_of(answer: Any, review: ReviewRequest, identity: str | None) -> Decision:
    """The decision an answer to a served graph's interrupt makes (not yet checked against
    the queue's rules).

    Args:
        answer: What the server resumed the interrupt with.
        review: The request answered.
        identity: The user the server authenticated, if any.

    Raises:
        DecisionError: Naming what is wrong with the answer and how to give one.
    """
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if not isinstance(answer, Mapping):
        raise DecisionError(
            'resume with a HumanResponse such as {"type": "accept", "by": "maria"} '
            f"(or a list of one), not {json.dumps(answer, default=str)[:200]}"
        )
    by = answer.get("by") or identity
    if not isinstance(by, str) or not by.strip():
        raise DecisionError(
            "the answer names no reviewer and the server authenticated nobody: add "
            '"by": "<your name>" to the response'
        )
    if "decision" in answer:
        return parse_decision({**answer, "by": by})
    kind = answer.get("type")
    args = answer.get("args")
    if kind == InboxResponse.ACCEPT:
        return parse_decision({"decision": DecisionKind.APPROVE, "by": by})
    if kind == InboxResponse.RESPONSE:
        if not isinstance(args, str) or not args.strip():
            raise DecisionError("a response rejects the request: give the reason as its text")
        return parse_decision({"decision": DecisionKind.REJECT, "by": by, "reason": args})
    if kind == InboxResponse.EDIT:
        edited = args.get("args") if isinstance(args, Mapping) else None
        if not isinstance(edited, Mapping):
            raise DecisionError(
                "an edit carries the action with its new arguments: "
                '{"type": "edit", "args": {"action": ..., "args": {...}}}'
            )
        proposed = review.action.args if review.action is not None else {}
        changed = {
            key: value
            for key, value in ((k, _typed(v, proposed.get(k))) for k, v in edited.items())
            if key not in proposed or proposed[key] != value
        }
        if not changed:
            return parse_decision({"decision": DecisionKind.APPROVE, "by": by})
        return parse_decision({"decision": DecisionKind.EDIT, "by": by, "args": changed})
    if kind == InboxResponse.IGNORE:
        raise DecisionError(
            "ignore is not a decision on this request: accept it, edit it, or respond with "
            "the reason to reject it"
        )
    raise DecisionError(
        f"unknown response type {kind!r}: use accept, edit or response "
        '(or railgraph\'s {"decision": ..., "by": ...})'
    )


def _typed(value: Any, proposed: Any) -> Any:
    """An edited value in the type of the proposed one: Agent Inbox sends text."""
    if isinstance(value, str) and proposed is not None and not isinstance(proposed, str):
        try:
            return json.loads(value)
        except ValueError:
            return value  # the tool's schema refuses it, naming the field
    return value
