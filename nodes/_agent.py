"""The agent node: a chat model with declared tools, called in a loop until it answers.

Each execution of the node does one piece of the loop and checkpoints it before the next:
either it asks the model for a turn (the reply, with its tool calls, is stored in the
messages channel), or it handles the calls of the last turn. So a resumed or crashed run
never asks the model again for a turn it already has, and never runs a call twice: calls
with results are skipped, effects replay from the ledger (keyed by run, node, turn and call).
The node loops through its own ``continue`` outcome, which is drawn like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable

from railgraph.errors import ToolError
from railgraph.nodes._agent_calls import CallOutcome, Calls, record_of
from railgraph.nodes._channels import Disposition
from railgraph.nodes._kinds import NodeKind
from railgraph.nodes._node import GateNode
from railgraph.nodes._rules import rule_in_words
from railgraph.nodes._runtime import NodeContext
from railgraph.nodes._state import BRANCH, DECISIONS, PARKED, REQUESTS, STATUS
from railgraph.nodes._tools import ToolPolicy, ToolSpec
from railgraph.nodes._work import model_name_of
from railgraph.verifiers import Verifier
from railgraph.vocab import (
    FAIL_ID,
    AgentCallOutcome,
    GateOutcome,
    NodeEventKind,
    NodeMeta,
    RunStatus,
)

__all__ = ["AgentNode", "ordered_for_model"]

MALFORMED = "railgraph_malformed_calls"
"""Key in a stored turn's response_metadata: ids of calls whose arguments did not parse, with
the parser's error."""


