"""The node kinds that do the work: step, llm and tool."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from railgraph.errors import RunError
from railgraph.nodes._kinds import NodeKind
from railgraph.nodes._node import RailNode
from railgraph.nodes._nonfinite import exact_json
from railgraph.nodes._runtime import NodeContext, call_user, canonical_json
from railgraph.nodes._state import APPROVALS, INTERNAL_CHANNELS
from railgraph.nodes._toolcall import call_tool
from railgraph.vocab import NodeMeta

__all__ = ["ArgsFn", "LlmNode", "PromptFn", "StepNode", "ToolNode", "model_name_of"]

PromptFn = Callable[[Any], str | Sequence[BaseMessage]]
"""Builds the prompt from the state: a string (one human message) or a list of messages."""
ArgsFn = Callable[[Any], Mapping[str, Any]]
"""Builds a tool call's arguments from the state."""


def _as_update(node: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        reserved = sorted(set(value) & set(INTERNAL_CHANNELS))
        if reserved:
            # Approvals, outcomes and usage come only from railgraph's own nodes: a step
            # that wrote them could approve its own calls or hide what the run spent.
            raise RunError(
                f"step {node!r} returned {', '.join(map(repr, reserved))}, which railgraph "
                "keeps itself; a step returns only fields of the state"
            )
        return dict(value)
    raise RunError(
        f"step {node!r} returned {type(value).__name__}; a step returns a dict of the state "
        "fields it changes, or None"
    )


@dataclass(frozen=True, kw_only=True)
class StepNode(RailNode):
    """Runs plain Python: ``fn(state)`` or ``fn(state, ctx)``, sync or async."""

    kind = NodeKind.STEP
    fn: Callable[..., Any]
    """Returns a dict of the state fields it changes, or None."""

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        return _as_update(self.id, await call_user(self.fn, state, ctx))


def model_name_of(model: BaseChatModel) -> str:
    """The name a chat model reports, used to look up its price."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return model._llm_type


@dataclass(frozen=True, kw_only=True)
class LlmNode(RailNode):
    """Calls a chat model within the budget and stores the (parsed) reply in one field."""

    kind = NodeKind.LLM
    model: BaseChatModel
    """Any langchain-core chat model."""
    prompt: PromptFn
    """Builds the messages from the state."""
    output: str
    """State field the reply goes to."""
    parse: Callable[[AIMessage], Any] | None = None
    """Turns the reply into the stored value; the reply's text when unset."""
    model_name: str | None = None
    """Name for pricing and reports; taken from the model when unset."""

    @cached_property
    def name(self) -> str:
        """The model's name for prices and reports (asked of the model once per node: the
        lookup tries attributes a chat model may lack, which costs on every call)."""
        return self.model_name or model_name_of(self.model)

    @property
    def meta(self) -> NodeMeta:
        return {"model": self.name, "output": self.output}

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        built = self.prompt(state)
        messages: list[BaseMessage] = (
            [HumanMessage(built)] if isinstance(built, str) else list(built)
        )
        if ctx.feedback:
            lines = "\n".join(f"- {f.get('path') or 'value'}: {f['message']}" for f in ctx.feedback)
            messages.append(
                HumanMessage(f"Your previous answer failed verification:\n{lines}\nTry again.")
            )
        reply = await ctx.call_llm(self.model, messages, model_name=self.name)
        value = self.parse(reply) if self.parse else reply.text
        if isinstance(value, BaseModel):
            value = exact_json(value)  # a NaN or an infinity inside an `Any` value stays one
        return {self.output: value}


def approval_hash(args: Mapping[str, Any]) -> str:
    """Fingerprint of a call's proposed arguments, tying an approval to exactly that call."""
    return canonical_json(dict(args))


@dataclass(frozen=True, kw_only=True)
class ToolNode(RailNode):
    """Calls one declared tool with arguments built from the state; stores its output."""

    kind = NodeKind.TOOL
    tool: str
    """Name of a tool in the graph's registry."""
    args: ArgsFn
    """Builds the call's arguments from the state."""
    output: str | None = None
    """State field the validated output goes to (as JSON-able data); dropped when unset."""

    @property
    def meta(self) -> NodeMeta:
        return {"tool": self.tool, "output": self.output}

    def proposed_args(self, state: Any) -> dict[str, Any]:
        """The arguments this node would call its tool with, before any approval edit."""
        return dict(self.args(state))

    def approval_in(self, state: Any) -> Mapping[str, Any] | None:
        """The approve gate's decision on exactly the call this node proposes now, if any."""
        approval: Mapping[str, Any] | None = getattr(state, APPROVALS).get(self.id)
        if not approval or approval.get("proposed") != approval_hash(self.proposed_args(state)):
            return None
        return approval

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        approval = ctx.approval
        args = dict(approval["args"]) if approval is not None else self.proposed_args(state)
        # The node returns right after its one call: the ledger records the completed
        # effect with the node's writes.
        result = await call_tool(ctx, self.tool, args, last=True)
        update: dict[str, Any] = {self.output: result} if self.output else {}
        if approval is not None:
            # An approval authorises one call: spend it so a loop back here asks again.
            update[APPROVALS] = {self.id: {}}
        return update
