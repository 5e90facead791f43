"""The guarded path of every tool call: policy, budget, ledger, retries, validation.

A call of a declared tool validates its arguments, asks the policy, checks the budget, and,
for tiers with effects, consults the tool-effect ledger under an idempotency key derived from
run, node and arguments: a completed effect is replayed, an unknown one is sent again only
for an idempotent tool and otherwise put to a person. Output is validated against the tool's
schema; transient errors and timeouts are retried within the budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from railgraph.errors import PolicyError, ToolError
from railgraph.nodes._deadline import within
from railgraph.nodes._kinds import PolicyAction
from railgraph.nodes._strict import validate
from railgraph.nodes._tools import ToolCall, ToolSpec, TransientToolError
from railgraph.nodes._unknown import review_unknown
from railgraph.vocab import (
    EffectStatus,
    NodeEventKind,
    ToolCallData,
    ToolCallStatus,
)

if TYPE_CHECKING:
    from railgraph.nodes._runtime import EffectState, NodeContext

__all__ = ["call_tool", "canonical_json"]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
"""One encoder for every call: `json.dumps` with options builds a new one each time."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text (and hashes)."""
    return _CANONICAL.encode(value)


async def call_tool(
    ctx: NodeContext,
    name: str,
    args: Mapping[str, Any],
    *,
    scope: str | None = None,
    last: bool = False,
) -> dict[str, Any]:
    """The guarded call behind :meth:`NodeContext.call_tool` (documented there).

    ``scope`` joins the idempotency key when one node makes several calls that may have
    equal arguments (an agent's turn and call id), so each is its own effect in the ledger.
    ``last`` says the node returns right after this call (a tool node): the ledger then
    records the completed effect with the node's writes, not in a transaction of its own.
    """
    spec = ctx.runtime.tools[name]
    ledger = ctx.runtime.ledger
    # A call that claims an effect from a ledger that checks the run's state in the claim
    # (the run store's: cancel and lease, in the claim's own transaction) reads that state
    # once, not twice; any other ledger's claim is preceded by the kill switch.
    claimed = (
        spec.tier.has_effect
        and ledger is not None
        and getattr(ledger, "checks_run_state", False) is True
    )
    what = f"the call to tool {name!r}"
    if not claimed:
        await ctx.ensure_running(what)
    prior: EffectState | None = None
    try:
        payload = validate(spec.input, args, f"arguments for tool {name!r}", ctx.node)
        action = ctx.runtime.policy.action(spec, payload)
        if action is PolicyAction.BLOCK:
            raise PolicyError(
                f"tool {name!r} is blocked by the graph's policy (node {ctx.node!r}); "
                f"change ToolPolicy(tools={{{name!r}: 'auto'}}) if it should run"
            )
        # Only a person's decision at an approve gate, handed to this node by the wrapper
        # from checkpointed state, approves a call: there is no flag for code to set.
        if action is PolicyAction.APPROVE and not ctx.use_approval(name, payload):
            raise PolicyError(
                f"tool {name!r} needs a person's approval under the graph's policy, but node "
                f"{ctx.node!r} has none for these arguments; put an approve gate before it: "
                f"g.approve('approve_{ctx.node}', action={ctx.node!r}, ...)"
            )
        # Before the ledger: a call refused for budget must not look started.
        ctx.ensure_budget("tool_calls", what=f"a call to tool {name!r}")
        key = (
            _idempotency_key(ctx.run_id, ctx.node, name, payload, scope)
            if spec.tier.has_effect
            else None
        )
        if key is not None and ledger is not None:
            # Only a ledger that checks the run's state is told who drives the run.
            driver = {"driver": ctx.runtime.driver} if claimed else {}
            prior = await ledger.begin_effect(
                key, run_id=ctx.run_id, node=ctx.node, tool=name, args=payload, **driver
            )
    except Exception:
        if claimed:
            # The kill switch outranks every other refusal, as when it is asked first;
            # it also words a refused claim as the runner does.
            await ctx.ensure_running(what)
        raise
    if key is not None and ledger is not None:
        if prior is not None and prior.status == EffectStatus.COMPLETED:
            return _replay(ctx, spec, payload, key, prior)
        if prior is not None and not spec.idempotent:
            observed = await review_unknown(ctx, spec, payload, key, prior)
            if observed is not None:
                return await _happened(ctx, spec, payload, key, observed)
        # Here an earlier attempt failed or ended unknown (a crash between the effect and
        # its record) and either the tool is idempotent (its system drops the repeat) or
        # a person checked the system and said to send it again.
    return await _attempts(ctx, spec, payload, key, recovering=prior is not None, last=last)


def _replay(
    ctx: NodeContext, spec: ToolSpec, payload: dict[str, Any], key: str, prior: EffectState
) -> dict[str, Any]:
    replayed: ToolCallData = {
        "tool": spec.name,
        "tier": spec.tier.value,
        "args": payload,
        "result": prior.result,
        "status": ToolCallStatus.REPLAYED.value,
        "latency_ms": 0.0,
        "attempt": 0,
        "idempotency_key": key,
    }
    ctx.event(NodeEventKind.TOOL_CALL, **replayed)
    return dict(prior.result)


