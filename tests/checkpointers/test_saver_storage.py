"""Checkpoint storage: blobs stored once, pages read in constant queries, metadata filters."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import SqliteCheckpointer
from tests.checkpointers.conftest import SQLITE_ONLY, query

ON_BOTH_BACKENDS = True

BIG = "x" * 100_000


class BigState(TypedDict):
    big: str
    counter: int


def increment(state: BigState) -> dict[str, Any]:
    return {"counter": state["counter"] + 1}


def chain_of_ten() -> StateGraph[BigState]:
    builder = StateGraph(BigState)
    previous = START
    for i in range(10):
        builder.add_node(f"step_{i}", increment)
        builder.add_edge(previous, f"step_{i}")
        previous = f"step_{i}"
    builder.add_edge(previous, END)
    return builder


async def scalar(saver: SqliteCheckpointer, sql: str, *params: Any) -> Any:
    rows = list(await query(saver, sql, params))
    return rows[0][0]


async def test_unchanged_big_channel_is_stored_once(saver: SqliteCheckpointer) -> None:
    graph = chain_of_ten().compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "big-1"}}

    result = await graph.ainvoke({"big": BIG, "counter": 0}, config, durability="sync")

    assert result == {"big": BIG, "counter": 10}
    # input checkpoint, then one per superstep: 1 + 11
    assert (
        await scalar(saver, "SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", "big-1") == 12
    )
    assert (
        await scalar(
            saver,
            "SELECT COUNT(*) FROM checkpoint_blobs WHERE thread_id = ? AND channel = 'big'",
            "big-1",
        )
        == 1
    )
    assert (
        await scalar(
            saver,
            "SELECT COUNT(*) FROM checkpoint_blobs WHERE thread_id = ? AND channel = 'counter'",
            "big-1",
        )
        == 11
    )
    latest = await saver.aget_tuple(config)
    assert latest is not None
    assert latest.checkpoint["channel_values"]["big"] == BIG
    assert latest.checkpoint["channel_values"]["counter"] == 10
    # every checkpoint from step 0 on reassembles the one stored value
    values = [t.checkpoint["channel_values"] async for t in saver.alist(config)]
    assert [v.get("big") == BIG for v in values] == [True] * 11 + [False]


async def fill_thread(
    saver: SqliteCheckpointer, make_checkpoint: Any, thread_id: str, count: int
) -> None:
    """Put `count` checkpoints where only channel `a` changes, each with two writes."""
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    for i in range(count):
        version = saver.get_next_version(None if i == 0 else f"{i:032}.0", None)
        checkpoint = make_checkpoint({"a": i, "b": "same"}, {"a": version, "b": "1"})
        new_versions = {"a": version, "b": "1"} if i == 0 else {"a": version}
        config = await saver.aput(config, checkpoint, {"source": "loop", "step": i}, new_versions)
        await saver.aput_writes(config, [("a", i + 1), ("b", "same")], f"task-{i}")


async def list_counting_statements(
    saver: SqliteCheckpointer, thread_id: str
) -> tuple[list[CheckpointTuple], list[str]]:
    """List a thread while recording every SQL statement the connection runs."""
    statements: list[str] = []
    await saver.conn.set_trace_callback(statements.append)
    try:
        found = [t async for t in saver.alist({"configurable": {"thread_id": thread_id}})]
    finally:
        await saver.conn.set_trace_callback(None)  # type: ignore[arg-type]  # None removes it
    return found, statements


@SQLITE_ONLY
async def test_alist_runs_the_same_statements_for_3_and_30_rows(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    await fill_thread(memory_saver, make_checkpoint, "small", 3)
    await fill_thread(memory_saver, make_checkpoint, "large", 30)

    small, small_statements = await list_counting_statements(memory_saver, "small")
    large, large_statements = await list_counting_statements(memory_saver, "large")

    assert len(small) == 3
    assert len(large) == 30
    # BEGIN, the page, its blobs, its writes, COMMIT
    assert len(small_statements) == len(large_statements) == 5
    assert (small_statements[0], small_statements[-1]) == ("BEGIN", "COMMIT")
    assert [t.checkpoint["channel_values"] for t in large] == [
        {"a": i, "b": "same"} for i in reversed(range(30))
    ]
    assert [t.pending_writes for t in large] == [
        [(f"task-{i}", "a", i + 1), (f"task-{i}", "b", "same")] for i in reversed(range(30))
    ]


async def test_metadata_filter_compares_json_types(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    metadatas: list[Any] = [
        {"step": 1, "flag": True, "tags": ["a", "b"], "who": None, 'odd"key': "x"},
        {"step": 1.0, "flag": 1, "tags": ["b", "a"], "who": "ann"},
        {"step": "1", "flag": False},
    ]
    for metadata in metadatas:
        await memory_saver.aput(config, make_checkpoint({}, {}), metadata, {})

    async def steps_matching(filter: dict[str, Any]) -> list[Any]:
        return [t.metadata["step"] async for t in memory_saver.alist(config, filter=filter)]

    assert await steps_matching({"step": 1}) == [1.0, 1]
    assert await steps_matching({"step": "1"}) == ["1"]
    assert await steps_matching({"flag": True}) == [1]
    assert await steps_matching({"flag": 1}) == [1.0]
    assert await steps_matching({"tags": ["a", "b"]}) == [1]
    assert await steps_matching({"who": None}) == [1]
    assert await steps_matching({'odd"key': "x"}) == [1]
    assert await steps_matching({"missing": None}) == []


async def test_alist_without_namespace_lists_every_namespace(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    for ns in ("", "child:1"):
        config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ns}}
        metadata: Any = {"ns": ns}
        await memory_saver.aput(config, make_checkpoint({}, {}), metadata, {})

    everything: list[Any] = [
        t.metadata async for t in memory_saver.alist({"configurable": {"thread_id": "t"}})
    ]
    every_thread = [t.metadata async for t in memory_saver.alist(None)]

    assert sorted(m["ns"] for m in everything) == ["", "child:1"]
    assert every_thread == everything


async def test_special_writes_replace_and_regular_writes_keep_the_first(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    config = await memory_saver.aput(
        {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, make_checkpoint({}, {}), {}, {}
    )
    await memory_saver.aput_writes(config, [("x", 1), ("__error__", "first")], "task", "a:b")
    await memory_saver.aput_writes(config, [("x", 2), ("__error__", "second")], "task", "a:b")

    found = await memory_saver.aget_tuple(config)

    assert found is not None
    assert found.pending_writes == [("task", "__error__", "second"), ("task", "x", 1)]
    assert await scalar(memory_saver, "SELECT DISTINCT task_path FROM checkpoint_writes") == "a:b"


async def test_pending_writes_come_by_task_path_then_task_id_then_index(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    config = await memory_saver.aput(
        {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, make_checkpoint({}, {}), {}, {}
    )
    await memory_saver.aput_writes(config, [("x", 1)], "task-a", "path-2")
    await memory_saver.aput_writes(config, [("y", 2), ("z", 3)], "task-b", "path-1")
    await memory_saver.aput_writes(config, [("w", 4)], "task-c", "path-1")

    found = [t.pending_writes async for t in memory_saver.alist(config)]

    assert found == [
        [("task-b", "y", 2), ("task-b", "z", 3), ("task-c", "w", 4), ("task-a", "x", 1)]
    ]
