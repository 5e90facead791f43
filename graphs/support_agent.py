"""The support agent loop: a model works a ticket with the helpdesk's tools, under rails.

One agent node holds the loop. Its model reads the ticket, looks up the invoice, decides to
refund (irreversible: automatic up to $100, a person's approval above), emails the customer
(external), and answers. Deleting a customer is blocked by the policy; the scripted model
tries it once and is told so. A reviewer may approve the model's refund, edit its amount (the
model is told what ran and its email states the edited amount) or reject it (the model is
told the reason and sends a decline).

It runs offline against the demo helpdesk (``.railgraph/helpdesk.db``) with a scripted chat
model that follows the conversation; pass any langchain-core chat model that supports tool
calling to :func:`make_graph` to use it instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from railgraph import (
    END,
    START,
    ArgRule,
    BudgetEnvelope,
    GraphBuilder,
    ModelPrice,
    RailGraph,
    ToolPolicy,
    ToolRegistry,
)
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import SCRIPTED_MODEL, _tools

__all__ = [
    "AUTO_REFUND_LIMIT",
    "ScriptedSupportModel",
    "SupportAgentState",
    "graph",
    "make_graph",
]

AUTO_REFUND_LIMIT = 100.0
"""Refunds up to this many dollars are made without asking anyone."""


class SupportAgentState(BaseModel):
    """A ticket and the agent's conversation about it."""

    ticket_id: str = Field(pattern=r"^T-\d+$")
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


class CustomerRef(BaseModel):
    customer_id: str


class Deleted(BaseModel):
    deleted: bool


def _agent_tools(helpdesk: Helpdesk) -> ToolRegistry:
    tools = _tools(helpdesk)  # load_ticket, lookup_invoice, create_refund, notify_customer

    @tools.tool(tier="irreversible")
    def delete_customer(args: CustomerRef) -> Deleted:
        """Delete a customer and their history. The policy blocks it for this agent."""
        raise AssertionError("the policy blocks delete_customer; it never runs")

    return tools


def _opening(state: SupportAgentState) -> list[BaseMessage]:
    return [
        SystemMessage(
            "You are a support agent. Work the ticket with your tools: read it, check the "
            "invoice, refund what is owed (at most the invoice amount), email the customer "
            "what you did, then answer with a one-line summary."
        ),
        HumanMessage(f"Please handle ticket {state.ticket_id}."),
    ]


class ScriptedSupportModel(BaseChatModel):
    """An offline model that plays the support agent by following the conversation.

    It reads the tool results it was given (including a reviewer's edit or rejection) and
    picks the next call, like a tool-calling model would.
    """

    model_name: str = SCRIPTED_MODEL
    """Name for pricing and reports."""

    @property
    def _llm_type(self) -> str:
        return "scripted-support-agent"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedSupportModel:
        return self  # it knows the helpdesk's tools already

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = _next_move(messages)
        words = sum(len(m.text.split()) for m in messages)
        reply.usage_metadata = {
            "input_tokens": 40 + words,
            "output_tokens": 20,
            "total_tokens": 60 + words,
        }
        return ChatResult(generations=[ChatGeneration(message=reply)])


def _next_move(messages: list[BaseMessage]) -> AIMessage:
    results = {m.name: m for m in messages if isinstance(m, ToolMessage)}
    turn = sum(isinstance(m, AIMessage) for m in messages) + 1
    ticket_id = re.search(r"T-\d+", _first_human(messages) or "")
    if "load_ticket" not in results:
        return _call(turn, ("load_ticket", {"ticket_id": ticket_id[0] if ticket_id else "?"}))
    ticket = _payload(results["load_ticket"])
    if "lookup_invoice" not in results:
        return _call(
            turn,
            ("lookup_invoice", {"invoice_id": ticket["invoice_id"]}),
            ("delete_customer", {"customer_id": ticket["customer_id"]}),
        )
    invoice = _payload(results["lookup_invoice"])
    if "create_refund" not in results:
        amount = min(float(ticket["requested_amount"]), float(invoice["amount"]))
        args = {"ticket_id": ticket["ticket_id"], "invoice_id": invoice["invoice_id"]}
        return _call(turn, ("create_refund", {**args, "amount": amount}))
    refund = results["create_refund"]
    if "notify_customer" not in results:
        made = _payload(refund) if refund.status == "success" else {}
        if made:
            text = f"We refunded ${made['amount']:.2f} for ticket {ticket['ticket_id']}."
        else:
            text = (
                f"We are sorry: we cannot refund the charge in ticket {ticket['ticket_id']}. "
                f"({refund.text})"
            )
        notice = {"ticket_id": ticket["ticket_id"], "email": ticket["email"], "message": text}
        return _call(turn, ("notify_customer", notice))
    outcome = "refunded" if refund.status == "success" else "declined the refund"
    return AIMessage(f"Ticket {ticket['ticket_id']}: {outcome} and emailed the customer.")


def _first_human(messages: list[BaseMessage]) -> str | None:
    return next((m.text for m in messages if isinstance(m, HumanMessage)), None)


def _call(turn: int, *calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"name": name, "args": args, "id": f"call_{turn}_{i}", "type": "tool_call"}
            for i, (name, args) in enumerate(calls)
        ],
    )


def _payload(message: ToolMessage) -> dict[str, Any]:
    """The JSON result in a tool message: after "Result: " when a reviewer's note (which
    quotes arguments) comes first, else the first object in the text."""
    text = message.text
    marker = text.rfind("Result: {")
    start = marker + len("Result: ") if marker >= 0 else text.find("{")
    if start < 0:
        return {}
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value if isinstance(value, dict) else {}


def make_graph(
    *,
    model: BaseChatModel | None = None,
    model_name: str | None = None,
    helpdesk: Helpdesk | None = None,
    auto_refund_limit: float = AUTO_REFUND_LIMIT,
    budget: BudgetEnvelope | None = None,
) -> RailGraph:
    """Build the support agent.

    Args:
        model: A tool-calling chat model; the offline scripted one by default.
        model_name: Name for pricing and reports; taken from the model when unset.
        helpdesk: The helpdesk to work on; ``.railgraph/helpdesk.db`` by default.
        auto_refund_limit: Refunds up to this amount need no person.
        budget: The graph's default envelope.
    """
    helpdesk = helpdesk or Helpdesk()
    limit = auto_refund_limit
    policy = ToolPolicy(
        tools={
            "create_refund": ArgRule(
                lambda args: float(args["amount"]) > limit,
                "approve",
                description=f"amount > {limit:g}",
            ),
            "delete_customer": "block",
            # Emailing the customer what was done is automatic on purpose.
            "notify_customer": "auto",
        }
    )
    g = GraphBuilder(
        "support_agent",
        SupportAgentState,
        tools=_agent_tools(helpdesk),
        policy=policy,
        budget=budget
        or BudgetEnvelope(
            steps=40, llm_calls=8, tool_calls=10, tokens=8000, cost_usd=0.05, wall_s=120
        ),
        prices={SCRIPTED_MODEL: ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60)},
        description=__doc__.splitlines()[0] if __doc__ else "",
    )
    g.agent(
        "support",
        model=model or ScriptedSupportModel(),
        model_name=model_name or (None if model else SCRIPTED_MODEL),
        tools=[
            "load_ticket",
            "lookup_invoice",
            "create_refund",
            "notify_customer",
            "delete_customer",
        ],
        prompt=_opening,
        max_turns=8,
        answered=END,
    )
    g.edge(START, "support")
    return g.build()


graph = make_graph()
"""The reference support agent, offline: ``railgraph run railgraph.graphs.support_agent:graph``."""
