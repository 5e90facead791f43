"""One model-chosen call of an agent node through the rails: check, decide, run, verify.

Each call of a model turn is handled on its own: an undeclared tool or bad arguments and a
policy block answer the model with a ToolMessage; an auto call runs through the same guarded
path as a tool node (:func:`railgraph.nodes._toolcall.call_tool`, keyed in the ledger by run, node,
turn and call); a call the policy sends to a person parks with a review request bound to its
tool_call_id and arguments until a decision is delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, ToolCall, ToolMessage
from pydantic import ValidationError

from railgraph.errors import EffectRefused, ToolError, VerificationFailed
from railgraph.nodes._kinds import PolicyAction
from railgraph.nodes._nonfinite import exact_json, reviewed_call
from railgraph.nodes._review import Decision, ReviewAction, ReviewRequest
from railgraph.nodes._rules import rule_that_fired
from railgraph.nodes._runtime import NodeContext
from railgraph.nodes._strict import merge_edit
from railgraph.nodes._toolcall import call_tool, canonical_json
from railgraph.nodes._tools import ToolPolicy, ToolSpec
from railgraph.verifiers import Verifier, run_verifier
from railgraph.vocab import AgentCallOutcome as O
from railgraph.vocab import (
    AgentCallStatus,
    ApprovalDecidedData,
    DecisionKind,
    GateOutcome,
    NodeEventKind,
    shown,
)
from railgraph.vocab import AgentCallStatus as S

__all__ = ["ARTIFACT_KEY", "CallOutcome", "CallStatus", "Calls", "record_of", "request_key"]

ARTIFACT_KEY = "railgraph"
"""Key of railgraph's record in a ToolMessage's artifact: ``{"outcome", "tool", ...}``."""

CallStatus = AgentCallStatus
"""A call's status in the trace, as in the seed's trace example."""


def request_key(agent: str, call_id: str) -> str:
    """Key of a call's review request in the requests channel (one per call, not per node)."""
    return f"{agent}#{call_id}"


@dataclass
class CallOutcome:
    """What handling one call produced."""

    message: ToolMessage | None = None
    """The answer for the model; ``None`` while the call waits for a person."""
    request: dict[str, Any] | None = None
    """A requests-channel entry to write (a new request, or a decided one closed)."""
    consumed: bool = False
    """Whether a delivered decision was used (so the decisions channel is cleared)."""
    waiting: bool = False
    """Whether the call waits for a person."""
    escalate: str | None = None
    """Outcome the agent takes because of this call (rejection ends, verification gives up)."""
    reason: str = ""
    """Why, when ``escalate`` is set."""


