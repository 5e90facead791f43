"""The kill switch of a tool call that claims an effect: asked in the claim, and first in rank."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from railgraph.errors import BudgetExhausted, PolicyError, RunCancelled, ToolError
from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph.nodes._budget import BudgetEnvelope, PriceTable, Usage
from railgraph.nodes._runtime import NodeContext, Runtime


class Number(BaseModel):
    x: int


class Completions:
    """What a ledger records after a claim: nothing, here."""

    async def complete_effect(self, key: str, result: Any) -> None:
        pass

    async def complete_effect_with_next_write(self, key: str, run_id: str, result: Any) -> None:
        pass

    async def fail_effect(self, key: str, error: str) -> None:
        pass


class Ledger(Completions):
    """A ledger that claims every effect, and counts the claims and the kill-switch reads."""

    checks_run_state = True

    def __init__(self) -> None:
        self.claims: list[tuple[str, str | None]] = []

    async def begin_effect(
        self,
        key: str,
        *,
        run_id: str,
        node: str,
        tool: str,
        args: dict[str, Any],
        driver: str | None = None,
    ) -> None:
        self.claims.append((tool, driver))


class PlainLedger(Completions):
    """A ledger that does not check the run's state in its claims (nor takes a driver)."""

    def __init__(self) -> None:
        self.claims: list[str] = []

    async def begin_effect(
        self, key: str, *, run_id: str, node: str, tool: str, args: dict[str, Any]
    ) -> None:
        self.claims.append(tool)


def context(
    cancelled: bool, *, tool_calls: int | None = None, ledger: Any = None
) -> tuple[NodeContext, Any, list[str]]:
    tools = ToolRegistry()

    @tools.tool(tier="write", name="pay")
    async def pay(args: Number) -> Number:
        return args

    @tools.tool(tier="write", name="wire")
    async def wire(args: Number) -> Number:
        return args

    asked: list[str] = []

    async def is_cancelled() -> bool:
        asked.append("asked")
        return cancelled

    ledger = ledger if ledger is not None else Ledger()
    runtime = Runtime(
        run_id="r",
        graph="g",
        envelope=BudgetEnvelope(tool_calls=tool_calls),
        tools=tools,
        policy=ToolPolicy(tiers={"write": "auto"}, tools={"wire": "block"}),
        prices=PriceTable(),
        ledger=ledger,
        cancelled=is_cancelled,
        driver="me",
    )
    return NodeContext(runtime, "n", Usage()), ledger, asked


async def test_a_claimed_call_asks_the_claim_not_a_read_of_its_own() -> None:
    ctx, ledger, asked = context(cancelled=False)
    assert await ctx.call_tool("pay", {"x": 1}) == {"x": 1}
    assert ledger.claims == [("pay", "me")]
    assert asked == []


@pytest.mark.parametrize(
    ("tool", "args", "budget", "refusal"),
    [
        ("pay", {"x": "many"}, None, ToolError),
        ("wire", {"x": 1}, None, PolicyError),
        ("pay", {"x": 1}, 0, BudgetExhausted),
    ],
)
async def test_a_cancel_outranks_every_other_refusal_of_a_claimed_call(
    tool: str, args: dict[str, Any], budget: int | None, refusal: type[Exception]
) -> None:
    ctx, ledger, asked = context(cancelled=False, tool_calls=budget)
    with pytest.raises(refusal):
        await ctx.call_tool(tool, args)
    assert asked == ["asked"]

    ctx, ledger, asked = context(cancelled=True, tool_calls=budget)
    with pytest.raises(
        RunCancelled, match=rf"^run r was cancelled, so the call to tool '{tool}' was not made$"
    ):
        await ctx.call_tool(tool, args)
    assert (asked, ledger.claims) == (["asked"], [])


async def test_a_ledger_that_does_not_check_the_run_gets_the_kill_switch_first() -> None:
    ctx, ledger, asked = context(cancelled=False, ledger=PlainLedger())
    assert await ctx.call_tool("pay", {"x": 1}) == {"x": 1}
    assert (asked, ledger.claims) == (["asked"], ["pay"])

    ctx, ledger, asked = context(cancelled=True, ledger=PlainLedger())
    with pytest.raises(
        RunCancelled, match=r"^run r was cancelled, so the call to tool 'pay' was not made$"
    ):
        await ctx.call_tool("pay", {"x": 1})
    assert (asked, ledger.claims) == (["asked"], [])
