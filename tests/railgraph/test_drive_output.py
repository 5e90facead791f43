"""A drive that ends a run settles it from the drive's output, not by reading the checkpoint
back: the result and usage it stores are the last checkpoint's, exactly."""

from __future__ import annotations

from typing import Annotated

from langgraph.channels.topic import Topic
from pydantic import BaseModel, Field

from railgraph import END, FAIL, START, GraphBuilder, RailGraph, Runner
from railgraph._drive import _ended
from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph.nodes._channels import usage_total
from railgraph.verifiers import Predicate


class Order(BaseModel):
    order_id: str = "O-1"
    found: dict[str, float] | None = None
    tries: int = 0
    note: str | None = None


class Lookup(BaseModel):
    order_id: str


class Found(BaseModel):
    total: float


def orders_graph() -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="read")
    async def fetch(args: Lookup) -> Found:
        return Found(total=42.5)

    g = GraphBuilder("orders", Order, tools=tools, policy=ToolPolicy())
    g.tool("fetch", tool="fetch", args=lambda s: {"order_id": s.order_id}, output="found")
    g.step("count", lambda s: {"tries": s.tries + 1})
    g.verify(
        "enough",
        on="tries",
        checks=[Predicate(lambda tries: tries >= 2, message="two tries at least")],
        passed="size",
        failed=FAIL,
        retry="count",
        max_retries=3,
    )
    g.route(
        "size",
        lambda s: "big" if s.found["total"] > 10 else "small",
        targets={"big": "note_big", "small": END},
    )
    g.step("note_big", lambda s: {"note": f"big order {s.order_id}"})
    g.edge(START, "fetch")
    g.edge("fetch", "count")
    g.edge("count", "enough")
    g.edge("note_big", END)
    return g.build()


async def test_a_finished_run_reports_the_state_of_its_last_checkpoint(runner: Runner) -> None:
    rail = orders_graph()

    outcome = await runner.start(rail, {"order_id": "O-7"})
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    snapshot = await runner._app(rail).aget_state(runner._config(rail, record))

    assert (outcome.status, outcome.reason) == ("completed", None)
    assert (
        outcome.result
        == rail.user_values(snapshot.values)
        == {
            "order_id": "O-7",
            "found": {"total": 42.5},
            "tries": 2,
            "note": "big order O-7",
        }
    )
    assert outcome.usage == usage_total(snapshot.values) == record.usage
    assert record.result == outcome.result


async def test_the_output_of_a_drive_is_its_state_only_without_interrupts_or_parked_gates(
    runner: Runner,
) -> None:
    rail = orders_graph()
    app = runner._app(rail)
    state = {"order_id": "O-1", "rg_events": [{"kind": "x"}], "rg_usage": {"steps": 1.0}}

    ended = _ended(app, state)

    assert ended is not None
    assert ended.values == {"order_id": "O-1", "rg_usage": {"steps": 1.0}}
    assert _ended(app, {**state, "__interrupt__": []}) is None
    parked = {"gate": {"seq": 1, "open": True, "request_id": "q-1", "request": {}}}
    assert _ended(app, {**state, "rg_requests": parked}) is None
    closed = {"gate": {"seq": 1, "open": False, "request_id": "q-1", "request": {}}}
    assert _ended(app, {**state, "rg_requests": closed}) is not None
    assert _ended(app, None) is None


class Notes(BaseModel):
    notes: Annotated[list[str], Topic(str, accumulate=False)] = Field(default_factory=list)


def test_a_graph_whose_state_forgets_values_between_steps_is_always_read_back() -> None:
    # A channel emptied after every step holds a value in the drive's output that the
    # last checkpoint does not: such a graph's drives are settled from the checkpoint.
    g = GraphBuilder("notes", Notes)
    g.step("write", lambda s: {"notes": ["one"]})
    g.edge(START, "write")
    g.edge("write", END)

    assert _ended(g.build().compile(), {"notes": ["one"]}) is None
