"""Upgrading a schema-2 database (written before values were stored by content) to schema 3.

The schema-2 rows are made the way the schema-2 saver made them: the serialized
checkpoint holds its `channel_versions`, every value sits inline in its blob or
write row, and versions have the old `f"{counter:032}.{random}"` form. The
history comes from a real graph run on LangGraph's `InMemorySaver`, whose
versions have that same form.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, TypedDict

from langgraph.checkpoint.base import CheckpointTuple, get_serializable_checkpoint_metadata
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import SCHEMA_VERSION, SqliteCheckpointer
from railgraph.checkpointers._json import dumps
from railgraph.checkpointers._open import open_database
from railgraph.checkpointers._schema import MIGRATIONS, migrate

BIG = "".join(chr(ord("a") + (i * 7919) % 26) for i in range(100_000))


class State(TypedDict):
    big: str
    counter: int


def increment(state: State) -> dict[str, Any]:
    return {"counter": state["counter"] + 1}


def three_steps() -> StateGraph[State]:
    builder = StateGraph(State)
    builder.add_node("one", increment)
    builder.add_node("two", increment)
    builder.add_node("three", increment)
    builder.add_edge(START, "one")
    builder.add_edge("one", "two")
    builder.add_edge("two", "three")
    builder.add_edge("three", END)
    return builder


def rows_as_schema_2(history: list[CheckpointTuple]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the schema-2 saver stored for this history (oldest checkpoint first)."""
    serde = JsonPlusSerializer()
    rows: dict[str, list[tuple[Any, ...]]] = {"checkpoints": [], "blobs": [], "writes": []}
    for t in reversed(history):
        conf = t.config["configurable"]
        thread, ns, checkpoint_id = conf["thread_id"], conf["checkpoint_ns"], conf["checkpoint_id"]
        checkpoint = {k: v for k, v in t.checkpoint.items() if k != "channel_values"}
        versions = t.checkpoint["channel_versions"]
        parent = t.parent_config["configurable"]["checkpoint_id"] if t.parent_config else None
        rows["checkpoints"].append(
            (
                thread,
                ns,
                checkpoint_id,
                parent,
                *serde.dumps_typed(checkpoint),
                dumps(get_serializable_checkpoint_metadata({}, t.metadata)),
                dumps({channel: str(version) for channel, version in versions.items()}),
                None,
            )
        )
        values = t.checkpoint["channel_values"]
        for channel, version in versions.items():
            blob = serde.dumps_typed(values[channel]) if channel in values else ("empty", None)
            rows["blobs"].append((thread, ns, channel, str(version), *blob))
        for idx, (task_id, channel, value) in enumerate(t.pending_writes or []):
            rows["writes"].append(
                (thread, ns, checkpoint_id, task_id, idx, channel, *serde.dumps_typed(value), "")
            )
    return rows


async def schema_2_database(path: Path, history: list[CheckpointTuple]) -> None:
    rows = rows_as_schema_2(history)
    async with open_database(path, synchronous="NORMAL") as db:
        assert await migrate(db, MIGRATIONS[:2]) == 2
        conn = db.conn
        await conn.executemany(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["checkpoints"]
        )
        await conn.executemany(
            "INSERT OR IGNORE INTO checkpoint_blobs VALUES (?, ?, ?, ?, ?, ?)", rows["blobs"]
        )
        await conn.executemany(
            "INSERT INTO checkpoint_writes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["writes"]
        )


def read_file(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute(sql)]


async def test_a_schema_2_database_is_upgraded_and_its_history_reads_back_unchanged(
    db_path: Path,
) -> None:
    memory = InMemorySaver()
    config: Any = {"configurable": {"thread_id": "old"}}
    graph = three_steps().compile(checkpointer=memory, interrupt_before=["three"])
    await graph.ainvoke({"big": BIG, "counter": 0}, config, durability="sync")
    history = [t async for t in memory.alist(config)]
    assert len(history) == 4  # input, then after START, one and two: paused before three
    await schema_2_database(db_path, history)
    assert read_file(db_path, "PRAGMA user_version") == [(2,)]

    async with SqliteCheckpointer.from_path(db_path) as saver:
        upgraded = [t async for t in saver.alist(config)]
        latest = await saver.aget_tuple(config)

    assert read_file(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert [t.config for t in upgraded] == [t.config for t in history]
    assert [t.parent_config for t in upgraded] == [t.parent_config for t in history]
    assert [t.checkpoint for t in upgraded] == [t.checkpoint for t in history]
    assert [t.metadata for t in upgraded] == [t.metadata for t in history]
    assert [t.pending_writes for t in upgraded] == [t.pending_writes for t in history]
    assert latest == upgraded[0]
    assert latest.checkpoint["channel_values"]["big"] == BIG
    # The old rows keep their bytes inline; nothing was moved to checkpoint_values.
    assert read_file(db_path, "SELECT COUNT(*) FROM checkpoint_values") == [(0,)]
    assert read_file(
        db_path, "SELECT COUNT(*) FROM checkpoint_blobs WHERE length(blob) > 100000"
    ) == [(2,)]  # the input channel's value and the big channel's


async def test_a_thread_from_schema_2_resumes_with_versions_that_keep_increasing(
    db_path: Path,
) -> None:
    memory = InMemorySaver()
    config: Any = {"configurable": {"thread_id": "old"}}
    paused = three_steps().compile(checkpointer=memory, interrupt_before=["three"])
    await paused.ainvoke({"big": BIG, "counter": 0}, config, durability="sync")
    await schema_2_database(db_path, [t async for t in memory.alist(config)])

    async with SqliteCheckpointer.from_path(db_path) as saver:
        graph = three_steps().compile(checkpointer=saver, interrupt_before=["three"])
        result = await graph.ainvoke(None, config, durability="sync")
        history = [t async for t in saver.alist(config)]

    assert result == {"big": BIG, "counter": 3}
    assert [t.metadata["step"] for t in history] == [3, 2, 1, 0, -1]
    old, new = history[1].checkpoint, history[0].checkpoint
    assert old["channel_versions"]["counter"].startswith("0")  # the schema-2 form
    assert new["channel_versions"]["counter"][0].isalpha()  # the current form
    assert new["channel_versions"]["counter"] > old["channel_versions"]["counter"]
    assert new["channel_values"] == {"big": BIG, "counter": 3}
