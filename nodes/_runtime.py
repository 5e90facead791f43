"""What a run hands its nodes, and the guarded paths every LLM and tool call goes through.

The runner puts one :class:`Runtime` in the LangGraph config; each node execution gets a
:class:`NodeContext` that checks the budget before every call, applies the tool policy,
keeps the tool-effect ledger, and collects the node's events and usage.
"""

from __future__ import annotations

import contextlib
import inspect
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from railgraph.errors import BudgetExhausted, RunCancelled, ToolError
from railgraph.nodes._budget import BudgetEnvelope, PriceTable, Usage
from railgraph.nodes._review import Decision, ReviewRequest
from railgraph.nodes._toolcall import call_tool, canonical_json
from railgraph.nodes._tools import ToolPolicy, ToolRegistry
from railgraph.vocab import EffectStatus, NodeEventKind

__all__ = [
    "RUNTIME_KEY",
    "AskPerson",
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


class EffectState(Protocol):
    """What the ledger remembers of one effect."""

    @property
    def status(self) -> EffectStatus: ...
    @property
    def result(self) -> Any: ...
    @property
    def error(self) -> str | None: ...


class EffectLedger(Protocol):
    """Durable record of tool effects, keyed by idempotency key (the run store provides it).

    A ledger whose class sets ``checks_run_state = True`` refuses a claim itself when the
    run is cancelled or another runner holds it (see `begin_effect`), and is told the
    ``driver``; a claimed call then asks no kill switch of its own. Any other ledger's
    claims are preceded by the kill switch, and get no ``driver``.
    """

    async def begin_effect(
        self,
        key: str,
        *,
        run_id: str,
        node: str,
        tool: str,
        args: dict[str, Any],
        driver: str | None = None,
    ) -> EffectState | None:
        """Record that an effect starts; return the earlier record if the key is known.

        A ledger that ``checks_run_state`` refuses (raising `RunCancelled`, or `RunBusy`
        when `driver` names the runner whose lease another runner now holds) in the
        transaction of the claim itself: the kill switch for a call that is claimed.
        """
        ...

    async def resend_effect(self, key: str, *, task: str, question: int) -> bool:
        """Claim the re-send, on a person's approval, of an effect whose outcome was
        unknown: ``False`` if the ledger shows that approval (question ``question`` of the
        node task ``task``) or a later one of the task already spent, so a person must be
        asked again; otherwise the effect is `started` again and the call may go out."""
        ...

    async def complete_effect(self, key: str, result: Any) -> None:
        """Record that the effect happened, with its result."""
        ...

    async def complete_effect_with_next_write(self, key: str, run_id: str, result: Any) -> None:
        """Record that the effect happened, in the transaction that stores what the node
        writes next (the node's result): no transaction of its own. A crash before that
        commit leaves the effect started, its outcome unknown."""
        ...

    async def fail_effect(self, key: str, error: str) -> None:
        """Record that the effect failed and did not happen."""
        ...


AskPerson = Callable[[ReviewRequest, str], Awaitable[Decision]]
"""Ask a person about a request a node raises itself and return their decision, as recorded.

Called with the request and a name for the question that is unique within the node's
execution (an effect's idempotency key, with the question's number after the first: a
re-send a person approved whose outcome is unknown again is asked about anew). It may call
``interrupt()``, and it is called again when the node runs again from its first line on
resume, so it must be idempotent."""


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
    """Whether a person has stopped the run; asked before every LLM and tool call (a tool
    call that claims an effect in the ledger asks the claim instead)."""
    driver: str | None = None
    """The lease owner of the runner that drives the run, for the ledger's claim."""
    redact: Callable[[Any], Any] = lambda value: value
    """How the store redacts secrets from what people see (review requests among them);
    an approve gate compares the call a reviewer saw with its own in this form."""
    ask: AskPerson | None = None
    """How a node asks a person about a request it raises itself (an effect a crash left
    unknown), where whoever drives the run keeps the review queue inside the graph (a graph
    served by LangGraph's server). ``None``: the node calls ``interrupt()`` with the request,
    and the runner registers it when the drive stops and resumes the node with the decision."""


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
    _approval: Mapping[str, Any] | None = field(default=None, repr=False)
    # Set by the node wrapper from the state an approve gate wrote; never by author code.

    @property
    def approval(self) -> Mapping[str, Any] | None:
        """The decision an approve gate recorded for this node's next call, until it is used.

        Read-only: approvals come only from a person's recorded decision at an approve gate.
        """
        return self._approval

    def use_approval(self, tool: str, args: Mapping[str, Any]) -> bool:
        """Spend this node's approval on a call of ``tool`` with ``args`` if it covers it.

        An approval covers one call: the tool and the exact arguments the reviewer allowed.
        """
        approval = self._approval
        if approval is None or approval.get("tool", tool) != tool:
            return False
        if canonical_json(dict(approval.get("args") or {})) != canonical_json(dict(args)):
            return False
        self._approval = None
        return True

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.runtime.run_id

    def event(self, kind: NodeEventKind, **data: Any) -> None:
        """Record an event of this node; it is stored when the node's result is.

        Only node-level kinds: the run's own events (started, finished, failed, out of
        budget, cancelled) are the runner's to record.
        """
        self.events.append(
            {"kind": kind.value, "node": self.node, "at": self.runtime.clock(), "data": data}
        )

    def spend(self, **delta: float) -> None:
        """Add to this node's usage (and to the run's running total)."""
        self.usage = self.usage.plus(**delta)
        for key, amount in delta.items():
            if amount:  # a zero changes no total: not stored in the usage channel or events
                self.spent[key] = self.spent.get(key, 0) + amount

    def ensure_budget(self, *counting: str, what: str) -> None:
        """Refuse the next piece of work if it would start over the envelope.

        The refusal is recorded once, by the runner, as the run's ``budget_exhausted`` event
        (with the dimension, use, limit and what was refused): the node records nothing.

        Raises:
            BudgetExhausted: Naming the dimension, its use and limit, and the override flag.
        """
        dim = self.usage.over(self.runtime.envelope, dict.fromkeys(counting, 1))
        if dim is None:
            return
        used = getattr(self.usage, dim)
        limit = getattr(self.runtime.envelope, dim)
        raise BudgetExhausted(
            f"budget exhausted at node {self.node!r}: {dim} {used:g} of {limit:g} used, "
            f"so {what} was not started; raise the limit with --budget {dim}=N "
            "or in the graph's BudgetEnvelope",
            dimension=dim,
            used=used,
            limit=limit,
            refused=what,
        )

    async def ensure_running(self, what: str) -> None:
        """Refuse the next call if a person cancelled the run (the kill switch).

        Raises:
            RunCancelled: The run was cancelled.
        """
        if self.runtime.cancelled is not None and await self.runtime.cancelled():
            raise RunCancelled(f"run {self.run_id} was cancelled, so {what} was not made")

    async def call_llm(
        self,
        model: BaseChatModel | Runnable[Any, Any],
        messages: Sequence[BaseMessage],
        *,
        model_name: str,
    ) -> AIMessage:
        """Call a chat model (or one with tools bound) within the budget; account for its
        tokens and cost."""
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
            NodeEventKind.LLM_CALL,
            model=model_name,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            priced=price is not None,
            latency_ms=round(latency_ms, 3),
            tool_calls=[{"name": c["name"], "args": c["args"]} for c in reply.tool_calls],
        )
        return reply

    async def call_tool(self, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Call a declared tool through policy, budget, ledger, timeout, retries and validation.

        Args:
            name: A tool the graph declared.
            args: Arguments, validated against the tool's input schema.

        Returns:
            The tool's output, validated and dumped to JSON-able data.

        Raises:
            PolicyError: The tool is undeclared, blocked, or needs an approval it lacks.
            BudgetExhausted: The call would start over the envelope.
            ToolError: Bad arguments, a permanent failure, retries used up, or bad output.

        A tool the policy puts under approval runs only from a tool node that an approve
        gate reviews, with the arguments a person approved there: code cannot approve a
        call itself. A tool with effects is keyed in the ledger: a completed effect is
        replayed, and an effect a crash left unknown is sent again only if the tool is
        idempotent; otherwise the run pauses with a review request.
        """
        return await call_tool(self, name, args)


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable, so user callables may be sync or async."""
    if inspect.isawaitable(value):
        return await value
    return value


_TAKES_CONTEXT: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()
"""`takes_context` by callable: a signature is read once, not on every node run."""


def takes_context(fn: Callable[..., Any]) -> bool:
    """Whether a user callable wants the :class:`NodeContext` as a second parameter.

    Read once per callable (a signature costs tens of microseconds, and a step's function
    runs on every visit); a callable that cannot be weakly referenced or hashed is read
    each time.
    """
    try:
        return _TAKES_CONTEXT[fn]
    except (KeyError, TypeError):
        pass
    wants = _wants_context(fn)
    with contextlib.suppress(TypeError):
        _TAKES_CONTEXT[fn] = wants
    return wants


def _wants_context(fn: Callable[..., Any]) -> bool:
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
