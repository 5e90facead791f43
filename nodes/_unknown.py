"""Asking a person about a tool effect a crash left unknown, and taking their answer.

A tool node that finds its non-idempotent effect `started` (or `failed`) in the ledger asks
whether to send the call again, what it returned if it happened, or to stop. One approval
sends the call once; an answer never passes for one about another effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.config import get_config
from langgraph.types import interrupt

from railgraph.errors import EffectRefused
from railgraph.nodes._nonfinite import exact_json
from railgraph.nodes._review import Decision, ReviewAction, ReviewRequest
from railgraph.nodes._strict import validate
from railgraph.nodes._tools import ToolSpec
from railgraph.vocab import (
    DecisionKind,
    EffectReviewedData,
    EffectStatus,
    NodeEventKind,
    ReviewKind,
    shown,
)

if TYPE_CHECKING:
    from railgraph.nodes._runtime import EffectState, NodeContext

__all__ = ["review_unknown"]


async def review_unknown(
    ctx: NodeContext, spec: ToolSpec, payload: dict[str, Any], key: str, prior: EffectState
) -> dict[str, Any] | None:
    """Pause for a person when an effect's outcome is unknown, and return what they found.

    The node re-runs from its first line on resume: calls before this one replay from
    the ledger, and this one comes back here with the person's decision. The runtime's
    ``ask`` puts the question where it has one; otherwise ``interrupt()`` does.

    One approval sends the call once. A re-run of the node's task is handed its old
    answers again (LangGraph keeps them, and a runner delivers a decision recorded for
    its question), so an approval whose re-send the ledger shows (its outcome unknown
    again: a crash before its record) is spent, and the next question is put to a person.

    Returns:
        ``None`` to send the call again (it did not happen, and the ledger has claimed the
        re-send), or the result the person observed (it did happen).

    Raises:
        EffectRefused: The person chose to stop the run.
    """
    task = _task()
    question = 1
    spent: Decision | None = None
    while True:
        decision = await _ask(
            ctx, _unknown_request(ctx, spec, payload, key, prior, spent), key, question
        )
        reviewed: EffectReviewedData = {
            "tool": spec.name,
            "idempotency_key": key,
            "decision": decision.decision.value,
            "by": decision.by,
            "os_user": decision.os_user,
            "host": decision.host,
            "reason": decision.reason,
            "result": decision.result,
        }
        ctx.event(NodeEventKind.EFFECT_REVIEWED, **reviewed)
        if decision.decision == DecisionKind.HAPPENED and decision.result is not None:
            return validate(spec.output, decision.result, f"result of tool {spec.name!r}", ctx.node)
        if not decision.approved:
            raise EffectRefused(
                f"tool {spec.name!r} at node {ctx.node!r}: {decision.by} chose not to send "
                f"the call again ({decision.reason}); the run stops"
            )
        ledger = ctx.runtime.ledger
        if ledger is None or await ledger.resend_effect(key, task=task, question=question):
            return None
        spent, question = decision, question + 1


def _unknown_request(
    ctx: NodeContext,
    spec: ToolSpec,
    payload: dict[str, Any],
    key: str,
    prior: EffectState,
    spent: Decision | None,
) -> ReviewRequest:
    """The question about an effect of unknown outcome; after a spent approval, says so."""
    if spent is not None:
        # A re-send that failed for good ended the run (a failed run is not resumed), so
        # a spent approval's re-send is one a crash left unknown.
        what = (
            f"was sent again on {spent.by}'s approval, and the outcome of that attempt is "
            "unknown too: the process stopped before recording it"
        )
    elif prior.status == EffectStatus.FAILED:
        what = "failed in an earlier attempt of this run"
    else:
        what = "started but its outcome is unknown in an earlier attempt of this run"
    reason = (
        f"tool {spec.name!r} at node {ctx.node!r} {what} (idempotency key {key}); it is not "
        "idempotent, so it is not repeated automatically. Check the target system: approve "
        "to send it again if it did not happen, say it happened with the result you see "
        "there, or reject to stop the run"
    )
    return ReviewRequest(
        gate=ctx.node,
        kind=ReviewKind.UNKNOWN_EFFECT,
        action=ReviewAction(
            node=ctx.node,
            tool=spec.name,
            args=payload,
            tier=spec.tier.value,
            policy=str(ctx.runtime.policy.action(spec, payload)),
            description=spec.description,
        ),
        reason=reason,
        spend=ctx.usage.model_dump(),
        effect=key,
    )


async def _ask(ctx: NodeContext, request: ReviewRequest, key: str, question: int) -> Decision:
    """Question number ``question`` about the effect: each is its own request (the runner
    names it by its interrupt, a served graph by the name given here)."""
    if ctx.runtime.ask is not None:
        return await ctx.runtime.ask(request, key if question == 1 else f"{key}:{question}")
    asked = exact_json(request)
    assert request.action is not None  # an unknown effect's request names its call
    seen = ctx.runtime.redact(shown(request.action.args))
    while True:
        decision = Decision.model_validate(interrupt(asked))
        # LangGraph hands a re-run task its answers by position: one about another effect
        # answered an earlier question of this task (that effect now replays from the
        # ledger), so this one is asked anew, as a request of its own. A decision names its
        # effect; one recorded before decisions did is matched by the arguments reviewed.
        if decision.effect is not None:
            if decision.effect == key:
                return decision
        elif decision.reviewed is None or ctx.runtime.redact(shown(decision.reviewed)) == seen:
            return decision


def _task() -> str:
    """The checkpoint namespace of the node task running: the same on every re-run of the
    task, another for a later task (``""`` outside a graph, for a node run on its own)."""
    try:
        config = get_config()
    except RuntimeError:
        return ""
    namespace = (config.get("configurable") or {}).get("checkpoint_ns", "")
    return namespace if isinstance(namespace, str) else ""
