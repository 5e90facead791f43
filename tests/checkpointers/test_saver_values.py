"""Large values stored once by content: sharing, compression, and collection on delete."""

from __future__ import annotations

import inspect
import random
import string
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.checkpointers._values import LARGE
from tests.checkpointers.conftest import query

ON_BOTH_BACKENDS = True

TEXT = "".join(random.Random(1).choices(string.ascii_letters + string.digits, k=50_000))
NOISE = random.Random(2).randbytes(20_000)


class State(TypedDict):
    big: str
    counter: int


def increment(state: State) -> dict[str, Any]:
    return {"counter": state["counter"] + 1}


def two_steps() -> StateGraph[State]:
    builder = StateGraph(State)
    builder.add_node("one", increment)
    builder.add_node("two", increment)
    builder.add_edge(START, "one")
    builder.add_edge("one", "two")
    builder.add_edge("two", END)
    return builder


async def rows(saver: SqliteCheckpointer, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await query(saver, sql, params)]


async def value_count(saver: SqliteCheckpointer) -> int:
    [(count,)] = await rows(saver, "SELECT COUNT(*) FROM checkpoint_values")
    return int(count)


def config(thread_id: str, **more: Any) -> Any:
    return {"configurable": {"thread_id": thread_id, **more}}


async def test_a_big_input_is_stored_once_for_every_thread_that_starts_from_it(
    memory_saver: SqliteCheckpointer,
) -> None:
    graph = two_steps().compile(checkpointer=memory_saver)

    for thread in ("a", "b"):
        result = await graph.ainvoke({"big": TEXT, "counter": 0}, config(thread), durability="sync")
        assert result == {"big": TEXT, "counter": 2}

    # The input channel's value (the whole input) and the big channel's value: each
    # also names the write of the first task, in both threads.
    assert await rows(
        memory_saver, "SELECT codec, length(data) < 50000 FROM checkpoint_values ORDER BY 2"
    ) == [("zlib", 1), ("zlib", 1)]
    assert await rows(
        memory_saver,
        "SELECT channel, COUNT(*), COUNT(blob), COUNT(DISTINCT value_hash) "
        "FROM checkpoint_blobs WHERE value_hash IS NOT NULL GROUP BY channel ORDER BY channel",
    ) == [("__start__", 2, 0, 1), ("big", 2, 0, 1)]
    assert await rows(
        memory_saver,
        "SELECT channel, COUNT(*), COUNT(DISTINCT value_hash) FROM checkpoint_writes "
        "WHERE value_hash IS NOT NULL GROUP BY channel",
    ) == [("big", 2, 1)]
    for thread in ("a", "b"):
        history = [t async for t in memory_saver.alist(config(thread))]
        assert [t.checkpoint["channel_values"].get("big") for t in history] == [TEXT] * 3 + [None]
        assert history[-1].checkpoint["channel_values"]["__start__"] == {
            "big": TEXT,
            "counter": 0,
        }
        assert ("big", TEXT) in [(c, v) for _, c, v in history[-1].pending_writes or []]