@dataclass
class Calls:
    """The rails of one agent node, applied to the calls of one model turn."""

    agent: str
    tools: Mapping[str, ToolSpec]
    policy: ToolPolicy
    verifiers: Mapping[str, Sequence[Verifier]]
    max_verify_retries: int
    reviewers: tuple[str, ...]
    allow_self_approval: bool
    rejection_outcome: str | None
    escalation_outcome: str | None
    history: Sequence[BaseMessage] = field(default_factory=list)

    async def handle(
        self,
        ctx: NodeContext,
        call: ToolCall,
        *,
        turn: int,
        requests: Mapping[str, Any],
        decisions: Mapping[str, Any],
    ) -> CallOutcome:
        call_id = call["id"] or f"turn{turn}"
        name = call["name"]
        spec = self.tools.get(name)
        if spec is None:
            known = ", ".join(sorted(self.tools)) or "none"
            text = f"Error: there is no tool {name!r}. The tools you may call are: {known}."
            return self._answer(ctx, call, turn, S.ERROR, text, O.INVALID)
        try:
            payload = exact_json(spec.input.model_validate(call["args"]))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(arguments)'}: {e['msg']}" for e in exc.errors()
            )
            text = f"Error: invalid arguments for {name}: {problems}. Fix them and call again."
            return self._answer(ctx, call, turn, S.ERROR, text, O.INVALID)
        action = self.policy.action(spec, payload)
        rule = rule_that_fired(self.policy, spec, payload)
        if action is PolicyAction.BLOCK:
            text = f"Refused: the graph's policy blocks this call ({rule}). It did not run."
            return self._answer(ctx, call, turn, S.BLOCKED, text, O.BLOCKED, rule=rule)
        if action is PolicyAction.AUTO:
            return await self._run(ctx, call, turn, spec, payload, rule=rule)
        key = request_key(self.agent, call_id)
        entry: Mapping[str, Any] = requests.get(key) or {}
        delivered = decisions.get(key)
        if entry.get("open") and delivered and delivered.get("request_id") == entry["request_id"]:
            return await self._decided(ctx, call, turn, spec, payload, entry, delivered, rule)
        if entry.get("open"):
            return CallOutcome(waiting=True)
        return self._park(ctx, call, turn, spec, payload, entry, rule)

    def malformed(self, ctx: NodeContext, call: ToolCall, error: str, *, turn: int) -> ToolMessage:
        """The answer to a call whose arguments the model's reply did not parse."""
        text = (
            f"Error: the arguments of your call to {call['name']} could not be read "
            f"({error}). Call again with valid arguments."
        )
        out = self._answer(ctx, call, turn, S.ERROR, text, O.INVALID)
        assert out.message is not None
        return out.message

    # -- decisions ---------------------------------------------------------------------------

    def _park(
        self,
        ctx: NodeContext,
        call: ToolCall,
        turn: int,
        spec: ToolSpec,
        payload: dict[str, Any],
        entry: Mapping[str, Any],
        rule: str,
    ) -> CallOutcome:
        call_id = call["id"] or f"turn{turn}"
        seq = int(entry.get("seq", 0)) + 1
        key = request_key(self.agent, call_id)
        request_id = hashlib.sha256(f"{ctx.run_id}:{key}:{seq}".encode()).hexdigest()[:24]
        request = ReviewRequest(
            gate=self.agent,
            action=ReviewAction(
                node=self.agent,
                tool=spec.name,
                args=payload,
                tier=spec.tier.value,
                policy=self.policy.describe(spec),
                description=spec.description,
            ),
            reason=f"the model of agent {self.agent!r} chose {spec.name} (turn {turn}); {rule}",
            spend=ctx.usage.model_dump(),
            reviewers=list(self.reviewers),
            allow_self_approval=self.allow_self_approval,
            call_id=call_id,
            turn=turn,
            rule=rule,
            conversation=_recent(self.history),
        )
        # The run keeps the request exactly (an infinity stays one); the store shows it as text.
        body = exact_json(request)
        ctx.event(NodeEventKind.APPROVAL_REQUESTED, request_id=request_id, request=body)
        self._event(ctx, call, turn, spec.name, payload, S.NEEDS_APPROVAL, rule=rule)
        return CallOutcome(
            request={
                key: {
                    "seq": seq,
                    "open": True,
                    "request_id": request_id,
                    "request": body,
                    "node": self.agent,
                }
            },
            waiting=True,
        )

    async def _decided(
        self,
        ctx: NodeContext,
        call: ToolCall,
        turn: int,
        spec: ToolSpec,
        payload: dict[str, Any],
        entry: Mapping[str, Any],
        delivered: Mapping[str, Any],
        rule: str,
    ) -> CallOutcome:
        key = request_key(self.agent, call["id"] or f"turn{turn}")
        decision = Decision.model_validate(delivered["decision"])
        # The call asked about, exactly, is the call now, and the reviewer saw it (redacted
        # and with its numbers that are not finite shown as text, as the store keeps it).
        asked = ((entry.get("request") or {}).get("action") or {}).get("args")
        redact = ctx.runtime.redact
        if decision.reviewed is not None and (
            reviewed_call(decision.reviewed, asked, payload, redact) != "same"
        ):
            raise ToolError(
                f"agent {self.agent!r}: the decision on call {call['id']} was taken on other "
                f"arguments ({redact(shown(decision.reviewed))}) than the call has "
                f"({redact(shown(payload))}); nothing ran — start a new run"
            )
        decided: ApprovalDecidedData = {
            "decision": decision.decision.value,
            "by": decision.by,
            "os_user": decision.os_user,
            "host": decision.host,
            "reason": decision.reason,
            "args": decision.args,
            "call_id": call["id"],
        }
        ctx.event(NodeEventKind.APPROVAL_DECIDED, **decided)
        closed = {key: {**entry, "open": False}}
        if not decision.approved:
            why = decision.reason or "no reason given"
            verb = "rejected" if decision.decision == DecisionKind.REJECT else "let expire"
            text = f"A reviewer ({decision.by}) {verb} this call: {why}. It did not run."
            out = self._answer(
                ctx, call, turn, S.REJECTED, text, O.REJECTED, by=decision.by, rule=rule
            )
            out.request, out.consumed = closed, True
            if self.rejection_outcome is not None:
                out.escalate = self.rejection_outcome
                out.reason = f"{spec.name} {verb} by {decision.by}: {why}"
            return out
        args = payload
        if decision.decision == DecisionKind.EDIT and decision.args:
            args = merge_edit(spec, payload, decision.args)
        out = await self._run(
            ctx, call, turn, spec, args, rule=rule, decision=decision, proposed=payload
        )
        out.request, out.consumed = closed, True
        return out

    # -- running -----------------------------------------------------------------------------

    async def _run(
        self,
        ctx: NodeContext,
        call: ToolCall,
        turn: int,
        spec: ToolSpec,
        args: dict[str, Any],
        *,
        rule: str,
        decision: Decision | None = None,
        proposed: dict[str, Any] | None = None,
    ) -> CallOutcome:
        call_id = call["id"] or f"turn{turn}"
        started = ctx.runtime.timer()
        if decision is not None:
            # The approval of exactly this call, from the decision recorded on its request
            # in checkpointed state; the guarded call spends it (never author code).
            ctx._approval = {"tool": spec.name, "args": args}
        try:
            result = await call_tool(ctx, spec.name, args, scope=f"{turn}:{call_id}")
        except EffectRefused:
            raise  # a person stopped the run: the model must not make the call again
        except ToolError as exc:
            text = f"Error: {spec.name} failed: {exc}"
            return self._answer(ctx, call, turn, S.ERROR, text, O.ERROR, rule=rule, args=args)
        latency = round((ctx.runtime.timer() - started) * 1000, 3)
        by = decision.by if decision is not None else None
        edited = decision is not None and proposed is not None and args != proposed
        if edited:
            head = (
                f"A reviewer ({by}) edited your call before it ran: it ran with "
                f"{canonical_json(args)} (you proposed {canonical_json(proposed)}). Result: "
            )
        elif decision is not None:
            head = f"Approved by a reviewer ({by}). Result: "
        else:
            head = ""
        failures = await self._verify(ctx, spec, result)
        outcome = O.EDITED if edited else (O.APPROVED if decision is not None else O.OK)
        if failures:
            lines = "; ".join(f"{f.get('path') or 'value'}: {f['message']}" for f in failures)
            text = f"{head}{canonical_json(result)}. The result failed verification: {lines}."
            out = self._answer(
                ctx, call, turn, S.ERROR, text, O.VERIFY_FAILED, by=by, rule=rule, args=args
            )
            used = sum(
                1
                for m in self.history
                if isinstance(m, ToolMessage)
                and _record(m).get("outcome") == O.VERIFY_FAILED
                and m.name == spec.name
            )
            if used >= self.max_verify_retries:
                reason = f"results of {spec.name} kept failing verification: {lines}"
                if self.escalation_outcome is None:
                    raise VerificationFailed(
                        f"agent {self.agent!r}: {reason}; pass escalated='a_gate' to "
                        "g.agent(...) to hand it to a person instead of failing the run"
                    )
                out.escalate, out.reason = self.escalation_outcome, reason
            return out
        text = f"{head}{canonical_json(result)}"
        return self._answer(
            ctx, call, turn, S.OK, text, outcome, by=by, rule=rule, args=args, latency=latency
        )

    async def _verify(
        self, ctx: NodeContext, spec: ToolSpec, result: dict[str, Any]
    ) -> list[dict[str, Any]]:
        checks = self.verifiers.get(spec.name, ())
        if not checks:
            return []
        verdicts = [await run_verifier(check, result) for check in checks]
        failures = [f.model_dump(mode="json") for v in verdicts for f in v.failures]
        ctx.event(
            NodeEventKind.VERDICT,
            outcome=(GateOutcome.FAIL if failures else GateOutcome.PASS).value,
            tool=spec.name,
            verdicts=[v.model_dump(mode="json") for v in verdicts],
        )
        return failures

    # -- answers -----------------------------------------------------------------------------

    def _answer(
        self,
        ctx: NodeContext,
        call: ToolCall,
        turn: int,
        status: CallStatus,
        text: str,
        outcome: O,
        *,
        by: str | None = None,
        rule: str | None = None,
        args: dict[str, Any] | None = None,
        latency: float = 0.0,
    ) -> CallOutcome:
        call_id = call["id"] or f"turn{turn}"
        record = {"outcome": outcome.value, "turn": turn, "by": by, "ran_args": args}
        message = ToolMessage(
            text,
            tool_call_id=call_id,
            name=call["name"],
            status="success" if status == S.OK else "error",
            artifact={ARTIFACT_KEY: record},
            id=f"{self.agent}:{turn}:{call_id}",
        )
        self._event(
            ctx, call, turn, call["name"], call["args"], status, rule=rule, by=by,
            decision=outcome, ran_args=args, latency=latency,
        )  # fmt: skip
        return CallOutcome(message=message)

    def _event(
        self,
        ctx: NodeContext,
        call: ToolCall,
        turn: int,
        tool: str,
        args: Mapping[str, Any],
        status: CallStatus,
        *,
        rule: str | None = None,
        by: str | None = None,
        decision: str | None = None,
        ran_args: Mapping[str, Any] | None = None,
        latency: float = 0.0,
    ) -> None:
        ctx.event(
            NodeEventKind.AGENT_CALL,
            turn=turn,
            call_id=call["id"],
            tool=tool,
            args=dict(args),
            status=status.value,
            decision=str(decision) if decision is not None else None,
            by=by,
            rule=rule,
            ran_args=dict(ran_args) if ran_args is not None else None,
            latency_ms=latency,
        )


def _record(message: ToolMessage) -> dict[str, Any]:
    artifact = message.artifact
    if isinstance(artifact, dict):
        record = artifact.get(ARTIFACT_KEY)
        if isinstance(record, dict):
            return record
    return {}


def _recent(history: Sequence[BaseMessage], count: int = 6) -> list[dict[str, Any]]:
    """The last messages as ``{"role", "content"}``, a call shown as its name and arguments."""
    out = []
    for message in list(history)[-count:]:
        text: str = str(message.text)
        calls = getattr(message, "tool_calls", None) or []
        if calls:
            text = (text + " " if text else "") + "; ".join(
                f"calls {c['name']}({canonical_json(c['args'])})" for c in calls
            )
        out.append({"role": message.type, "content": text[:500]})
    return out


def record_of(message: ToolMessage) -> dict[str, Any]:
    """railgraph's record in a ToolMessage an agent wrote (``{}`` for other messages)."""
    return _record(message)
