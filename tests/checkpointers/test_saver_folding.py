"""Folded writes: small writes after a task's event write are stored in that write's row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.channels.topic import Topic
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.checkpointers._tx import execute
from tests.checkpointers.conftest import FakeClock, query

ON_BOTH_BACKENDS = True


def add(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {key: left.get(key, 0) + right.get(key, 0) for key in {**left, **right}}


class SpendState(TypedDict):
    n: int
    events: Annotated[list[dict[str, Any]], Topic(dict, accumulate=False)]
    usage: Annotated[dict[str, float], add]


def work(state: SpendState) -> dict[str, Any]:
    # Its usage is in its event too: the folded write names it there.
    spent = {"steps": 1, "wall_s": 0.25}
    event = {"kind": "node_finished", "node": "work", "at": 1.0, "data": {"usage": spent}}
    return {"n": state["n"] + 1, "events": [event], "usage": spent}


def spend(state: SpendState) -> dict[str, Any]:
    event = {"kind": "node_finished", "node": "spend", "at": 2.0, "data": {}}
    return {"n": state["n"] + 1, "events": [event], "usage": {"steps": 1, "cost_usd": 0.5}}


def graph() -> StateGraph[SpendState]:
    builder = StateGraph(SpendState)
    builder.add_node("work", work)
    builder.add_node("spend", spend)
    builder.add_edge(START, "work")
    builder.add_edge("work", "spend")
    builder.add_edge("spend", END)
    return builder


@pytest.fixture
async def folding(db: str, clock: FakeClock) -> AsyncIterator[SqliteCheckpointer]:
    """A saver that harvests `events` and folds `usage` writes into them."""
    async with SqliteCheckpointer.from_path(
        db, event_channel="events", folded_channels=("usage",), clock=clock
    ) as s:
        yield s


async def rows(saver: SqliteCheckpointer, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await query(saver, sql, params)]


async def history(saver: SqliteCheckpointer, thread_id: str) -> list[Any]:
    """Each checkpoint's values and pending writes, oldest first, without ids.

    (Without the event channel's value, which a saver that harvests events never keeps.)
    """
    found = []
    async for item in saver.alist({"configurable": {"thread_id": thread_id}}):
        values = {k: v for k, v in item.checkpoint["channel_values"].items() if k != "events"}
        writes = [(channel, value) for _, channel, value in item.pending_writes or []]
        found.append((values, writes))
    return found[::-1]


async def test_a_graph_loads_folded_writes_as_it_wrote_them(
    folding: SqliteCheckpointer, memory_saver: SqliteCheckpointer
) -> None:
    config = {"configurable": {"thread_id": "run-1"}}
    result = await graph().compile(checkpointer=folding).ainvoke({"n": 0}, config)
    # The same graph on a saver that stores every write in a row of its own (a thread of
    # its own too: on PostgreSQL, both savers are on one database).
    plain_result = await (
        graph()
        .compile(checkpointer=memory_saver)
        .ainvoke({"n": 0}, {"configurable": {"thread_id": "plain-1"}})
    )

    assert result == plain_result
    assert (result["n"], result["usage"]) == (2, {"steps": 2, "wall_s": 0.25, "cost_usd": 0.5})
    # work's usage is named in its event's data; spend's, not in its event, is held as
    # it is; the edge's trigger has no value. spend's edge to the end writes nothing.
    assert await rows(
        folding,
        "SELECT channel, type, CAST(blob AS TEXT) FROM checkpoint_writes "
        "WHERE thread_id = 'run-1' AND channel IN ('events', 'usage', 'branch:to:work') "
        "ORDER BY checkpoint_id, idx",
    ) == [
        ("branch:to:work", "null", ""),
        (
            "events",
            "rg-events-ref+",
            '["run-1",1,1,[["usage",{"steps":1,"wall_s":0.25}],["branch:to:spend",null]]]',
        ),
        ("events", "rg-events-ref+", '["run-1",2,2,[["usage",{"steps":1,"cost_usd":0.5}]]]'),
    ]
    assert await history(folding, "run-1") == await history(memory_saver, "plain-1")


async def test_each_load_of_a_folded_write_is_a_value_of_its_own(
    folding: SqliteCheckpointer,
) -> None:
    await (
        graph()
        .compile(checkpointer=folding)
        .ainvoke({"n": 0}, {"configurable": {"thread_id": "run-1"}})
    )
    # The copy's rows name the same events: one page holds two writes of each.
    await folding.acopy_thread("run-1", "run-2")

    loaded = [item async for item in folding.alist(None)]
    usage = [v for item in loaded for _, c, v in item.pending_writes or [] if c == "usage"]
    for value in usage:
        value["steps"] += 10

    assert len(loaded) == 8
    # (newest checkpoints first, a copy's beside its source's: spend's writes, then work's)
    assert usage == [
        {"steps": 11, "cost_usd": 0.5},
        {"steps": 11, "cost_usd": 0.5},
        {"steps": 11, "wall_s": 0.25},
        {"steps": 11, "wall_s": 0.25},
    ]


async def test_only_exact_json_values_right_after_the_events_are_folded(
    folding: SqliteCheckpointer,
) -> None:
    config = await folding.aput(
        {"configurable": {"thread_id": "run-2", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
    )
    events = [{"kind": "node_finished", "node": "a", "at": 1.0, "data": {"usage": {"steps": 1}}}]
    writes: list[tuple[str, Any]] = [
        ("usage", {"before": 1}),  # before the events: a row
        ("events", events),
        ("usage", {"steps": 1}),  # held by the event too, and stored here as well
        ("other", None),
        ("usage", {"steps": 2.0, "calls": 3}),
        ("usage", {"flag": True}),  # a bool: a row, and nothing after it is folded
        ("usage", {"steps": 4}),
    ]
    await folding.aput_writes(config, writes, "t-1")
    odd: list[tuple[str, Any]] = [
        ("events", []),
        ("usage", {"wall_s": float("inf")}),
        ("events", []),
        ("usage", {"nested": {"steps": 1}}),
        ("events", []),
        ("text", "not a folded channel"),
        ("events", []),
        ("usage", {1: 2}),
    ]
    await folding.aput_writes(config, odd, "t-2")

    loaded = await folding.aget_tuple(config)

    assert await rows(
        folding,
        "SELECT task_id, idx, channel, type FROM checkpoint_writes ORDER BY task_id, idx",
    ) == [
        ("t-1", 0, "usage", "msgpack"),
        ("t-1", 1, "events", "rg-events-ref+"),
        ("t-1", 5, "usage", "msgpack"),
        ("t-1", 6, "usage", "msgpack"),
        ("t-2", 0, "events", "rg-events-ref"),
        ("t-2", 1, "usage", "msgpack"),
        ("t-2", 2, "events", "rg-events-ref"),
        ("t-2", 3, "usage", "msgpack"),
        ("t-2", 4, "events", "rg-events-ref"),
        ("t-2", 5, "text", "msgpack"),
        ("t-2", 6, "events", "rg-events-ref"),
        ("t-2", 7, "usage", "msgpack"),
    ]
    assert await rows(
        folding,
        "SELECT CAST(blob AS TEXT) FROM checkpoint_writes WHERE task_id = 't-1' AND idx = 1",
    ) == [
        ('["run-2",1,1,[["usage",{"steps":1}],["other",null],["usage",{"steps":2.0,"calls":3}]]]',)
    ]
    assert loaded is not None
    assert loaded.pending_writes == [("t-1", channel, value) for channel, value in writes] + [
        ("t-2", channel, value) for channel, value in odd
    ]
    steps = [value for _, channel, value in loaded.pending_writes if channel == "usage"][2]
    assert type(steps["steps"]) is float and type(steps["calls"]) is int


async def test_rows_written_without_folding_load_the_same(
    db: str, clock: FakeClock, folding: SqliteCheckpointer
) -> None:
    events = [{"kind": "node_finished", "node": "a", "at": 1.0, "data": {}}]
    writes: list[tuple[str, Any]] = [("events", events), ("usage", {"steps": 1})]
    async with SqliteCheckpointer.from_path(db, event_channel="events", clock=clock) as plain:
        config = await plain.aput(
            {"configurable": {"thread_id": "run-3", "checkpoint_ns": ""}},
            empty_checkpoint(),
            {},
            {},
        )
        # As earlier releases stored them: the events' row names only the events.
        await plain.aput_writes(config, writes, "t-1")
        await folding.aput_writes(config, writes, "t-2")
        by_plain = await plain.aget_tuple(config)
    by_folding = await folding.aget_tuple(config)

    assert await rows(
        folding,
        "SELECT task_id, channel, CAST(blob AS TEXT) FROM checkpoint_writes "
        "WHERE type LIKE 'rg-events-ref%' ORDER BY task_id",
    ) == [
        ("t-1", "events", '["run-3",1,1]'),
        ("t-2", "events", '["run-3",2,2,[["usage",{"steps":1}]]]'),
    ]
    assert await rows(folding, "SELECT task_id FROM checkpoint_writes WHERE channel = 'usage'") == [
        ("t-1",)
    ]
    expected = [("t-1", channel, value) for channel, value in writes] + [
        ("t-2", channel, value) for channel, value in writes
    ]
    assert by_plain is not None and by_plain.pending_writes == expected
    assert by_folding is not None and by_folding.pending_writes == expected


async def test_a_repeated_put_writes_keeps_the_first_folded_values(
    folding: SqliteCheckpointer,
) -> None:
    config = await folding.aput(
        {"configurable": {"thread_id": "run-4", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
    )
    events = [{"kind": "node_finished", "node": "a", "at": 1.0, "data": {}}]

    await folding.aput_writes(config, [("events", events), ("usage", {"steps": 1})], "t-1")
    await folding.aput_writes(config, [("events", events), ("usage", {"steps": 5})], "t-1")
    loaded = await folding.aget_tuple(config)

    assert loaded is not None
    assert loaded.pending_writes == [("t-1", "events", events), ("t-1", "usage", {"steps": 1})]
    assert await rows(folding, "SELECT COUNT(*) FROM run_events") == [(1,)]


async def test_folded_writes_load_even_when_their_events_are_gone(
    folding: SqliteCheckpointer,
) -> None:
    # As for a thread copied from a run that was pruned since: its rows name events that
    # are no longer there, and the writes folded into them still load as they were.
    config = {"configurable": {"thread_id": "run-5"}}
    await graph().compile(checkpointer=folding).ainvoke({"n": 0}, config)
    await folding._db.write(lambda: execute("DELETE FROM run_events"))

    loaded = [item async for item in folding.alist(config)]

    folded = [
        (channel, value)
        for item in reversed(loaded)
        for _, channel, value in item.pending_writes or []
        if channel in ("events", "usage")
    ]
    assert folded == [
        ("events", []),
        ("usage", {"steps": 1, "wall_s": 0.25}),
        ("events", []),
        ("usage", {"steps": 1, "cost_usd": 0.5}),
    ]