@dataclass(frozen=True, kw_only=True)
class AgentNode(GateNode):
    """A model that chooses declared tools turn after turn; every call passes the rails.

    Outcomes: ``answered`` (a turn without tool calls), ``out_of_turns`` (``max_turns``
    reached), and, when declared, ``rejected`` (a reviewer rejected a call and the author
    says that ends the loop) and ``escalated`` (a tool's results kept failing verification).
    """

    kind = NodeKind.AGENT
    model: BaseChatModel
    """Any langchain-core chat model; the declared tools are bound to it when it supports
    ``bind_tools``."""
    tools: tuple[ToolSpec, ...]
    """The tools this agent may call (a subset of the graph's)."""
    policy: ToolPolicy
    """The graph's policy, applied to every call."""
    prompt: Callable[[Any], str | Sequence[BaseMessage]] | None = None
    """Builds the opening messages from the state when the conversation has none yet."""
    messages: str = "messages"
    """The state field holding the conversation (annotated with ``add_messages``)."""
    max_turns: int = 8
    """Model turns before the ``out_of_turns`` outcome."""
    max_tool_errors: int = 3
    """Calls of unknown tools or with invalid arguments told to the model before the run
    fails."""
    verifiers: Mapping[str, Sequence[Verifier]] = field(default_factory=dict)
    """Checks on each result, by tool name."""
    max_verify_retries: int = 1
    """Failed verdicts per tool told to the model before escalating (or failing)."""
    reviewers: tuple[str, ...] = ()
    """Who may decide the agent's calls under review; anyone when empty."""
    allow_self_approval: bool = True
    """Whether the run's starter may approve the agent's calls."""
    model_name: str | None = None
    """Name for pricing and reports; taken from the model when unset."""

    @cached_property
    def name(self) -> str:
        """The model's name for prices and reports (asked of the model once per node: the
        lookup tries attributes a chat model may lack, which costs on every call)."""
        return self.model_name or model_name_of(self.model)

    @property
    def meta(self) -> NodeMeta:
        return {
            "model": self.name,
            "messages": self.messages,
            "max_turns": self.max_turns,
            "tools": [
                {
                    "name": t.name,
                    "tier": t.tier.value,
                    "policy": self.policy.describe(t),
                    "verifiers": [v.name for v in self.verifiers.get(t.name, ())],
                    "rule": rule_in_words(self.policy, t),
                }
                for t in self.tools
            ],
        }

    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        history: list[BaseMessage] = list(getattr(state, self.messages))
        mine = [m for m in history if isinstance(m, AIMessage) and m.name == self.id]
        if mine and _unanswered(mine[-1], history):
            return await self._act(state, ctx, history, mine[-1], turn=len(mine))
        return await self._turn(state, ctx, history, turn=len(mine) + 1)

    # -- one model turn ----------------------------------------------------------------------

    async def _turn(
        self, state: Any, ctx: NodeContext, history: list[BaseMessage], *, turn: int
    ) -> dict[str, Any]:
        if turn > self.max_turns:
            reason = f"agent {self.id!r} used its {self.max_turns} turns without answering"
            ctx.event(NodeEventKind.AGENT_TURN, turn=turn, outcome=GateOutcome.OUT_OF_TURNS.value)
            update = self.branch(GateOutcome.OUT_OF_TURNS, reason=reason)
            if self.targets[GateOutcome.OUT_OF_TURNS] != FAIL_ID:
                ends = Disposition(status=RunStatus.COMPLETED, reason=reason, node=self.id)
                update.setdefault(STATUS, ends.channel_value())
            return update
        opening: list[BaseMessage] = []
        if not history and self.prompt is not None:
            built = self.prompt(state)
            opening = [HumanMessage(built)] if isinstance(built, str) else list(built)
        conversation = ordered_for_model([*history, *opening])
        reply = await ctx.call_llm(self._bound(), conversation, model_name=self.name)
        # Every call needs an id the ledger, the review and the result can key on.
        tool_calls = [
            {**c, "id": c.get("id") or f"{self.id}-{turn}-{index}"}
            for index, c in enumerate(reply.tool_calls)
        ]
        # A call whose arguments did not parse stays a call (with no arguments), so that
        # the model's provider sees an answer to every call; its error is kept beside it.
        malformed: dict[str, str] = {}
        for index, bad in enumerate(reply.invalid_tool_calls):
            call_id = bad.get("id") or f"{self.id}-{turn}-bad{index}"
            malformed[call_id] = f"{bad.get('error') or 'not valid JSON'}"
            tool_calls.append({"name": str(bad.get("name") or "?"), "args": {}, "id": call_id})
        reply = AIMessage(
            content=reply.content,
            tool_calls=tool_calls,
            usage_metadata=reply.usage_metadata,
            response_metadata={MALFORMED: malformed} if malformed else {},
            name=self.id,
            id=f"{self.id}:turn:{turn}",
        )
        calls = [c["name"] for c in reply.tool_calls]
        ctx.event(NodeEventKind.AGENT_TURN, turn=turn, calls=calls, answered=not calls)
        update = self.branch(GateOutcome.CONTINUE if calls else GateOutcome.ANSWERED)
        update[self.messages] = [*opening, reply]
        return update

    def _bound(self) -> BaseChatModel | Runnable[Any, Any]:
        schemas = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description or t.name,
                    "parameters": t.input.model_json_schema(),
                },
            }
            for t in self.tools
        ]
        try:
            return self.model.bind_tools(schemas)
        except NotImplementedError:
            return self.model  # a scripted model that knows its tools already

    # -- the calls of the last turn ----------------------------------------------------------

    async def _act(
        self,
        state: Any,
        ctx: NodeContext,
        history: list[BaseMessage],
        reply: AIMessage,
        *,
        turn: int,
    ) -> dict[str, Any]:
        calls = Calls(
            agent=self.id,
            tools={t.name: t for t in self.tools},
            policy=self.policy,
            verifiers=self.verifiers,
            max_verify_retries=self.max_verify_retries,
            reviewers=self.reviewers,
            allow_self_approval=self.allow_self_approval,
            rejection_outcome=(
                GateOutcome.REJECTED.value if GateOutcome.REJECTED in self.targets else None
            ),
            escalation_outcome=(
                GateOutcome.ESCALATED.value if GateOutcome.ESCALATED in self.targets else None
            ),
            history=history,
        )
        done = _answered(reply, history)
        requests: Mapping[str, Any] = getattr(state, REQUESTS)
        decisions: Mapping[str, Any] = getattr(state, DECISIONS)
        answers: list[BaseMessage] = []
        entries: dict[str, Any] = {}
        cleared: dict[str, Any] = {}
        waiting = False
        ending: CallOutcome | None = None
        malformed: Mapping[str, str] = reply.response_metadata.get(MALFORMED) or {}
        for call in reply.tool_calls:
            if call["id"] in done:
                continue  # answered in an earlier execution of this node
            if call["id"] in malformed:
                error = malformed[call["id"] or ""]
                answers.append(calls.malformed(ctx, call, error, turn=turn))
                continue
            out = await calls.handle(ctx, call, turn=turn, requests=requests, decisions=decisions)
            if out.message is not None:
                answers.append(out.message)
            entries.update(out.request or {})
            if out.consumed:
                cleared.update(dict.fromkeys(out.request or {}))
            waiting = waiting or out.waiting
            if out.escalate and ending is None:
                ending = out
        self._check_errors(history, answers)
        if ending is not None and ending.escalate is not None:
            update = self.branch(ending.escalate, reason=ending.reason)
            if ending.escalate == GateOutcome.REJECTED:
                ends = Disposition(status=RunStatus.REJECTED, reason=ending.reason, node=self.id)
                update.setdefault(STATUS, ends.channel_value())
        elif waiting:
            update = {BRANCH: {self.id: PARKED}}
        else:
            update = self.branch(GateOutcome.CONTINUE)
        update[self.messages] = answers
        if entries:
            update[REQUESTS] = entries
        if cleared:
            update[DECISIONS] = cleared
        return update

    def _check_errors(self, history: list[BaseMessage], answers: list[BaseMessage]) -> None:
        invalid = [
            m
            for m in [*history, *answers]
            if isinstance(m, ToolMessage)
            and record_of(m).get("outcome") in (AgentCallOutcome.INVALID, AgentCallOutcome.ERROR)
            and str(m.id or "").startswith(f"{self.id}:")
        ]
        if len(invalid) > self.max_tool_errors:
            raise ToolError(
                f"agent {self.id!r}: the model made {len(invalid)} calls that failed (unknown "
                f"tools, invalid arguments, tool errors), over max_tool_errors="
                f"{self.max_tool_errors}; the last: {invalid[-1].text}"
            )


