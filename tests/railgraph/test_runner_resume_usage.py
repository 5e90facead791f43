"""Usage lives in checkpointed state: it survives a pause and a resume by another runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from railgraph import END, START, DecisionError, GraphBuilder, RailGraph, Runner
from railgraph.nodes import DIMENSIONS, BudgetEnvelope, ModelPrice, ToolRegistry


class Claim(BaseModel):
    claim_id: str = "C-1"
    record: dict[str, Any] | None = None
    summary: str | None = None
    payment: dict[str, Any] | None = None


class ClaimQuery(BaseModel):
    claim_id: str


class ClaimRecord(BaseModel):
    amount: float


class Payment(BaseModel):
    claim_id: str
    amount: float


class Paid(BaseModel):
    ok: bool


def claims_graph(
    chat: Any, fake_time: Any, paid: list[float], *, tool_calls: int = 5, rejected: str = END
) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="read")
    def fetch(args: ClaimQuery) -> ClaimRecord:
        fake_time.advance(1.5)
        return ClaimRecord(amount=80.0)

    @tools.tool(tier="irreversible")
    def pay(args: Payment) -> Paid:
        fake_time.advance(2.0)
        paid.append(args.amount)
        return Paid(ok=True)

    g = GraphBuilder(
        "claims",
        Claim,
        tools=tools,
        budget=BudgetEnvelope(tool_calls=tool_calls, tokens=10_000),
        prices={"claims-model": ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)},
    )
    g.tool("fetch", args=lambda s: {"claim_id": s.claim_id}, output="record")
    g.llm(
        "summarise",
        model=chat(("pay it", 1000, 200)),
        model_name="claims-model",
        prompt=lambda s: f"summarise {s.record}",
        output="summary",
    )
    g.approve("review", action="pay", approved="pay", rejected=rejected)
    g.tool(
        "pay",
        args=lambda s: {"claim_id": s.claim_id, "amount": s.record["amount"]},
        output="payment",
    )
    g.edge(START, "fetch").edge("fetch", "summarise").edge("summarise", "review")
    g.edge("pay", END)
    return g.build()


def dims(usage: dict[str, Any]) -> dict[str, Any]:
    return {d: usage.get(d, 0) for d in DIMENSIONS}


async def test_usage_is_the_sum_across_a_resume_by_a_new_runner(
    tmp_path: Path, chat: Any, fake_time: Any
) -> None:
    db = tmp_path / "rg.db"
    paid: list[float] = []
    async with Runner.open(db, clock=fake_time.clock, timer=fake_time.timer) as first:
        paused = await first.start(claims_graph(chat, fake_time, paid), {})

    assert paused.status == "paused"
    before = {
        "steps": 2,
        "llm_calls": 1,
        "tool_calls": 1,
        "tokens": 1200,
        "cost_usd": 0.006,
        "wall_s": 1.5,
        "retries": 0,
    }
    assert dims(paused.usage) == before
    assert paused.pending[0].request["spend"]["tokens"] == 1200

    async with Runner.open(db, clock=fake_time.clock, timer=fake_time.timer) as second:
        rebuilt = claims_graph(chat, fake_time, paid)
        second.graph(rebuilt)
        record = await second.store.get_run(paused.run_id)
        assert record is not None
        assert record.usage == paused.usage
        done = await second.approve(paused.run_id, by="ann")
        stored = await second.store.get_run(paused.run_id)

    assert done.status == "completed"
    assert paid == [80.0]
    # after the resume: the approve gate and the pay node, one tool call, 2 s
    assert dims(done.usage) == {
        "steps": 4,
        "llm_calls": 1,
        "tool_calls": 2,
        "tokens": 1200,
        "cost_usd": 0.006,
        "wall_s": 3.5,
        "retries": 0,
    }
    assert (done.usage["input_tokens"], done.usage["output_tokens"]) == (1000, 200)
    assert stored is not None
    assert stored.usage == done.usage
    assert done.result["payment"] == {"ok": True}
    assert done.result["summary"] == "pay it"


async def test_spend_before_the_pause_counts_against_the_envelope_after_it(
    tmp_path: Path, chat: Any, fake_time: Any
) -> None:
    db = tmp_path / "rg.db"
    paid: list[float] = []
    async with Runner.open(db, clock=fake_time.clock, timer=fake_time.timer) as first:
        paused = await first.start(
            claims_graph(chat, fake_time, paid), {}, budget={"tool_calls": 1}
        )

    async with Runner.open(db, clock=fake_time.clock, timer=fake_time.timer) as second:
        second.graph(claims_graph(chat, fake_time, paid))
        done = await second.approve(paused.run_id, by="ann")

    assert done.status == "budget_exhausted"
    assert done.reason is not None
    assert done.reason.startswith(
        "budget exhausted at node 'pay': tool_calls 1 of 1 used, so a call to tool 'pay'"
    )
    assert paid == []
    assert dims(done.usage)["tool_calls"] == 1
    assert dims(done.usage)["steps"] == 4


async def test_resume_refuses_a_changed_graph(tmp_path: Path, chat: Any, fake_time: Any) -> None:
    db = tmp_path / "rg.db"
    paid: list[float] = []
    async with Runner.open(db, clock=fake_time.clock, timer=fake_time.timer) as first:
        original = claims_graph(chat, fake_time, paid)
        paused = await first.start(original, {})

    async with Runner.open(db, clock=fake_time.clock, timer=fake_time.timer) as second:
        changed = claims_graph(chat, fake_time, paid, tool_calls=9)
        key, _ = second.graph(changed)
        with pytest.raises(DecisionError) as info:
            await second.approve(paused.run_id, by="ann")
        pending = await second.store.list_approvals(run_id=paused.run_id, status="pending")

    assert str(info.value) == (
        f"graph {key} changed since run {paused.run_id} started (signature "
        f"{original.signature} -> {changed.signature}); compare with `railgraph spec {key}`, "
        "and pass --allow-changed-graph to resume anyway\n"
        "  - budget {'tool_calls': 5, 'tokens': 10000} -> {'tool_calls': 9, 'tokens': 10000}"
    )
    assert len(pending) == 1
    assert paid == []


async def test_cancel_a_paused_run(runner: Runner, chat: Any, fake_time: Any) -> None:
    paid: list[float] = []
    paused = await runner.start(claims_graph(chat, fake_time, paid), {})

    outcome = await runner.cancel(paused.run_id, by="ops", reason="customer withdrew")

    assert outcome.status == "cancelled"
    assert outcome.reason == "cancelled by ops: customer withdrew"
    assert dims(outcome.usage)["tool_calls"] == 1
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert (approval.status, approval.decided_by) == ("cancelled", "ops")
    with pytest.raises(DecisionError):
        await runner.approve(paused.run_id, by="ann")
    with pytest.raises(DecisionError, match=f"run {paused.run_id} is cancelled; there is nothing"):
        await runner.resume(paused.run_id)
    assert paid == []
