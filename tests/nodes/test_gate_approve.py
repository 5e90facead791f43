"""Approve gates: pause with a review request; approve, edit or reject; who may decide."""

from __future__ import annotations

import os
import pwd
import socket
from typing import Any

import pytest
from pydantic import BaseModel, Field

from railgraph import END, START, DecisionError, GraphBuilder, RailGraph, Runner
from railgraph.nodes import BudgetEnvelope, Decision, ToolCall, ToolRegistry

# Who really runs these tests, read the way an audit would (not through railgraph).
OS_USER = pwd.getpwuid(os.getuid()).pw_name
HOST = socket.gethostname()


class Payout(BaseModel):
    amount: float = 250.0
    note: str | None = None
    receipt: dict[str, Any] | None = None


class PayArgs(BaseModel):
    amount: float = Field(gt=0)
    memo: str


class Receipt(BaseModel):
    paid: float


def payout(
    paid: list[dict[str, Any]],
    *,
    reviewers: tuple[str, ...] = (),
    allow_self_approval: bool = True,
) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="irreversible", description="Send money to the customer.")
    def pay(args: PayArgs, call: ToolCall) -> Receipt:
        paid.append({**args.model_dump(), "key": call.idempotency_key})
        return Receipt(paid=args.amount)

    g = GraphBuilder("payout", Payout, tools=tools, budget=BudgetEnvelope(tool_calls=3))
    g.step("prepare", lambda s: {"note": "prepared"})
    g.approve(
        "review",
        action="pay",
        reason=lambda s: f"pay ${s.amount:.2f}",
        approved="pay",
        rejected=END,
        reviewers=reviewers,
        allow_self_approval=allow_self_approval,
    )
    g.tool("pay", args=lambda s: {"amount": s.amount, "memo": "refund"}, output="receipt")
    g.edge(START, "prepare").edge("prepare", "review").edge("pay", END)
    return g.build()


async def test_pause_raises_a_structured_review_request(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []

    outcome = await runner.start(payout(paid), {})

    assert outcome.status == "paused"
    assert outcome.reason == "review: pay $250.00"
    assert outcome.result == {"amount": 250.0, "note": "prepared", "receipt": None}
    assert paid == []
    (pending,) = outcome.pending
    assert (pending.node, pending.status, pending.run_id) == ("review", "pending", outcome.run_id)
    request = pending.request
    assert request["gate"] == "review"
    assert request["action"] == {
        "node": "pay",
        "tool": "pay",
        "args": {"amount": 250.0, "memo": "refund"},
        "tier": "irreversible",
        "policy": "approve",
        "description": "Send money to the customer.",
    }
    assert request["reason"] == "pay $250.00"
    assert request["spend"]["steps"] == 1.0
    assert request["path"] == ["prepare"]
    assert request["graph"] == "payout"
    assert await runner.pending() == outcome.pending
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert (record.status, record.error) == ("paused", "review: pay $250.00")
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("node_finished", "prepare"),
        ("node_started", "review"),
        ("approval_requested", "review"),  # stored with the parked state, atomically
    ]


