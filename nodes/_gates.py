"""The node kinds that decide where a run goes: route, verify, budget and approve."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from railgraph.errors import DecisionError, RouteError, RunError
from railgraph.nodes._channels import Disposition, RequestEntry, consumed, delivered, request_entry
from railgraph.nodes._kinds import NodeKind
from railgraph.nodes._node import GateNode
from railgraph.nodes._nonfinite import exact_json, reviewed_call
from railgraph.nodes._review import Decision, ReviewAction, ReviewRequest
from railgraph.nodes._runtime import NodeContext, call_user
from railgraph.nodes._state import (
    APPROVALS,
    ATTEMPTS,
    BRANCH,
    DECISIONS,
    FEEDBACK,
    PARKED,
    REQUESTS,
    STATUS,
)
from railgraph.nodes._strict import merge_edit
from railgraph.nodes._tools import ToolSpec
from railgraph.nodes._work import ToolNode, approval_hash
from railgraph.verifiers import Verifier, run_verifier
from railgraph.vocab import (
    ApprovalDecidedData,
    ApprovalRequestedData,
    BudgetCheckData,
    DecisionKind,
    GateOutcome,
    NodeEventKind,
    NodeMeta,
    RouteData,
    RunStatus,
    VerdictData,
    shown,
)

__all__ = ["ApproveNode", "BudgetNode", "RouteNode", "VerifyNode"]


@dataclass(frozen=True, kw_only=True)
class RouteNode(GateNode):
    """Chooses the next node with ``fn(state)`` (or ``fn(state, ctx)``) among declared targets."""

    kind = NodeKind.ROUTE
    fn: Callable[..., Any]
    """Returns one of the declared outcome labels."""

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        label = await call_user(self.fn, state, ctx)
        if label not in self.targets:
            declared = ", ".join(map(repr, self.targets))
            raise RouteError(
                f"route {self.id!r} returned {label!r}, which is not one of its declared "
                f"targets ({declared}); declare it in g.route({self.id!r}, ..., targets=...) "
                "or fix the routing function"
            )
        routed: RouteData = {"outcome": label, "target": self.targets[label]}
        ctx.event(NodeEventKind.ROUTE, **routed)
        return self.branch(label, reason=f"route {self.id!r} chose {label!r}")


@dataclass(frozen=True, kw_only=True)
class VerifyNode(GateNode):
    """Runs verifiers on part of the state: ``pass``, ``retry`` a named node, or ``fail``."""

    kind = NodeKind.VERIFY
    on: str | Callable[[Any], Any]
    """State field to check, or a function of the state that picks the value."""
    checks: Sequence[Verifier]
    """Verifiers that must all pass."""
    retry: str | None = None
    """Node to run again with the failures as feedback before giving up."""
    max_retries: int = 1
    """How many times ``retry`` is re-run before the ``fail`` outcome."""

    @property
    def meta(self) -> NodeMeta:
        return {
            "on": self.on if isinstance(self.on, str) else getattr(self.on, "__name__", "value"),
            "checks": [c.name for c in self.checks],
            "retry": self.retry,
            "max_retries": self.max_retries if self.retry else 0,
        }

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        value = getattr(state, self.on) if isinstance(self.on, str) else self.on(state)
        verdicts = [await run_verifier(check, value) for check in self.checks]
        failures = [f.model_dump(mode="json") for v in verdicts for f in v.failures]
        used = int(getattr(state, ATTEMPTS).get(self.id, 0))
        if not failures:
            outcome, update = GateOutcome.PASS, self.branch(GateOutcome.PASS)
            update[ATTEMPTS] = {self.id: 0}
        elif self.retry is not None and used < self.max_retries:
            ctx.ensure_budget("retries", what=f"retry of node {self.retry!r}")
            ctx.spend(retries=1)
            outcome, update = GateOutcome.RETRY, self.branch(GateOutcome.RETRY)
            update[ATTEMPTS] = {self.id: used + 1}
            update[FEEDBACK] = {self.retry: failures}
        else:
            summary = "; ".join(f"{f['path'] or 'value'}: {f['message']}" for f in failures)
            outcome = GateOutcome.FAIL
            update = self.branch(outcome, reason=f"verification failed at {self.id!r}: {summary}")
            update[ATTEMPTS] = {self.id: 0}
            update[FEEDBACK] = {self.id: failures}
        verdict: VerdictData = {
            "outcome": outcome.value,
            "attempt": used + 1,
            "verdicts": [v.model_dump(mode="json") for v in verdicts],
        }
        ctx.event(NodeEventKind.VERDICT, **verdict)
        return update


@dataclass(frozen=True, kw_only=True)
class BudgetNode(GateNode):
    """Compares usage with the run's envelope: ``within`` or ``exceeded``.

    ``needs`` reserves what the rest of the graph must still spend, so a run does not start
    work it cannot finish (for example the two tool calls that create and announce a refund).
    """

    kind = NodeKind.BUDGET
    # The gate judges the budget itself: refusing it for the budget would make its
    # ``exceeded`` outcome unreachable exactly when it is due.
    step_guard = False
    needs: Mapping[str, float] = field(default_factory=dict)
    """Amounts per dimension that must still fit under the envelope."""

    @property
    def meta(self) -> NodeMeta:
        return {"needs": dict(self.needs)}

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        envelope = ctx.runtime.envelope
        # The gate's own step is spent by the time the run moves on: count it. The question
        # is the runtime's own (one predicate): may the work reserved in ``needs`` start?
        usage = ctx.usage.plus(steps=1)
        dimension = usage.over(envelope, self.needs)
        check: BudgetCheckData = {
            "outcome": (GateOutcome.EXCEEDED if dimension else GateOutcome.WITHIN).value,
            "dimension": dimension,
            "usage": usage.model_dump(),
            "limits": envelope.limits(),
            "needs": dict(self.needs),
        }
        ctx.event(NodeEventKind.BUDGET_CHECK, **check)
        if dimension is None:
            return self.branch(GateOutcome.WITHIN)
        used = getattr(usage, dimension)
        limit = getattr(envelope, dimension)
        need = self.needs.get(dimension, 0)
        reason = f"{dimension}: {used:g} of {limit:g} used" + (
            f", {need:g} more needed" if need else ""
        )
        update = self.branch(GateOutcome.EXCEEDED, reason=reason)
        ends = Disposition(status=RunStatus.BUDGET_EXHAUSTED, reason=reason, node=self.id)
        update.setdefault(STATUS, ends.channel_value())
        return update


@dataclass(frozen=True, kw_only=True)
class ApproveNode(GateNode):
    """Parks its branch with a review request until a person approves, edits or rejects.

    The gate does not call ``interrupt()``: LangGraph keeps a whole superstep waiting while
    any of its tasks is interrupted, so parallel branches could not go on one decision at a
    time. Instead the gate records the request in checkpointed state and its branch takes no
    edge; the runner delivers the decision with ``Command(goto=gate)`` and the gate, run again,
    consumes it and takes its outcome. It has no side effects, so nothing runs twice. An
    approval authorises exactly the reviewed call of ``action``.
    """

    kind = NodeKind.APPROVE
    action: ToolNode | None = None
    """The tool node whose next call is under review; ``None`` asks whether to go on."""
    tool: ToolSpec | None = None
    """The tool that ``action`` calls."""
    policy: str = ""
    """What the graph's policy says of that tool."""
    reason: str | Callable[[Any], str] | None = None
    """Why the gate fires, for the reviewer."""
    escalated_from: tuple[str, ...] = ()
    """Verify gates whose ``fail`` outcome leads here; their failures go in the request."""
    reviewers: tuple[str, ...] = ()
    """Who may decide; anyone when empty."""
    allow_self_approval: bool = True
    """Whether the run's starter may approve their own run."""
    expires_after_s: float | None = None
    """Seconds until the request expires and takes the ``expired`` outcome if the gate
    declares one, else ``rejected``; never when unset."""
    rejection_ends_run: bool = True
    """Whether a rejection makes the run end ``rejected``; false when the rejected path
    rejoins the approved one (a detour, such as skipping an optional notice)."""

    @property
    def meta(self) -> NodeMeta:
        meta: NodeMeta = {
            "action": self.action.id if self.action else None,
            "tool": self.tool.name if self.tool else None,
            "reviewers": list(self.reviewers),
        }
        if self.expires_after_s is not None:
            meta["expires_after_s"] = self.expires_after_s
        return meta

    def request(self, state: Any, ctx: NodeContext) -> ReviewRequest:
        """The review request for the current state (pure: computed again on resume)."""
        action = None
        if self.action is not None and self.tool is not None:
            action = ReviewAction(
                node=self.action.id,
                tool=self.tool.name,
                args=self.action.proposed_args(state),
                tier=self.tool.tier.value,
                policy=self.policy,
                description=self.tool.description,
            )
        failures = [
            f for gate in self.escalated_from for f in getattr(state, FEEDBACK).get(gate, [])
        ]
        if callable(self.reason):
            reason = self.reason(state)
        elif self.reason:
            reason = self.reason
        elif failures:
            reason = "verification failed: " + "; ".join(
                f"{f['path'] or 'value'}: {f['message']}" for f in failures
            )
        else:
            reason = f"{self.id} requires a person's approval"
        return ReviewRequest(
            gate=self.id,
            action=action,
            reason=reason,
            spend=ctx.usage.model_dump(),
            failures=failures,
            reviewers=list(self.reviewers),
            allow_self_approval=self.allow_self_approval,
            expires_after_s=self.expires_after_s,
        )

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        request = self.request(state, ctx)
        entry = request_entry(state, self.id)
        delivery = delivered(state, self.id)
        if not (entry.open and delivery and delivery[0] == entry.request_id):
            return self._park(request, entry, ctx)
        decision = Decision.model_validate(delivery[1])
        update = self._decide(request, decision, ctx, entry)
        update[REQUESTS] = {self.id: entry.closed().channel_value()}
        update[DECISIONS] = consumed(self.id)
        return update

    def _park(
        self, request: ReviewRequest, entry: RequestEntry, ctx: NodeContext
    ) -> dict[str, Any]:
        seq = entry.seq + 1
        request_id = hashlib.sha256(f"{ctx.run_id}:{self.id}:{seq}".encode()).hexdigest()[:24]
        # The run keeps the request exactly (an infinity stays one); the store shows it as text.
        body = exact_json(request)
        asked: ApprovalRequestedData = {"request_id": request_id, "request": body}
        ctx.event(NodeEventKind.APPROVAL_REQUESTED, **asked)
        return {
            BRANCH: {self.id: PARKED},
            REQUESTS: {self.id: entry.raised(request_id, body).channel_value()},
        }

    def _decide(
        self, request: ReviewRequest, decision: Decision, ctx: NodeContext, entry: RequestEntry
    ) -> dict[str, Any]:
        if decision.reviewed is not None and request.action is not None:
            # Both exactly as the request is kept: the asked call from the gate's entry, the
            # call now made again from the state (an infinity stays one).
            asked = (entry.request.get("action") or {}).get("args")
            now = exact_json(request.action)["args"]
            self._check_reviewed(decision.reviewed, asked, now, ctx)
        if decision.decision == DecisionKind.HAPPENED:
            raise RunError(
                f"approve gate {self.id!r} got a decision that an effect happened, which only "
                "answers a request about an effect a crash left unknown; start a new run"
            )
        decided: ApprovalDecidedData = {
            "decision": decision.decision.value,
            "by": decision.by,
            "os_user": decision.os_user,
            "host": decision.host,
            "reason": decision.reason,
            "args": decision.args,
        }
        ctx.event(NodeEventKind.APPROVAL_DECIDED, **decided)
        if decision.decision == DecisionKind.EXPIRE and GateOutcome.EXPIRED in self.targets:
            return self.branch(GateOutcome.EXPIRED, reason=decision.reason)
        if not decision.approved:
            update = self.branch(GateOutcome.REJECTED)
            why = (
                f"rejected by {decision.by}"
                if decision.decision == DecisionKind.REJECT
                else "expired"
            )
            if self.rejection_ends_run:
                update[STATUS] = Disposition(
                    status=RunStatus.REJECTED, reason=f"{why}: {decision.reason}", node=self.id
                ).channel_value()
            return update
        update = self.branch(GateOutcome.APPROVED)
        if self.action is not None and self.tool is not None and request.action is not None:
            update[APPROVALS] = {
                self.action.id: {
                    "proposed": approval_hash(request.action.args),
                    "tool": self.tool.name,
                    "args": self._approved_args(request.action.args, decision),
                    "by": decision.by,
                    "decision": decision.decision.value,
                }
            }
        return update

    def _check_reviewed(
        self,
        reviewed: dict[str, Any],
        asked: dict[str, Any] | None,
        proposed: dict[str, Any],
        ctx: NodeContext,
    ) -> None:
        """Refuse a decision taken on other arguments than the call now has.

        The call must be the one the gate asked about, exactly (an infinity is not the text
        "Infinity"), and the reviewer must have seen it: the stored request, its secrets
        redacted and its numbers that are not finite shown as text.
        """
        verdict = reviewed_call(reviewed, asked, proposed, ctx.runtime.redact)
        if verdict == "same":
            return
        redact = ctx.runtime.redact
        saw, now = redact(shown(reviewed)), redact(shown(proposed))
        if verdict == "stored_before":
            raise RunError(
                f"approve gate {self.id!r}: the reviewer was shown null where the call has a "
                f"number that is not finite (reviewed {saw}, the call has {now}); earlier "
                "releases stored such numbers in the review queue as null, so nobody saw the "
                "call as it would run — the run stops, start a new run"
            )
        # Shown alike, yet not the same call: a number that is not finite became its text.
        how = "; a number that is not finite became its text, or the reverse" if saw == now else ""
        raise RunError(
            f"approve gate {self.id!r}: the call under review changed between the "
            f"request and the decision (reviewed {saw}, now {now}{how}); "
            "the run stops so that nothing runs that a person did not approve — "
            "start a new run"
        )

    def _approved_args(self, proposed: dict[str, Any], decision: Decision) -> dict[str, Any]:
        """The arguments the decision allows, in the form the tool call checks them in."""
        assert self.tool is not None
        if not decision.args:
            try:
                return exact_json(self.tool.input.model_validate(proposed))
            except ValidationError:
                return proposed  # the tool call refuses them, naming the problem
        try:
            return merge_edit(self.tool, proposed, decision.args)
        except DecisionError as exc:
            # decide() checked the edit when it was made: the tool's schema changed since.
            raise RunError(
                f"approve gate {self.id!r}: the edit recorded by {decision.by} no longer fits "
                f"tool {self.tool.name!r} ({exc}); start a new run"
            ) from None
