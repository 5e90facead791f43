"""The state a run stores is the state its model declares.

A node's update is checked against the state model before it is stored: a value of the
wrong type used to be stored as is (and broke the run at the next node, leaving it
`running`), and a key the model does not declare was dropped silently. Run input naming a
field the model does not declare is refused, unless the model allows extra fields.
"""

from __future__ import annotations

import math
import operator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from railgraph import END, START, GraphBuilder, InputError, RailGraph, Runner
from railgraph.nodes import ToolRegistry


class Counter(BaseModel):
    count: int = 0
    label: str = ""
    seen: Annotated[list[int], operator.add] = Field(default_factory=list)
    positive: int = Field(default=1, gt=0)

    @field_validator("label")
    @classmethod
    def _no_shouting(cls, label: str) -> str:
        if label.isupper():
            raise ValueError("labels are not shouted")
        return label


def one_step(update: dict[str, Any]) -> RailGraph:
    g = GraphBuilder("counter", Counter)
    g.step("bump", lambda s: update)
    g.step("after", lambda s: None)
    g.edge(START, "bump").edge("bump", "after").edge("after", END)
    return g.build()


@pytest.mark.parametrize(
    ("update", "problem"),
    [
        (
            {"count": "text"},
            "count: Input should be a valid integer, unable to parse string as an integer "
            "(got str)",
        ),
        (
            {"count": 1.5},
            "count: Input should be a valid integer, got a number with a "
            "fractional part (got float)",
        ),
        (
            {"seen": ["a"]},
            "seen.0: Input should be a valid integer, unable to parse string as "
            "an integer (got str)",
        ),
        ({"positive": 0}, "positive: Input should be greater than 0 (got int)"),
        ({"label": "LOUD"}, "label: Value error, labels are not shouted (got str)"),
    ],
)
async def test_a_value_of_the_wrong_type_fails_the_node(
    runner: Runner, update: dict[str, Any], problem: str
) -> None:
    outcome = await runner.start(one_step(update), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        f"RunError: node 'bump' returned a value Counter refuses: {problem}; return values "
        "of the types Counter declares"
    )
    # Nothing of the bad update was stored, and the run did not go on.
    assert outcome.result["count"] == 0
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("run_failed", "bump"),
    ]
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert record.status == "failed"


async def test_an_unknown_key_fails_the_node(runner: Runner) -> None:
    outcome = await runner.start(one_step({"count": 1, "cuont": 2, "extra": 3}), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "RunError: node 'bump' returned 'cuont', 'extra', which Counter does not declare (its "
        "fields: count, label, seen, positive); add the field to Counter or fix what the "
        "node returns"
    )
    assert outcome.result["count"] == 0


async def test_an_unknown_key_fails_even_when_the_model_allows_extras(runner: Runner) -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")
        count: int = 0

    g = GraphBuilder("loose", Loose)
    g.step("bump", lambda s: {"cuont": 1}).edge(START, "bump").edge("bump", END)

    outcome = await runner.start(g.build(), {})

    # LangGraph keeps only declared channels: an extra key in an update would be lost.
    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert "node 'bump' returned 'cuont', which Loose does not declare" in outcome.reason


async def test_valid_updates_are_stored_as_given(runner: Runner) -> None:
    outcome = await runner.start(one_step({"count": 3, "seen": [1, 2], "label": "ok"}), {})

    assert outcome.status == "completed"
    assert outcome.result == {"count": 3, "label": "ok", "seen": [1, 2], "positive": 1}


class Reply(BaseModel):
    text: str


class Ask(BaseModel):
    q: str


class Typed(BaseModel):
    answer: int | None = None
    reply: Reply | None = None


