"""Whole-thread maintenance: blob collection, copying and DeltaChannel-aware pruning."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.errors import StoreError
from tests.checkpointers.conftest import query

ON_BOTH_BACKENDS = True


async def rows(saver: SqliteCheckpointer, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await query(saver, sql, params)]


async def put(
    saver: SqliteCheckpointer,
    make_checkpoint: Any,
    parent: Any,
    values: dict[str, Any],
    versions: dict[str, str],
    new_versions: dict[str, str],
    **metadata: Any,
) -> Any:
    stored_metadata: Any = metadata
    return await saver.aput(
        parent, make_checkpoint(values, versions), stored_metadata, new_versions
    )


async def test_delete_for_runs_drops_only_unshared_blobs(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    root: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    first = await put(
        memory_saver,
        make_checkpoint,
        root,
        {"a": 1, "b": 1},
        {"a": "1", "b": "1"},
        {"a": "1", "b": "1"},
        run_id="r1",
    )
    await memory_saver.aput_writes(first, [("a", 2)], "task")
    await put(
        memory_saver,
        make_checkpoint,
        first,
        {"a": 2, "b": 1},
        {"a": "2", "b": "1"},
        {"a": "2"},
        run_id="r2",
    )

    await memory_saver.adelete_for_runs(["r1"])

    assert await rows(
        memory_saver, "SELECT channel, version FROM checkpoint_blobs ORDER BY channel"
    ) == [
        ("a", "2"),
        ("b", "1"),
    ]
    assert await rows(memory_saver, "SELECT COUNT(*) FROM checkpoint_writes") == [(0,)]
    latest = await memory_saver.aget_tuple(root)
    assert latest is not None
    assert latest.checkpoint["channel_values"] == {"a": 2, "b": 1}


async def test_prune_keep_latest_collects_blobs_of_dropped_checkpoints(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    root: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    config = root
    for i in range(1, 4):
        config = await put(
            memory_saver,
            make_checkpoint,
            config,
            {"a": i, "b": 0},
            {"a": str(i), "b": "1"},
            {"a": str(i), "b": "1"},
        )

    await memory_saver.aprune(["t"], strategy="keep_latest")

    assert await rows(
        memory_saver, "SELECT channel, version FROM checkpoint_blobs ORDER BY channel"
    ) == [
        ("a", "3"),
        ("b", "1"),
    ]
    assert [t.checkpoint["channel_values"] async for t in memory_saver.alist(root)] == [
        {"a": 3, "b": 0}
    ]


async def test_prune_rejects_an_unknown_strategy(memory_saver: SqliteCheckpointer) -> None:
    with pytest.raises(
        StoreError, match=re.escape("unknown prune strategy 'all'; use 'keep_latest' or 'delete'.")
    ):
        await memory_saver.aprune(["t"], strategy="all")


def concat(state: list[Any] | None, writes: Any) -> list[Any]:
    out = list(state or [])
    for write in writes:
        out.extend(write)
    return out


class LogState(TypedDict):
    log: Annotated[list[Any], DeltaChannel(concat, snapshot_frequency=2)]


def appender(i: int) -> Any:
    return lambda state: {"log": [i]}


async def test_prune_keeps_what_a_delta_channel_needs(memory_saver: SqliteCheckpointer) -> None:
    builder = StateGraph(LogState)
    previous = START
    for i in range(6):
        builder.add_node(f"n{i}", appender(i))
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    graph = builder.compile(checkpointer=memory_saver)
    config = {"configurable": {"thread_id": "delta"}}
    await graph.ainvoke({"log": ["in"]}, config, durability="sync")
    assert await rows(memory_saver, "SELECT COUNT(*) FROM checkpoints") == [(8,)]
    head = await memory_saver.aget_tuple(config)
    assert head is not None
    assert "log" not in head.checkpoint["channel_values"]  # rebuilt from ancestors' writes

    await memory_saver.aprune(["delta"], strategy="keep_latest")

    # the head, which stores no value for `log`, and its nearest snapshot ancestor
    assert await rows(memory_saver, "SELECT COUNT(*) FROM checkpoints") == [(2,)]
    assert (await graph.aget_state(config)).values == {"log": ["in", 0, 1, 2, 3, 4, 5]}


async def test_copy_thread_refuses_missing_source_and_existing_target(
    memory_saver: SqliteCheckpointer,
) -> None:
    for thread in ("a", "b"):
        await memory_saver.aput(
            {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}, empty_checkpoint(), {}, {}
        )

    with pytest.raises(StoreError, match="there is no thread 'zzz' to copy"):
        await memory_saver.acopy_thread("zzz", "c")
    with pytest.raises(StoreError, match="cannot copy thread 'a' onto 'b': the target already has"):
        await memory_saver.acopy_thread("a", "b")
