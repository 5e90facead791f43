"""Bad input to the runner is refused before anything is stored."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from railgraph import END, START, DecisionError, GraphBuilder, InputError, RailGraph, Runner


class Order(BaseModel):
    order_id: str
    qty: int = 1


def graph() -> RailGraph:
    g = GraphBuilder("orders", Order)
    g.step("noop", lambda s: None).edge(START, "noop").edge("noop", END)
    return g.build()


async def test_input_that_does_not_fit_the_state(runner: Runner) -> None:
    with pytest.raises(InputError) as info:
        await runner.start(graph(), {"qty": "many"})

    assert str(info.value) == (
        "input does not fit Order (order_id: Field required; qty: Input should be a valid "
        "integer, unable to parse string as an integer); its fields are order_id, qty"
    )
    assert await runner.store.list_runs() == []


async def test_unknown_budget_dimension(runner: Runner) -> None:
    with pytest.raises(InputError) as info:
        await runner.start(graph(), {"order_id": "A"}, budget={"dollars": 5})

    assert str(info.value) == (
        "unknown budget dimension 'dollars'; use one of steps, llm_calls, tool_calls, tokens, "
        "cost_usd, wall_s, retries (for example --budget tool_calls=5)"
    )
    assert await runner.store.list_runs() == []


async def test_negative_budget(runner: Runner) -> None:
    with pytest.raises(InputError, match=r"bad budget override \(steps: Input should be greater"):
        await runner.start(graph(), {"order_id": "A"}, budget={"steps": -1})


async def test_unknown_run(runner: Runner) -> None:
    with pytest.raises(InputError) as info:
        await runner.approve("nope", by="ann")

    assert str(info.value) == "no run 'nope' in this database; list runs with `railgraph runs`"


async def test_deciding_a_completed_run(runner: Runner) -> None:
    done = await runner.start(graph(), {"order_id": "A"}, run_id="r1")

    with pytest.raises(DecisionError) as info:
        await runner.approve(done.run_id, by="ann")

    assert str(info.value) == "run r1 is completed and has no pending request"
    with pytest.raises(DecisionError, match="run r1 is completed; there is nothing to resume"):
        await runner.resume("r1")
