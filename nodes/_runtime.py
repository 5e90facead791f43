"""What a run hands its nodes, and the guarded paths every LLM and tool call goes through.

The runner puts one :class:`Runtime` in the LangGraph config; each node execution gets a
:class:`NodeContext` that checks the budget before every call, applies the tool policy,
keeps the tool-effect ledger, and collects the node's events and usage.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from nodes._budget import BudgetEnvelope, PriceTable, Usage
from nodes._kinds import PolicyAction
from nodes._review import Decision, ReviewAction, ReviewRequest
from nodes._tools import ToolCall, ToolPolicy, ToolRegistry, ToolSpec, TransientToolError
from railgraph.errors import BudgetExhausted, PolicyError, RunCancelled, ToolError

__all__ = [
    "RUNTIME_KEY",
    "EffectLedger",
    "EffectState",
    "NodeContext",
    "Runtime",
    "canonical_json",
    "runtime_from_config",
]

RUNTIME_KEY = "__railgraph_runtime"
"""Key of the :class:`Runtime` in ``config["configurable"]``; the leading underscores keep
LangGraph from copying it into checkpoint metadata."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class EffectState(Protocol):
    """What the ledger remembers of one effect."""

    @property
    def status(self) -> str: ...
    @property
    def result(self) -> Any: ...
    @property
    def error(self) -> str | None: ...


class EffectLedger(Protocol):
    """Durable record of tool effects, keyed by idempotency key (the run store provides it)."""

    async def begin_effect(
        self, key: str, *, run_id: str, node: str, tool: str, args: dict[str, Any]
    ) -> EffectState | None:
        """Record that an effect starts; return the earlier record if the key is known."""
        ...

    async def complete_effect(self, key: str, result: Any) -> None:
        """Record that the effect happened, with its result."""
        ...

    async def fail_effect(self, key: str, error: str) -> None:
        """Record that the effect failed and did not happen."""
        ...


@dataclass(frozen=True)
class Runtime:
    """Everything a run's nodes need that is not in the state."""

    run_id: str
    """The run (and LangGraph thread) id."""
    graph: str
    """The graph's name."""
    envelope: BudgetEnvelope
    """The budget in force for this run."""
    tools: ToolRegistry
    """The tools the graph declared."""
    policy: ToolPolicy
    """The graph's tool policy."""
    prices: PriceTable
    """Model prices for cost accounting."""
    ledger: EffectLedger | None = None
    """Tool-effect ledger; ``None`` runs effects without one (tests of single nodes)."""
    clock: Callable[[], float] = time.time
    """Wall clock for event timestamps."""
    timer: Callable[[], float] = time.perf_counter
    """Monotonic clock for durations."""
    cancelled: Callable[[], Awaitable[bool]] | None = None
    """Whether a person has stopped the run; asked before every LLM and tool call."""


def runtime_from_config(config: RunnableConfig) -> Runtime:
    """The run's :class:`Runtime`, or a clear error if the graph is run outside railgraph."""
    runtime = (config.get("configurable") or {}).get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        raise ToolError(
            "this railgraph graph was invoked without its runtime; start it with "
            "railgraph's Runner (or `railgraph run REF`), not with compiled.invoke()"
        )
    return runtime


