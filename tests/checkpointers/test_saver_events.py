"""Event harvesting: events written to the event channel land in run_events with the writes."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.channels.topic import Topic
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import EventRecord, SqliteCheckpointer
from railgraph.errors import StoreError
from tests.checkpointers.conftest import query

ON_BOTH_BACKENDS = True


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
    return [tuple(row) for row in await query(saver, sql, params)]


async def test_events_are_harvested_with_the_writes(saver: SqliteCheckpointer) -> None:
    graph = two_step_graph(first, second).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "run-1"}}

    await graph.ainvoke({"n": 0}, config, durability="sync")

    assert await rows(
        saver, "SELECT run_id, seq, kind, node, at, data FROM run_events ORDER BY seq"
    ) == [
        ("run-1", 1, "node_started", "first", 10.0, "{}"),
        ("run-1", 2, "node_finished", "first", 11.5, '{"n":1}'),
        ("run-1", 3, "verdict", "second", 12.0, '{"passed":true}'),
    ]
    # Each event is stored once: the write to the event channel names its events by
    # (run, first seq, last seq), and the channel's value is not kept in checkpoints.
    # The edge's trigger that `first` wrote after its events, a write of no value, is
    # folded into that row.
    assert await rows(
        saver,
        "SELECT type, CAST(blob AS TEXT), value_hash FROM checkpoint_writes "
        "WHERE channel = 'events' ORDER BY checkpoint_id",
    ) == [
        ("rg-events-ref+", '["run-1",1,2,[["branch:to:second",null]]]', None),
        ("rg-events-ref", '["run-1",3,3]', None),
    ]
    assert await rows(saver, "SELECT COUNT(*) FROM checkpoint_blobs WHERE channel = 'events'") == [
        (0,)
    ]
    assert await saver.store.list_events("run-1") == [
        EventRecord(run_id="run-1", seq=1, kind="node_started", node="first", at=10.0, data={}),
        EventRecord(
            run_id="run-1", seq=2, kind="node_finished", node="first", at=11.5, data={"n": 1}
        ),
        EventRecord(
            run_id="run-1", seq=3, kind="verdict", node="second", at=12.0, data={"passed": True}
        ),
    ]


async def test_pending_event_writes_load_from_the_run_store(saver: SqliteCheckpointer) -> None:
    config = await saver.aput(
        {"configurable": {"thread_id": "run-4", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
    )
    events = [
        {"kind": "node_started", "node": "a", "at": 1.0, "data": {}},
        {"kind": "node_finished", "node": "a", "at": 2.0, "data": {"api_key": "s3cret", "n": 1}},
    ]
    await saver.aput_writes(config, [("n", 1), ("events", events)], "t-1")
    await saver.aput_writes(config, [("events", [])], "t-2")

    loaded = await saver.aget_tuple(config)

    assert loaded is not None
    # As people see them: the secret redacted, like every stored event.
    assert loaded.pending_writes == [
        ("t-1", "n", 1),
        (
            "t-1",
            "events",
            [
                events[0],
                {**events[1], "data": {"api_key": "[redacted]", "n": 1}},
            ],
        ),
        ("t-2", "events", []),
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


async def test_a_schema_4_database_keeps_its_events_and_event_writes(tmp_path: Any) -> None:
    from railgraph.checkpointers._open import open_database
    from railgraph.checkpointers._schema import MIGRATIONS, migrate

    path = tmp_path / "old.db"
    events = [{"kind": "node_started", "node": "first", "at": 10.0, "data": {}}]
    async with open_database(path, synchronous="NORMAL") as db:
        assert await migrate(db, MIGRATIONS[:4]) == 4
        old = SqliteCheckpointer(db)
        config = await old.aput(
            {"configurable": {"thread_id": "run-1", "checkpoint_ns": ""}},
            empty_checkpoint(),
            {},
            {},
        )
        # As schema 4 stored them: the write holds a copy, run_events its coordinates.
        write_type, blob = old.serde.dumps_typed(events)
        await db.conn.execute(
            "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
            "idx, channel, type, blob) VALUES ('run-1', '', ?, 't-1', 0, 'events', ?, ?)",
            (config["configurable"]["checkpoint_id"], write_type, blob),
        )
        await db.conn.execute(
            "INSERT INTO run_events (run_id, seq, kind, node, at, data, checkpoint_ns, "
            "checkpoint_id, task_id, write_idx, position) "
            "VALUES ('run-1', 1, 'node_started', 'first', 10.0, '{}', '', ?, 't-1', 0, 0)",
            (config["configurable"]["checkpoint_id"],),
        )
        await db.conn.commit()

    async with SqliteCheckpointer.from_path(path, event_channel="events") as saver:
        loaded = await saver.aget_tuple(config)
        appended = await saver.store.append_events(
            "run-1", [{"kind": "run_finished", "node": None, "at": 11.0, "data": {}}]
        )
        listed = await saver.store.list_events("run-1")

    assert loaded is not None and loaded.pending_writes == [("t-1", "events", events)]
    assert [e.seq for e in appended] == [2]
    assert [(e.seq, e.kind) for e in listed] == [(1, "node_started"), (2, "run_finished")]


def test_the_quick_path_for_well_shaped_events_agrees_with_validation() -> None:
    from railgraph.checkpointers._events import NewEvent, parse_events

    quick = parse_events([{"kind": "k", "node": None, "at": 1, "data": {"n": 1}}], source="s")
    validated = NewEvent.model_validate({"kind": "k", "node": None, "at": 1, "data": {"n": 1}})

    assert quick == [validated]
    assert type(quick[0].at) is float
    # Anything off the common shape is validated, with the message validation gives.
    with pytest.raises(StoreError, match=r"^s: event 0 is malformed \(data\.1\.\[key\]: "):
        parse_events({"kind": "k", "node": None, "at": 1.0, "data": {1: "x"}}, source="s")
    with pytest.raises(StoreError, match=r"^s: event 0 is malformed \(node: "):
        parse_events({"kind": "k", "node": 3, "at": 1.0, "data": {}}, source="s")


def test_rows_harvested_without_models_equal_the_validated_rows() -> None:
    from railgraph.checkpointers._events import event_rows, harvest_rows, parse_events
    from railgraph.checkpointers._redact import Redactor

    redactor = Redactor()
    plain = [
        {"kind": "node_finished", "node": "a", "at": 2, "data": {"api_key": "k", "n": [1]}},
        {"kind": "run_note", "node": None, "at": 3.5, "data": {}},
    ]
    # A tuple of events, and a lone event, are writes of the same shape.
    mixed = ({"kind": "k", "node": "a", "at": 1.0, "data": {"token": "t"}}, *plain)
    not_asked: list[str] = []

    def source() -> str:
        not_asked.append("asked")
        return "s"

    rows = harvest_rows(plain, redactor, source=source)

    assert rows == [
        ("node_finished", "a", 2.0, '{"api_key":"[redacted]","n":[1]}'),
        ("run_note", None, 3.5, "{}"),
    ]
    assert rows == event_rows(parse_events(plain, source="s"), redactor)
    assert harvest_rows(mixed, None, source=source) == event_rows(parse_events(mixed, source="s"))
    assert harvest_rows(plain[1], redactor, source=source) == [("run_note", None, 3.5, "{}")]
    assert not_asked == []
    # One event off the common shape sends the whole write through validation.
    with pytest.raises(StoreError, match=r"^s: event 1 is malformed \(node: "):
        harvest_rows([plain[0], {**plain[1], "node": 3}], redactor, source=source)
    assert not_asked == ["asked"]