async def test_small_values_stay_inline_and_incompressible_ones_are_stored_raw(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    small = "s" * (LARGE // 2)
    stored = await memory_saver.aput(
        config("t", checkpoint_ns=""),
        make_checkpoint({"small": small, "noise": NOISE}, {"small": "1", "noise": "1"}),
        {},
        {"small": "1", "noise": "1"},
    )

    found = await memory_saver.aget_tuple(stored)

    assert found is not None
    assert found.checkpoint["channel_values"] == {"small": small, "noise": NOISE}
    assert await rows(
        memory_saver,
        "SELECT channel, blob IS NULL, value_hash IS NULL FROM checkpoint_blobs ORDER BY channel",
    ) == [("noise", 1, 0), ("small", 0, 1)]
    assert await rows(memory_saver, "SELECT codec, length(data) FROM checkpoint_values") == [
        ("raw", len(NOISE))
    ]


async def test_values_are_collected_only_when_no_thread_names_them(
    memory_saver: SqliteCheckpointer,
) -> None:
    graph = two_steps().compile(checkpointer=memory_saver)
    for thread in ("a", "b"):
        await graph.ainvoke({"big": TEXT, "counter": 0}, config(thread), durability="sync")
    await memory_saver.acopy_thread("a", "copy")
    assert await value_count(memory_saver) == 2  # the copy names the same values

    await memory_saver.adelete_thread("a")
    await memory_saver.adelete_thread("b")
    assert await value_count(memory_saver) == 2  # "copy" still names both
    latest = await memory_saver.aget_tuple(config("copy"))
    assert latest is not None
    assert latest.checkpoint["channel_values"]["big"] == TEXT

    await memory_saver.aprune(["copy"], strategy="keep_latest")
    assert await value_count(memory_saver) == 1  # the input's value went with its checkpoint

    await memory_saver.adelete_thread("copy")
    assert await value_count(memory_saver) == 0


async def test_delete_for_runs_collects_the_values_of_the_checkpoints_it_drops(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    root = config("t", checkpoint_ns="")
    first = await memory_saver.aput(
        root, make_checkpoint({"big": TEXT}, {"big": "1"}), {"run_id": "r1"}, {"big": "1"}
    )
    await memory_saver.aput(
        first,
        make_checkpoint({"big": TEXT[::-1]}, {"big": "2"}),
        {"run_id": "r2"},
        {"big": "2"},
    )
    assert await value_count(memory_saver) == 2

    await memory_saver.adelete_for_runs(["r1"])

    assert await value_count(memory_saver) == 1
    latest = await memory_saver.aget_tuple(root)
    assert latest is not None
    assert latest.checkpoint["channel_values"] == {"big": TEXT[::-1]}


async def test_a_replaced_special_write_takes_its_value_with_it(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    stored = await memory_saver.aput(config("t", checkpoint_ns=""), make_checkpoint({}, {}), {}, {})
    await memory_saver.aput_writes(stored, [("__error__", TEXT)], "task")
    assert await value_count(memory_saver) == 1

    await memory_saver.aput_writes(stored, [("__error__", "short")], "task")

    assert await value_count(memory_saver) == 0
    found = await memory_saver.aget_tuple(stored)
    assert found is not None
    assert found.pending_writes == [("task", "__error__", "short")]


async def test_a_page_shares_immutable_values_and_copies_mutable_ones(
    memory_saver: SqliteCheckpointer, make_checkpoint: Any
) -> None:
    parent = config("t", checkpoint_ns="")
    for step in range(2):
        checkpoint = make_checkpoint(
            {"items": [1, 2], "name": "n" * 100}, {"items": "1", "name": "1"}
        )
        new = {"items": "1", "name": "1"} if step == 0 else {}
        parent = await memory_saver.aput(parent, checkpoint, {"step": step}, new)

    newer, older = [t.checkpoint["channel_values"] async for t in memory_saver.alist(config("t"))]

    assert newer == older == {"items": [1, 2], "name": "n" * 100}
    assert newer["items"] is not older["items"]  # each caller may change its own list
    newer["items"].append(3)
    assert older["items"] == [1, 2]


async def test_large_values_are_compressed_before_the_transaction_not_under_its_lock(
    saver: SqliteCheckpointer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import railgraph.checkpointers._values as values

    under_lock: list[bool] = []
    pack = values._pack

    def watched(data: bytes) -> tuple[str, bytes]:
        # Inside a transaction, this would be called from `store_values`, the body's step.
        callers = {frame.function for frame in inspect.stack()}
        under_lock.append("store_values" in callers)
        return pack(data)

    monkeypatch.setattr(values, "_pack", watched)
    graph = two_steps().compile(checkpointer=saver)

    result = await graph.ainvoke({"big": TEXT, "counter": 0}, config("t"), durability="sync")

    assert result == {"big": TEXT, "counter": 2}
    # The input write, the input channel's value and the big channel's value: three
    # compressions (two of the same bytes), none while the database was locked.
    assert under_lock == [False, False, False]
    assert await value_count(saver) == 2