@dataclass
class NodeContext:
    """One node execution: the run's runtime plus what the node has done so far.

    Step and route functions receive it as an optional second parameter.
    """

    runtime: Runtime
    """The run's runtime."""
    node: str
    """This node's id."""
    usage: Usage
    """Usage of the run including what this node has spent so far."""
    feedback: list[dict[str, Any]] = field(default_factory=list)
    """Failures from the verify gate that sent the run back here, else empty."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Events this node produced so far."""
    spent: dict[str, float] = field(default_factory=dict)
    """Usage this node added so far."""

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.runtime.run_id

    def event(self, kind: str, **data: Any) -> None:
        """Record an event of this node; it is stored when the node's result is."""
        self.events.append(
            {"kind": kind, "node": self.node, "at": self.runtime.clock(), "data": data}
        )

    def spend(self, **delta: float) -> None:
        """Add to this node's usage (and to the run's running total)."""
        self.usage = self.usage.plus(**delta)
        for key, amount in delta.items():
            self.spent[key] = self.spent.get(key, 0) + amount

    def ensure_budget(self, *counting: str, what: str) -> None:
        """Refuse the next piece of work if it would start over the envelope.

        Raises:
            BudgetExhausted: Naming the dimension, its use and limit, and the override flag.
        """
        dim = self.usage.over(self.runtime.envelope, counting=counting)
        if dim is None:
            return
        used = getattr(self.usage, dim)
        limit = getattr(self.runtime.envelope, dim)
        self.event("budget_exhausted", dimension=dim, used=used, limit=limit, refused=what)
        raise BudgetExhausted(
            f"budget exhausted at node {self.node!r}: {dim} {used:g} of {limit:g} used, "
            f"so {what} was not started; raise the limit with --budget {dim}=N "
            "or in the graph's BudgetEnvelope",
            dimension=dim,
        )

    async def ensure_running(self, what: str) -> None:
        """Refuse the next call if a person cancelled the run (the kill switch).

        Raises:
            RunCancelled: The run was cancelled.
        """
        if self.runtime.cancelled is not None and await self.runtime.cancelled():
            raise RunCancelled(f"run {self.run_id} was cancelled, so {what} was not made")

    async def call_llm(
        self, model: BaseChatModel, messages: Sequence[BaseMessage], *, model_name: str
    ) -> AIMessage:
        """Call a chat model within the budget and account for its tokens and cost."""
        await self.ensure_running(f"the call to model {model_name!r}")
        self.ensure_budget("llm_calls", what=f"a call to model {model_name!r}")
        started = self.runtime.timer()
        reply = await model.ainvoke(list(messages))
        latency_ms = (self.runtime.timer() - started) * 1000
        if not isinstance(reply, AIMessage):
            raise ToolError(f"model {model_name!r} returned {type(reply).__name__}, not a message")
        meta: Mapping[str, Any] = reply.usage_metadata or {}
        tokens_in = int(meta.get("input_tokens", 0))
        tokens_out = int(meta.get("output_tokens", 0))
        price = self.runtime.prices.price(model_name)
        cost = price.cost(tokens_in, tokens_out) if price else 0.0
        self.spend(
            llm_calls=1,
            tokens=int(meta.get("total_tokens", tokens_in + tokens_out)),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
        )
        self.event(
            "llm_call",
            model=model_name,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            priced=price is not None,
            latency_ms=round(latency_ms, 3),
            tool_calls=[{"name": c["name"], "args": c["args"]} for c in reply.tool_calls],
        )
        return reply

    async def call_tool(
        self, name: str, args: Mapping[str, Any], *, approved: bool = False
    ) -> dict[str, Any]:
        """Call a declared tool through policy, budget, ledger, timeout, retries and validation.

        Args:
            name: A tool the graph declared.
            args: Arguments, validated against the tool's input schema.
            approved: Whether a person approved exactly this call at an approve gate.

        Returns:
            The tool's output, validated and dumped to JSON-able data.

        Raises:
            PolicyError: The tool is undeclared, blocked, or needs an approval it lacks.
            BudgetExhausted: The call would start over the envelope.
            ToolError: Bad arguments, a permanent failure, retries used up, bad output, or an
                effect whose outcome is unknown after a crash.
        """
        spec = self.runtime.tools[name]
        await self.ensure_running(f"the call to tool {name!r}")
        payload = _validate(spec.input, args, f"arguments for tool {name!r}", self.node)
        action = self.runtime.policy.action(spec, payload)
        if action is PolicyAction.BLOCK:
            raise PolicyError(
                f"tool {name!r} is blocked by the graph's policy (node {self.node!r}); "
                f"change ToolPolicy(tools={{{name!r}: 'auto'}}) if it should run"
            )
        if action is PolicyAction.APPROVE and not approved:
            raise PolicyError(
                f"tool {name!r} needs a person's approval under the graph's policy, but node "
                f"{self.node!r} has none for these arguments; put an approve gate before it: "
                f"g.approve('approve_{self.node}', action={self.node!r}, ...)"
            )
        # Before the ledger: a call refused for budget must not look started.
        self.ensure_budget("tool_calls", what=f"a call to tool {name!r}")
        key = (
            _idempotency_key(self.run_id, self.node, name, payload)
            if spec.tier.has_effect
            else None
        )
        ledger = self.runtime.ledger
        prior: EffectState | None = None
        if key is not None and ledger is not None:
            prior = await ledger.begin_effect(
                key, run_id=self.run_id, node=self.node, tool=name, args=payload
            )
            if prior is not None and prior.status == "completed":
                return self._replay(spec, payload, key, prior)
            if prior is not None and not spec.idempotent:
                self._review_unknown(spec, payload, key, prior)
            # Here an earlier attempt failed or ended unknown (a crash between the effect and
            # its record) and either the tool is idempotent (its system drops the repeat) or
            # a person checked the system and said to send it again.
        return await self._attempts(spec, payload, key, recovering=prior is not None)

    def _replay(
        self, spec: ToolSpec, payload: dict[str, Any], key: str, prior: EffectState
    ) -> dict[str, Any]:
        self.event(
            "tool_call",
            tool=spec.name,
            tier=spec.tier.value,
            args=payload,
            result=prior.result,
            status="replayed",
            latency_ms=0.0,
            attempt=0,
            idempotency_key=key,
        )
        return dict(prior.result)

    def _review_unknown(
        self, spec: ToolSpec, payload: dict[str, Any], key: str, prior: EffectState
    ) -> None:
        """Pause for a person when an effect's outcome is unknown; return to send it again.

        The node re-runs from its first line on resume: calls before this one replay from
        the ledger, and this one comes back here with the person's decision.

        Raises:
            ToolError: The person rejected sending it again.
        """
        what = "failed" if prior.status == "failed" else "started but its outcome is unknown"
        reason = (
            f"tool {spec.name!r} at node {self.node!r} {what} in an earlier attempt of this "
            f"run (idempotency key {key}); it is not idempotent, so it is not repeated "
            "automatically. Check the target system: approve to send it again if it did not "
            "happen, reject to stop the run"
        )
        request = ReviewRequest(
            gate=self.node,
            kind="unknown_effect",
            action=ReviewAction(
                node=self.node,
                tool=spec.name,
                args=payload,
                tier=spec.tier.value,
                policy=str(self.runtime.policy.action(spec, payload)),
                description=spec.description,
            ),
            reason=reason,
            spend=self.usage.model_dump(),
        )
        decision = Decision.model_validate(interrupt(request.model_dump(mode="json")))
        self.event(
            "effect_reviewed",
            tool=spec.name,
            idempotency_key=key,
            decision=decision.decision,
            by=decision.by,
            reason=decision.reason,
        )
        if not decision.approved:
            raise ToolError(
                f"tool {spec.name!r} at node {self.node!r}: {decision.by} chose not to send "
                f"the call again ({decision.reason}); the run stops"
            )

    async def _attempts(
        self, spec: ToolSpec, payload: dict[str, Any], key: str | None, *, recovering: bool
    ) -> dict[str, Any]:
        ledger = self.runtime.ledger
        arg_model = spec.input.model_validate(payload)
        for attempt in range(1, spec.retries + 2):
            if attempt > 1:
                self.ensure_budget("tool_calls", "retries", what=f"a retry of tool {spec.name!r}")
            self.spend(tool_calls=1, retries=1 if attempt > 1 else 0)
            call = ToolCall(self.run_id, self.node, attempt, key)
            started = self.runtime.timer()
            error: BaseException | None = None
            try:
                raw = await asyncio.wait_for(_invoke(spec, arg_model, call), spec.timeout_s)
            except (TransientToolError, TimeoutError) as exc:
                error = exc
            except Exception as exc:
                self._tool_event(spec, payload, key, attempt, started, "error", error=repr(exc))
                if key is not None and ledger is not None:
                    await ledger.fail_effect(key, repr(exc))
                raise ToolError(
                    f"tool {spec.name!r} failed at node {self.node!r}: {exc!r}; permanent errors "
                    "are not retried (raise TransientToolError for ones worth retrying)"
                ) from exc
            if error is not None:
                status = "timeout" if isinstance(error, TimeoutError) else "transient_error"
                self._tool_event(spec, payload, key, attempt, started, status, error=repr(error))
                continue
            result = _validate(spec.output, raw, f"output of tool {spec.name!r}", self.node)
            if key is not None and ledger is not None:
                await ledger.complete_effect(key, result)
            status = "recovered" if recovering else "ok"
            self._tool_event(spec, payload, key, attempt, started, status, result=result)
            return result
        if key is not None and ledger is not None:
            await ledger.fail_effect(key, f"gave up after {spec.retries + 1} attempts")
        raise ToolError(
            f"tool {spec.name!r} at node {self.node!r} kept failing transiently "
            f"({spec.retries + 1} attempts); raise its retries= or timeout_s= if that is expected"
        )

    def _tool_event(
        self,
        spec: ToolSpec,
        payload: dict[str, Any],
        key: str | None,
        attempt: int,
        started: float,
        status: str,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        self.event(
            "tool_call",
            tool=spec.name,
            tier=spec.tier.value,
            args=payload,
            result=result,
            error=error,
            status=status,
            latency_ms=round((self.runtime.timer() - started) * 1000, 3),
            attempt=attempt,
            idempotency_key=key,
        )


def _idempotency_key(run_id: str, node: str, tool: str, payload: Mapping[str, Any]) -> str:
    text = canonical_json([run_id, node, tool, payload])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def _invoke(spec: ToolSpec, args: BaseModel, call: ToolCall) -> Any:
    params: tuple[Any, ...] = (args, call) if spec.wants_call else (args,)
    if inspect.iscoroutinefunction(spec.fn):
        return await spec.fn(*params)
    result = await asyncio.to_thread(spec.fn, *params)
    if inspect.isawaitable(result):
        return await result
    return result


def _validate(schema: type[BaseModel], value: Any, what: str, node: str) -> dict[str, Any]:
    try:
        if isinstance(value, schema):
            model = value
        elif isinstance(value, BaseModel):
            model = schema.model_validate(value.model_dump())
        else:
            model = schema.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(value)'}: {e['msg']}" for e in exc.errors()
        )
        raise ToolError(
            f"{what} at node {node!r} do not match {schema.__name__}: {problems}"
        ) from None
    return model.model_dump(mode="json")


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable, so user callables may be sync or async."""
    if inspect.isawaitable(value):
        return await value
    return value


def takes_context(fn: Callable[..., Any]) -> bool:
    """Whether a user callable wants the :class:`NodeContext` as a second parameter."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2


async def call_user(fn: Callable[..., Any], state: Any, ctx: NodeContext) -> Any:
    """Call an author's function with ``(state)`` or ``(state, ctx)``; sync or async."""
    result: Awaitable[Any] | Any = fn(state, ctx) if takes_context(fn) else fn(state)
    return await maybe_await(result)
