"""A runner resumes each run with the graph object the run was started with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph.nodes import ToolRegistry


class Transfer(BaseModel):
    receipt: dict[str, Any] | None = None


class Amount(BaseModel):
    amount: float


class Receipt(BaseModel):
    amount: float


def transfer_graph(amount: float, paid: list[float]) -> RailGraph:
    """Same name, same module, same structure: only the amount in a closure differs."""
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def pay(args: Amount) -> Receipt:
        paid.append(args.amount)
        return Receipt(amount=args.amount)

    g = GraphBuilder("transfer", Transfer, tools=tools)
    g.approve("review", action="pay", approved="pay", rejected=END)
    g.tool("pay", args=lambda s: {"amount": amount}, output="receipt")
    g.edge(START, "review").edge("pay", END)
    return g.build()


async def test_two_graphs_with_one_name_do_not_swap_runs(runner: Runner) -> None:
    paid: list[float] = []
    small, large = transfer_graph(10.0, paid), transfer_graph(9_000.0, paid)
    assert small.signature == large.signature

    first = await runner.start(small, {})
    await runner.start(large, {})
    assert first.pending[0].request["action"]["args"] == {"amount": 10.0}

    done = await runner.approve(first.run_id, by="ann")

    # the reviewer approved a transfer of 10.0; that is what must be paid
    assert paid == [10.0]
    assert done.result["receipt"] == {"amount": 10.0}