def _answered(reply: AIMessage, history: Sequence[BaseMessage]) -> set[str]:
    """Ids of ``reply``'s calls that have a result (results follow their turn)."""
    after = history[next(i for i, m in enumerate(history) if m is reply) + 1 :]
    return {m.tool_call_id for m in after if isinstance(m, ToolMessage)}


def _unanswered(reply: AIMessage, history: Sequence[BaseMessage]) -> bool:
    done = _answered(reply, history)
    return any(c["id"] not in done for c in reply.tool_calls)


def ordered_for_model(history: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The conversation with each turn's tool results right after it, in call order.

    Results are stored as they come (an auto call before one that waited for a person);
    the model sees them in the order it made the calls.
    """
    out: list[BaseMessage] = []
    index = 0
    while index < len(history):
        message = history[index]
        out.append(message)
        index += 1
        if not (isinstance(message, AIMessage) and message.tool_calls):
            continue
        results: list[ToolMessage] = []
        while index < len(history) and isinstance(history[index], ToolMessage):
            result = history[index]
            assert isinstance(result, ToolMessage)
            results.append(result)
            index += 1
        order = {c["id"]: n for n, c in enumerate(message.tool_calls)}
        results.sort(key=lambda m: order.get(m.tool_call_id, len(order)))
        out.extend(results)
    return out
