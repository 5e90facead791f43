"""``GraphBuilder.agent``: declaring an agent loop (a mixin of the builder)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from railgraph._checks import require_field, require_wired
from railgraph.errors import DefinitionError
from railgraph.nodes import FAIL, AgentNode, RailNode, ToolPolicy, ToolRegistry
from railgraph.verifiers import Verifier
from railgraph.vocab import GateOutcome

__all__ = ["AgentDeclarations"]


class AgentDeclarations:
    """The builder's ``agent`` method; the builder provides the attributes below."""

    name: str
    state: type[BaseModel]
    tools: ToolRegistry
    policy: ToolPolicy

    def _add(self, node_id: str, make: Callable[[], RailNode]) -> Self:
        raise NotImplementedError  # provided by GraphBuilder

    def agent(
        self,
        id: str,
        *,
        model: BaseChatModel,
        tools: Sequence[str],
        answered: str | None = None,
        prompt: Callable[[Any], str | Sequence[BaseMessage]] | None = None,
        messages: str = "messages",
        max_turns: int = 8,
        out_of_turns: str = FAIL,
        rejected: str | None = None,
        escalated: str | None = None,
        verifiers: Mapping[str, Sequence[Verifier]] | None = None,
        max_verify_retries: int = 1,
        max_tool_errors: int = 3,
        reviewers: Sequence[str] = (),
        allow_self_approval: bool = True,
        model_name: str | None = None,
        label: str | None = None,
    ) -> Self:
        """Add an agent loop: ``model`` with ``tools`` bound, asked turn after turn.

        The conversation lives in the state field ``messages`` (annotate it with LangGraph's
        ``add_messages``); ``prompt(state)`` opens it when it is empty. Each turn's calls
        pass the graph's policy one by one: ``auto`` runs, ``block`` tells the model it was
        refused, ``approve`` parks the call for a person (approve, edit or reject, each told
        to the model). The loop ends ``answered`` on a turn without tool calls, and
        ``out_of_turns`` after ``max_turns`` (FAIL unless wired elsewhere). Wire
        ``rejected`` to end the loop when a reviewer rejects a call (otherwise the model is
        told and goes on), and ``escalated`` to hand a tool whose results keep failing
        ``verifiers`` to a person (otherwise the run fails).
        """
        require_field(self.state, id, messages)
        if max_turns < 1 or max_tool_errors < 0 or max_verify_retries < 0:
            raise DefinitionError(
                f"agent {id!r}: max_turns must be >= 1, max_tool_errors and max_verify_retries >= 0"
            )
        if not tools:
            raise DefinitionError(f"agent {id!r} declares no tools; pass tools=['name', ...]")
        unknown = [t for t in tools if t not in self.tools]
        if unknown:
            declared = ", ".join(t.name for t in self.tools) or "none"
            raise DefinitionError(
                f"agent {id!r} uses tools {unknown} that the graph does not declare "
                f"(declared: {declared}); register them on the graph's ToolRegistry"
            )
        checked = dict(verifiers or {})
        stray = sorted(set(checked) - set(tools))
        if stray:
            raise DefinitionError(
                f"agent {id!r} has verifiers for {stray}, which it does not use; "
                "verifiers= is keyed by the agent's tool names"
            )
        outcomes: dict[str, str | None] = {
            GateOutcome.CONTINUE.value: id,
            GateOutcome.ANSWERED.value: answered,
            GateOutcome.OUT_OF_TURNS.value: out_of_turns,
        }
        if rejected is not None:
            outcomes[GateOutcome.REJECTED.value] = rejected
        if escalated is not None:
            outcomes[GateOutcome.ESCALATED.value] = escalated
        require_wired(id, "agent", outcomes, {"answered": "answered"})
        targets = {k: v for k, v in outcomes.items() if v is not None}
        specs = tuple(self.tools[t] for t in tools)
        return self._add(
            id,
            lambda: AgentNode(
                id=id,
                label=label,
                targets=targets,
                model=model,
                tools=specs,
                policy=self.policy,
                prompt=prompt,
                messages=messages,
                max_turns=max_turns,
                max_tool_errors=max_tool_errors,
                verifiers={k: tuple(v) for k, v in checked.items()},
                max_verify_retries=max_verify_retries,
                reviewers=tuple(reviewers),
                allow_self_approval=allow_self_approval,
                model_name=model_name,
            ),
        )