async def _happened(
    ctx: NodeContext, spec: ToolSpec, payload: dict[str, Any], key: str, result: dict[str, Any]
) -> dict[str, Any]:
    """Complete the ledger with the result a person observed; the run goes on with it."""
    ledger = ctx.runtime.ledger
    if ledger is not None:
        await ledger.complete_effect(key, result)
    reported: ToolCallData = {
        "tool": spec.name,
        "tier": spec.tier.value,
        "args": payload,
        "result": result,
        "status": ToolCallStatus.REPORTED.value,
        "latency_ms": 0.0,
        "attempt": 0,
        "idempotency_key": key,
    }
    ctx.event(NodeEventKind.TOOL_CALL, **reported)
    return result


async def _attempts(
    ctx: NodeContext,
    spec: ToolSpec,
    payload: dict[str, Any],
    key: str | None,
    *,
    recovering: bool,
    last: bool,
) -> dict[str, Any]:
    ledger = ctx.runtime.ledger
    arg_model = spec.input.model_validate(payload)
    for attempt in range(1, spec.retries + 2):
        if attempt > 1:
            ctx.ensure_budget("tool_calls", "retries", what=f"a retry of tool {spec.name!r}")
        ctx.spend(tool_calls=1, retries=int(attempt > 1))
        call = ToolCall(ctx.run_id, ctx.node, attempt, key)
        started = ctx.runtime.timer()
        error: BaseException | None = None
        try:
            raw = await _invoke(spec, arg_model, call)
        except (TransientToolError, TimeoutError) as exc:
            error = exc
        except Exception as exc:
            failed = ToolCallStatus.ERROR
            _tool_event(ctx, spec, payload, key, attempt, started, failed, error=repr(exc))
            if key is not None and ledger is not None:
                await ledger.fail_effect(key, repr(exc))
            raise ToolError(
                f"tool {spec.name!r} failed at node {ctx.node!r}: {exc!r}; permanent errors "
                "are not retried (raise TransientToolError for ones worth retrying)"
            ) from exc
        if error is not None:
            status = (
                ToolCallStatus.TIMEOUT
                if isinstance(error, TimeoutError)
                else ToolCallStatus.TRANSIENT_ERROR
            )
            _tool_event(ctx, spec, payload, key, attempt, started, status, error=repr(error))
            continue
        result = validate(spec.output, raw, f"output of tool {spec.name!r}", ctx.node)
        if key is not None and ledger is not None:
            if last:
                # The node's writes follow at once and the record commits with them: a
                # crash between leaves the effect started, which the ledger handles as
                # any unknown outcome (sent again only if idempotent, else a person
                # decides). A node that goes on after the call records it at once, so
                # that what it does next cannot leave a completed effect unknown.
                await ledger.complete_effect_with_next_write(key, ctx.run_id, result)
            else:
                await ledger.complete_effect(key, result)
        status = ToolCallStatus.RECOVERED if recovering else ToolCallStatus.OK
        _tool_event(ctx, spec, payload, key, attempt, started, status, result=result)
        return result
    if key is not None and ledger is not None:
        await ledger.fail_effect(key, f"gave up after {spec.retries + 1} attempts")
    raise ToolError(
        f"tool {spec.name!r} at node {ctx.node!r} kept failing transiently "
        f"({spec.retries + 1} attempts); raise its retries= or timeout_s= if that is expected"
    )


def _tool_event(
    ctx: NodeContext,
    spec: ToolSpec,
    payload: dict[str, Any],
    key: str | None,
    attempt: int,
    started: float,
    status: ToolCallStatus,
    *,
    result: Any = None,
    error: str | None = None,
) -> None:
    call: ToolCallData = {
        "tool": spec.name,
        "tier": spec.tier.value,
        "args": payload,
        "result": result,
        "error": error,
        "status": status.value,
        "latency_ms": round((ctx.runtime.timer() - started) * 1000, 3),
        "attempt": attempt,
        "idempotency_key": key,
    }
    ctx.event(NodeEventKind.TOOL_CALL, **call)


def _idempotency_key(
    run_id: str, node: str, tool: str, payload: Mapping[str, Any], scope: str | None = None
) -> str:
    parts: list[Any] = [run_id, node, tool, payload]
    if scope is not None:
        parts.append(scope)
    text = canonical_json(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def _invoke(spec: ToolSpec, args: BaseModel, call: ToolCall) -> Any:
    """Run the tool within its timeout (raising `TimeoutError` when it passes)."""
    params: tuple[Any, ...] = (args, call) if spec.wants_call else (args,)
    if inspect.iscoroutinefunction(spec.fn):
        return await within(spec.fn(*params), spec.timeout_s)
    return await within(_in_thread(spec, params), spec.timeout_s)


async def _in_thread(spec: ToolSpec, params: tuple[Any, ...]) -> Any:
    """A sync tool, in a worker thread so that its deadline holds (and what it returns, if
    that is awaitable)."""
    result = await asyncio.to_thread(spec.fn, *params)
    if inspect.isawaitable(result):
        return await result
    return result
