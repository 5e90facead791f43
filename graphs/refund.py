"""The support-refund agent: refunds small amounts on its own, asks a person for large ones.

Flow: load ticket (read) → classify intent (llm) → look up invoice (read) → verify invoice
(schema, amount > 0, no error signal; retried once, then escalated to a person) → budget check
(room left to create and announce the refund) → route by amount: at most the auto-approval
limit goes straight to the refund, more goes through a person first → create refund
(irreversible, idempotent) → notify customer (external). A rejected refund is announced too.

It runs offline against the demo helpdesk (``.railgraph/helpdesk.db``) with a scripted chat
model; pass a real one to :func:`make_graph` to use it instead.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from railgraph import (
    END,
    START,
    BudgetEnvelope,
    GraphBuilder,
    GraphChecks,
    InRange,
    ModelPrice,
    NoErrorSignal,
    RailGraph,
    Schema,
    ToolCall,
    ToolPolicy,
    ToolRegistry,
)
from railgraph.graphs._helpdesk import Helpdesk

__all__ = ["AUTO_APPROVE_LIMIT", "RefundState", "graph", "make_graph", "scripted_model"]

AUTO_APPROVE_LIMIT = 100.0
"""Refunds up to this many dollars are made without asking anyone."""

SCRIPTED_MODEL = "scripted-support-model"


class TicketQuery(BaseModel):
    ticket_id: str = Field(pattern=r"^T-\d+$")


class Ticket(BaseModel):
    ticket_id: str
    customer_id: str
    customer_name: str
    email: str
    invoice_id: str
    subject: str
    body: str
    requested_amount: float


class InvoiceQuery(BaseModel):
    invoice_id: str


class Invoice(BaseModel):
    invoice_id: str
    customer_id: str
    amount: float
    currency: str
    status: str


class RefundRequest(BaseModel):
    ticket_id: str
    invoice_id: str
    amount: float = Field(gt=0)


class RefundReceipt(BaseModel):
    refund_id: int
    ticket_id: str
    amount: float


class Notice(BaseModel):
    ticket_id: str
    email: str
    message: str


class NoticeReceipt(BaseModel):
    notification_id: int


class RefundState(BaseModel):
    """What the refund agent knows as it works a ticket."""

    ticket_id: str
    ticket: Ticket | None = None
    intent: str | None = None
    invoice: dict[str, Any] | None = None
    refund: RefundReceipt | None = None
    notification: NoticeReceipt | None = None


def scripted_model() -> FakeMessagesListChatModel:
    """An offline chat model that classifies every ticket as a refund request."""
    reply = AIMessage(
        "refund",
        usage_metadata={"input_tokens": 120, "output_tokens": 2, "total_tokens": 122},
    )
    return FakeMessagesListChatModel(responses=[reply])


def refund_amount(state: RefundState) -> float:
    """The ticket's requested amount, capped at what the invoice charged."""
    assert state.ticket is not None
    charged = (state.invoice or {}).get("amount")
    if isinstance(charged, int | float) and charged > 0:
        return float(min(state.ticket.requested_amount, charged))
    return state.ticket.requested_amount


def _tools(helpdesk: Helpdesk) -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def load_ticket(args: TicketQuery) -> Ticket:
        """Read a support ticket and its customer."""
        row = helpdesk.ticket(args.ticket_id)
        if row is None:
            raise LookupError(f"no ticket {args.ticket_id} in the helpdesk")
        return Ticket.model_validate(row)

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def lookup_invoice(args: InvoiceQuery) -> Invoice:
        """Read the invoice a ticket refers to."""
        row = helpdesk.invoice(args.invoice_id)
        if row is None:
            raise LookupError(f"no invoice {args.invoice_id} in the helpdesk")
        return Invoice.model_validate(row)

    @tools.tool(tier="irreversible", timeout_s=10, idempotent=True)
    def create_refund(args: RefundRequest, call: ToolCall) -> RefundReceipt:
        """Pay money back to the customer. Cannot be undone."""
        assert call.idempotency_key is not None
        row = helpdesk.create_refund(
            ticket_id=args.ticket_id,
            invoice_id=args.invoice_id,
            amount=args.amount,
            idempotency_key=call.idempotency_key,
        )
        return RefundReceipt.model_validate(row)

    @tools.tool(tier="external", timeout_s=10, retries=2, idempotent=True)
    def notify_customer(args: Notice, call: ToolCall) -> NoticeReceipt:
        """Email the customer."""
        assert call.idempotency_key is not None
        row = helpdesk.notify(
            ticket_id=args.ticket_id,
            email=args.email,
            message=args.message,
            idempotency_key=call.idempotency_key,
        )
        return NoticeReceipt.model_validate(row)

    return tools