async def test_an_llm_reply_of_the_wrong_type_fails_the_node(runner: Runner, chat: Any) -> None:
    g = GraphBuilder("typed", Typed)
    g.llm(
        "ask",
        model=chat(("forty-two", 1, 1)),
        model_name="m",
        prompt=lambda s: "?",
        output="answer",
    )
    g.edge(START, "ask").edge("ask", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason.startswith(
        "RunError: node 'ask' returned a value Typed refuses: answer: "
    )
    # What the node spent before it failed is still accounted for.
    assert outcome.usage["llm_calls"] == 1


async def test_a_tool_output_that_does_not_fit_its_field_fails_the_node(runner: Runner) -> None:
    tools = ToolRegistry()

    @tools.tool(tier="read")
    def ask(args: Ask) -> Ask:
        return Ask(q=args.q)

    g = GraphBuilder("typed-tool", Typed, tools=tools)
    g.tool("ask", args=lambda s: {"q": "x"}, output="reply")
    g.edge(START, "ask").edge("ask", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "RunError: node 'ask' returned a value Typed refuses: reply.text: Field required "
        "(got dict); return values of the types Typed declares"
    )


# -- run input ---------------------------------------------------------------------------------


class Order(BaseModel):
    order_id: str
    qty: int = 1


def orders(state: type[BaseModel] = Order) -> RailGraph:
    g = GraphBuilder("orders", state)
    g.step("noop", lambda s: None).edge(START, "noop").edge("noop", END)
    return g.build()


async def test_input_with_a_misspelled_field_is_refused(runner: Runner) -> None:
    with pytest.raises(InputError) as info:
        await runner.start(orders(), {"order_id": "A", "qyt": 5, "note": "x"})

    assert str(info.value) == (
        "input has fields Order does not declare: 'note', 'qyt'; its fields are order_id, qty"
    )
    assert await runner.store.list_runs() == []


async def test_input_naming_railgraph_channels_is_refused(runner: Runner) -> None:
    with pytest.raises(InputError, match="does not declare: 'rg_status', 'rg_usage'"):
        await runner.start(
            orders(), {"order_id": "A", "rg_usage": {"steps": -100}, "rg_status": {}}
        )

    assert await runner.store.list_runs() == []


class OpenOrder(BaseModel):
    model_config = ConfigDict(extra="allow")
    order_id: str


async def test_a_model_that_allows_extras_accepts_them(runner: Runner) -> None:
    outcome = await runner.start(orders(OpenOrder), {"order_id": "A", "gift": True})

    assert outcome.status == "completed"
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert record.input == {"order_id": "A", "gift": True}


async def test_a_model_that_allows_extras_still_refuses_railgraph_channels(
    runner: Runner,
) -> None:
    with pytest.raises(InputError) as info:
        await runner.start(orders(OpenOrder), {"order_id": "A", "rg_usage": {"steps": -100}})

    assert str(info.value) == (
        "input has fields OpenOrder does not declare: 'rg_usage'; its fields are order_id"
    )


class Reading(BaseModel):
    x: float = 0.0
    buckets: dict[float, int] = Field(default_factory=dict)


class Probe(BaseModel):
    x: float


class Measured(BaseModel):
    y: float


async def test_a_run_with_nan_and_infinities_stays_readable(runner: Runner) -> None:
    # JSON has no NaN or Infinity: SQLite's JSON functions refuse a row that holds them, and
    # listing the run's events failed once a tool was given an infinity.
    tools = ToolRegistry()

    @tools.tool(tier="read", name="measure")
    async def measure(args: Probe) -> Measured:
        return Measured(y=math.nan)

    g = GraphBuilder("non_finite", Reading, tools=tools)
    g.tool("probe", tool="measure", args=lambda s: {"x": math.inf}, output=None)
    # A histogram's "+Inf" bucket: a non-finite float as a key.
    g.step("drift", lambda s: {"x": -math.inf, "buckets": {0.5: 1, math.inf: 3}})
    g.edge(START, "probe")
    g.edge("probe", "drift")
    g.edge("drift", END)
    outcome = await runner.start(g.build(), {"x": math.nan})

    assert outcome.status == "completed"
    assert outcome.result == {"x": -math.inf, "buckets": {0.5: 1, math.inf: 3}}
    # The events, for people, are JSON the database reads: non-finite values are shown as
    # text, as the review queue shows them, in every event (a call's, the run's input).
    events = await runner.store.list_events(outcome.run_id)
    [call] = [e for e in events if e.kind == "tool_call"]
    assert (call.data["args"], call.data["result"]) == ({"x": "Infinity"}, {"y": "NaN"})
    [started] = [e for e in events if e.kind == "run_started"]
    assert started.data["input"] == {"x": "NaN", "buckets": {}}
    # What the run reads back keeps its values (as text keys, as JSON has them).
    stored = await runner.store.get_run(outcome.run_id)
    assert stored is not None
    assert stored.result == {"x": -math.inf, "buckets": {"0.5": 1, "Infinity": 3}}
    [page] = [r for r in await runner.store.list_runs() if r.run_id == outcome.run_id]
    assert page.status == "completed"
