"""Event harvesting: events written to the event channel land in run_events with the writes."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.channels.topic import Topic
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from checkpointers import EventRecord, SqliteCheckpointer
from railgraph.errors import StoreError


class EventState(TypedDict):
    n: int
    # A Topic that does not accumulate holds only the last step's events; the
    # checkpointer moves every write into run_events.
    events: Annotated[list[dict[str, Any]], Topic(dict, accumulate=False)]


def first(state: EventState) -> dict[str, Any]:
    return {
        "n": state["n"] + 1,
        "events": [
            {"kind": "node_started", "node": "first", "at": 10.0, "data": {}},
            {"kind": "node_finished", "node": "first", "at": 11.5, "data": {"n": 1}},
        ],
    }


def second(state: EventState) -> dict[str, Any]:
    return {
        "n": state["n"] + 1,
        "events": {"kind": "verdict", "node": "second", "at": 12.0, "data": {"passed": True}},
    }


def bad(state: EventState) -> dict[str, Any]:
    return {"n": 99, "events": [{"kind": "oops", "node": "bad", "at": 1.0}]}


def two_step_graph(*nodes: Any) -> StateGraph[EventState]:
    builder = StateGraph(EventState)
    previous = START
    for node in nodes:
        builder.add_node(node.__name__, node)
        builder.add_edge(previous, node.__name__)
        previous = node.__name__
    builder.add_edge(previous, END)
    return builder


async def rows(saver: SqliteCheckpointer, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await saver.conn.execute_fetchall(sql, params)]


async def test_events_are_harvested_with_the_writes(saver: SqliteCheckpointer) -> None:
    graph = two_step_graph(first, second).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "run-1"}}

    await graph.ainvoke({"n": 0}, config, durability="sync")

    assert await rows(
        saver,
        "SELECT run_id, seq, kind, node, at, data, checkpoint_ns, write_idx, position "
        "FROM run_events ORDER BY seq",
    ) == [
        ("run-1", 1, "node_started", "first", 10.0, "{}", "", 1, 0),
        ("run-1", 2, "node_finished", "first", 11.5, '{"n":1}', "", 1, 1),
        ("run-1", 3, "verdict", "second", 12.0, '{"passed":true}', "", 1, 0),
    ]
    # each event points at the stored write it came from
    assert await rows(
        saver,
        "SELECT e.seq, w.channel FROM run_events AS e JOIN checkpoint_writes AS w "
        "ON (w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, w.idx) "
        "= (e.run_id, e.checkpoint_ns, e.checkpoint_id, e.task_id, e.write_idx) ORDER BY e.seq",
    ) == [(1, "events"), (2, "events"), (3, "events")]
    assert await saver.store.list_events("run-1") == [
        EventRecord(run_id="run-1", seq=1, kind="node_started", node="first", at=10.0, data={}),
        EventRecord(
            run_id="run-1", seq=2, kind="node_finished", node="first", at=11.5, data={"n": 1}
        ),
        EventRecord(
            run_id="run-1", seq=3, kind="verdict", node="second", at=12.0, data={"passed": True}
        ),
    ]


async def test_repeated_put_writes_does_not_duplicate_events(saver: SqliteCheckpointer) -> None:
    graph = two_step_graph(first, second).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "run-1"}}
    await graph.ainvoke({"n": 0}, config, durability="sync")

    # Replay every task's writes exactly as LangGraph would after a crash.
    async for item in saver.alist(config):
        by_task: defaultdict[str, list[tuple[str, Any]]] = defaultdict(list)
        for task_id, channel, value in item.pending_writes or []:
            by_task[task_id].append((channel, value))
        for task_id, writes in by_task.items():
            await saver.aput_writes(item.config, writes, task_id)
    appended = await saver.store.append_events(
        "run-1", [{"kind": "run_finished", "node": None, "at": 13.0, "data": {}}]
    )

    assert await rows(saver, "SELECT seq, kind FROM run_events ORDER BY seq") == [
        (1, "node_started"),
        (2, "node_finished"),
        (3, "verdict"),
        (4, "run_finished"),
    ]
    assert appended == [
        EventRecord(run_id="run-1", seq=4, kind="run_finished", node=None, at=13.0, data={})
    ]


async def test_malformed_event_stores_neither_writes_nor_events(saver: SqliteCheckpointer) -> None:
    config = await saver.aput(
        {"configurable": {"thread_id": "run-2", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
    )
    good = {"kind": "ok", "node": None, "at": 1.0, "data": {}}

    with pytest.raises(
        StoreError,
        match=re.escape(
            "write 1 of task t-1 to event channel 'events': event 1 is malformed "
            "(data: Input should be a valid dictionary; extra: Extra inputs are not permitted); "
            "an event is a "
            "dict with exactly the keys kind (str), node (str or None), at (unix seconds) "
            "and data (dict); put anything else inside data."
        ),
    ):
        await saver.aput_writes(
            config, [("n", 1), ("events", [good, {**good, "extra": 1, "data": None}])], "t-1"
        )
    with pytest.raises(StoreError, match=r"item 0 is a str, not an event"):
        await saver.aput_writes(config, [("events", "node started")], "t-2")

    assert await rows(saver, "SELECT COUNT(*) FROM checkpoint_writes") == [(0,)]
    assert await rows(saver, "SELECT COUNT(*) FROM run_events") == [(0,)]


async def test_node_with_malformed_event_fails_and_leaves_no_trace(
    saver: SqliteCheckpointer,
) -> None:
    graph = two_step_graph(first, bad).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "run-3"}}

    with pytest.raises(StoreError, match=r"event 0 is malformed \(data: Field required\)"):
        await graph.ainvoke({"n": 0}, config, durability="sync")

    assert await rows(saver, "SELECT seq, kind, node FROM run_events ORDER BY seq") == [
        (1, "node_started", "first"),
        (2, "node_finished", "first"),
    ]
    assert await rows(
        saver, "SELECT COUNT(*) FROM checkpoint_writes WHERE blob IS NOT NULL AND channel = 'n'"
    ) == [(2,)]  # the input's n and first's n; bad's n=99 was never stored


async def test_without_event_channel_nothing_is_harvested(
    memory_saver: SqliteCheckpointer,
) -> None:
    graph = two_step_graph(first, second).compile(checkpointer=memory_saver)

    result = await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": "r"}}, durability="sync")

    assert result["n"] == 2
    assert await memory_saver.store.list_events("r") == []