def _classify_prompt(state: RefundState) -> list[BaseMessage]:
    assert state.ticket is not None
    return [
        SystemMessage("Classify the support ticket. Answer with one word: refund or other."),
        HumanMessage(f"Subject: {state.ticket.subject}\n\n{state.ticket.body}"),
    ]


def _intent(reply: AIMessage) -> str:
    word = reply.text.strip().lower()
    return word if word in ("refund", "other") else "other"


def _refund_args(state: RefundState) -> dict[str, Any]:
    assert state.ticket is not None
    return {
        "ticket_id": state.ticket_id,
        "invoice_id": state.ticket.invoice_id,
        "amount": refund_amount(state),
    }


def _notice(state: RefundState) -> dict[str, Any]:
    assert state.ticket is not None
    if state.refund is not None:
        text = f"We refunded ${state.refund.amount:.2f} for ticket {state.ticket_id}."
    else:
        text = f"We could not approve the refund requested in ticket {state.ticket_id}."
    return {"ticket_id": state.ticket_id, "email": state.ticket.email, "message": text}


def make_graph(
    *,
    model: BaseChatModel | None = None,
    model_name: str | None = None,
    helpdesk: Helpdesk | None = None,
    auto_approve_limit: float = AUTO_APPROVE_LIMIT,
    budget: BudgetEnvelope | None = None,
) -> RailGraph:
    """Build the refund agent.

    Args:
        model: The chat model that classifies tickets; an offline scripted one by default.
        model_name: Name for pricing and reports; taken from the model when unset.
        helpdesk: The helpdesk to work on; ``.railgraph/helpdesk.db`` by default.
        auto_approve_limit: Refunds up to this amount need no person.
        budget: The graph's default envelope.
    """
    helpdesk = helpdesk or Helpdesk()
    limit = auto_approve_limit
    policy = ToolPolicy(
        tools={"create_refund": lambda args: "auto" if args["amount"] <= limit else "approve"}
    )
    g = GraphBuilder(
        "refund",
        RefundState,
        tools=_tools(helpdesk),
        policy=policy,
        budget=budget
        or BudgetEnvelope(
            steps=40, llm_calls=3, tool_calls=8, tokens=4000, cost_usd=0.05, wall_s=60, retries=3
        ),
        prices={SCRIPTED_MODEL: ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60)},
        description=__doc__.splitlines()[0] if __doc__ else "",
        owner="support-payments",
        checks=GraphChecks(
            allow_auto={"notify_customer": "a templated notice to the ticket's own address"},
            never_expires={
                "escalate": "a refund on a bad invoice waits for the payments team",
                "approve_refund": "a large refund waits for a person; it is never made unasked",
            },
        ),
    )
    g.tool("load_ticket", args=lambda s: {"ticket_id": s.ticket_id}, output="ticket")
    g.llm(
        "classify",
        model=model or scripted_model(),
        model_name=model_name or (None if model else SCRIPTED_MODEL),
        prompt=_classify_prompt,
        parse=_intent,
        output="intent",
    )
    g.route(
        "by_intent",
        lambda s: s.intent,
        targets={"refund": "lookup_invoice", "other": END},
    )
    g.tool(
        "lookup_invoice",
        args=lambda s: {"invoice_id": s.ticket.invoice_id},
        output="invoice",
    )
    g.verify(
        "verify_invoice",
        on="invoice",
        checks=[Schema(Invoice), InRange("amount", gt=0), NoErrorSignal()],
        retry="lookup_invoice",
        max_retries=1,
        passed="budget",
        failed="escalate",
    )
    g.approve(
        "escalate",
        action="create_refund",
        approved="create_refund",
        rejected="notify_declined",
    )
    g.budget("budget", within="by_amount", exceeded=END, needs={"tool_calls": 2})
    g.route(
        "by_amount",
        lambda s: "auto" if refund_amount(s) <= limit else "review",
        targets={"auto": "create_refund", "review": "approve_refund"},
    )
    g.approve(
        "approve_refund",
        action="create_refund",
        reason=lambda s: f"refund of ${refund_amount(s):.2f} is over the ${limit:.2f} limit",
        approved="create_refund",
        rejected="notify_declined",
    )
    g.tool("create_refund", args=_refund_args, output="refund")
    g.tool("notify_customer", args=_notice, output="notification")
    g.tool("notify_declined", tool="notify_customer", args=_notice, output="notification")
    g.edge(START, "load_ticket")
    g.edge("load_ticket", "classify")
    g.edge("classify", "by_intent")
    g.edge("lookup_invoice", "verify_invoice")
    g.edge("create_refund", "notify_customer")
    g.edge("notify_customer", END)
    g.edge("notify_declined", END)
    return g.build()


graph = make_graph()
"""The reference refund agent, offline: ``railgraph run railgraph.graphs.refund:graph``."""