async def test_approve_runs_the_reviewed_call_once(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    outcome = await runner.approve(paused.run_id, by="ann")

    assert outcome.status == "completed"
    assert outcome.reason is None
    assert outcome.result["receipt"] == {"paid": 250.0}
    assert [(p["amount"], p["memo"]) for p in paid] == [(250.0, "refund")]
    assert outcome.usage["tool_calls"] == 1
    assert outcome.usage["steps"] == 3
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert (approval.status, approval.decided_by) == ("approved", "ann")
    assert approval.decision is not None
    assert approval.decision["decision"] == "approve"
    events = await runner.store.list_events(paused.run_id)
    # After the parked gate's node_started and approval_requested, the decided run:
    assert [(e.kind, e.node) for e in events][4:] == [
        ("approval_decided", "review"),
        ("node_finished", "review"),
        ("tool_call", "pay"),
        ("node_finished", "pay"),
        ("run_finished", None),
    ]
    decided = events[4].data
    assert decided == {
        "decision": "approve",
        "by": "ann",
        "os_user": OS_USER,
        "host": HOST,
        "reason": None,
        "args": None,
    }
    assert events[5].data["outcome"] == "approved"
    effects = await runner.store.list_effects(paused.run_id)
    assert [(e.tool, e.status, e.args) for e in effects] == [
        ("pay", "completed", {"amount": 250.0, "memo": "refund"})
    ]


async def test_edit_merges_arguments_that_reach_the_tool(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    outcome = await runner.approve(paused.run_id, by="ann", edit={"amount": 100})

    assert outcome.status == "completed"
    assert [(p["amount"], p["memo"]) for p in paid] == [(100.0, "refund")]
    assert outcome.result["receipt"] == {"paid": 100.0}
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert approval.status == "edited"
    assert approval.decision is not None
    assert approval.decision["args"] == {"amount": 100}
    effects = await runner.store.list_effects(paused.run_id)
    assert [e.args for e in effects] == [{"amount": 100.0, "memo": "refund"}]
    assert paid[0]["key"] == effects[0].idempotency_key


async def test_reject_ends_rejected_and_never_calls_the_tool(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    outcome = await runner.reject(paused.run_id, by="ann", reason="duplicate request")

    assert outcome.status == "rejected"
    assert outcome.reason == "rejected by ann: duplicate request"
    assert paid == []
    assert outcome.result["receipt"] is None
    assert outcome.usage.get("tool_calls", 0) == 0
    assert await runner.store.list_effects(paused.run_id) == []
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert (approval.status, approval.decided_by) == ("rejected", "ann")
    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    assert (record.status, record.error) == ("rejected", "rejected by ann: duplicate request")


async def test_reject_needs_a_reason(runner: Runner) -> None:
    paused = await runner.start(payout([]), {})

    with pytest.raises(DecisionError, match="a rejection needs a reason"):
        await runner.reject(paused.run_id, by="ann", reason="  ")


async def test_invalid_edit_is_refused_and_the_request_stays_pending(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    with pytest.raises(DecisionError) as info:
        await runner.approve(paused.run_id, by="ann", edit={"amount": -5})

    assert str(info.value) == (
        "the edit does not fit tool 'pay' (amount: Input should be greater than 0); the "
        "request is still pending, decide again with arguments that match PayArgs "
        "(amount, memo)"
    )
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert (approval.status, approval.decision) == ("pending", None)
    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    assert record.status == "paused"
    assert paid == []

    outcome = await runner.approve(paused.run_id, by="ann", edit={"amount": 5})

    assert outcome.status == "completed"
    assert [p["amount"] for p in paid] == [5.0]


async def test_second_decision_is_refused(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})
    request_id = paused.pending[0].request_id
    await runner.approve(paused.run_id, by="ann")

    with pytest.raises(DecisionError) as by_run:
        await runner.reject(paused.run_id, by="bob", reason="too late")
    with pytest.raises(DecisionError) as by_request:
        await runner.approve(paused.run_id, by="bob", request_id=request_id)

    assert str(by_run.value) == (
        f"run {paused.run_id} is completed and has no pending request; its last request "
        "was approved by ann"
    )
    assert str(by_request.value) == f"request {request_id} was already approved by ann"
    assert len(paid) == 1


async def test_only_listed_reviewers_may_decide(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid, reviewers=("ann", "cho")), {})
    request_id = paused.pending[0].request_id

    with pytest.raises(DecisionError) as info:
        await runner.approve(paused.run_id, by="bob")

    assert str(info.value) == f"bob may not decide request {request_id}; its reviewers are ann, cho"
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert approval.status == "pending"
    assert paused.pending[0].request["reviewers"] == ["ann", "cho"]

    outcome = await runner.approve(paused.run_id, by="cho")

    assert outcome.status == "completed"
    assert len(paid) == 1


async def test_starter_may_not_approve_their_own_run(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    graph = payout(paid, allow_self_approval=False)
    paused = await runner.start(graph, {}, started_by="sam")

    with pytest.raises(DecisionError) as info:
        await runner.approve(paused.run_id, by="sam")

    assert str(info.value) == (
        f"sam started run {paused.run_id} and may not approve it; ask another reviewer"
    )
    assert paid == []
    outcome = await runner.approve(paused.run_id, by="ann")
    assert outcome.status == "completed"
    assert len(paid) == 1


async def test_starter_may_still_reject_their_own_run(runner: Runner) -> None:
    paused = await runner.start(payout([], allow_self_approval=False), {}, started_by="sam")

    outcome = await runner.reject(paused.run_id, by="sam", reason="changed my mind")

    assert outcome.status == "rejected"


async def test_self_approval_allowed_by_default(runner: Runner) -> None:
    paused = await runner.start(payout([]), {}, started_by="sam")

    outcome = await runner.approve(paused.run_id, by="sam")

    assert outcome.status == "completed"


async def test_gate_without_action_cannot_be_edited(runner: Runner) -> None:
    g = GraphBuilder("go-on", Payout)
    g.approve("ask", approved=END, rejected=END)
    g.edge(START, "ask")
    paused = await runner.start(g.build(), {})
    request_id = paused.pending[0].request_id

    with pytest.raises(DecisionError) as info:
        await runner.decide(paused.run_id, Decision(decision="edit", by="ann", args={"amount": 1}))

    assert str(info.value) == (
        f"request {request_id} reviews no action, so there are no arguments to edit; "
        "approve or reject it"
    )
    outcome = await runner.approve(paused.run_id, by="ann")
    assert outcome.status == "completed"


async def test_resume_without_a_decision_stays_paused(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    again = await runner.resume(paused.run_id)

    assert again.status == "paused"
    assert [p.request_id for p in again.pending] == [p.request_id for p in paused.pending]
    assert len(await runner.store.list_approvals(run_id=paused.run_id, status=None)) == 1
    assert paid == []


async def test_rejected_then_revised_and_approved_completes(runner: Runner) -> None:
    """A rejection that sends the run back for revision is not how the run ends."""
    paid: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())
        return Receipt(paid=args.amount)

    g = GraphBuilder("revise", Payout, tools=tools)
    g.approve("review", action="pay", approved="pay", rejected="revise")
    g.step("revise", lambda s: {"amount": s.amount / 2})
    g.tool("pay", args=lambda s: {"amount": s.amount, "memo": "refund"}, output="receipt")
    g.edge(START, "review").edge("revise", "review").edge("pay", END)
    paused = await runner.start(g.build(), {"amount": 400})

    again = await runner.reject(paused.run_id, by="ann", reason="too much")
    assert again.status == "paused"
    assert again.pending[0].request["action"]["args"]["amount"] == 200.0
    outcome = await runner.approve(paused.run_id, by="ann")

    assert paid == [{"amount": 200.0, "memo": "refund"}]
    assert outcome.result["receipt"] == {"paid": 200.0}
    assert outcome.status == "completed"


async def test_request_expiry_is_recorded(runner: Runner) -> None:
    g = GraphBuilder("expiring", Payout)
    g.approve("ask", approved=END, rejected=END, expires_after_s=3600)
    g.edge(START, "ask")

    paused = await runner.start(g.build(), {})

    (pending,) = paused.pending
    assert pending.request["expires_after_s"] == 3600
    assert pending.expires_at == pending.created_at + 3600
