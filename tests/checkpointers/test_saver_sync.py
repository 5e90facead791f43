"""The sync methods: refused on the saver's loop, bridged from other threads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.errors import StoreError

CONFIG: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}

SYNC_CALLS: list[tuple[str, Callable[[SqliteCheckpointer], object]]] = [
    ("aget_tuple", lambda s: s.get_tuple(CONFIG)),
    ("alist", lambda s: s.list(CONFIG)),
    ("aput", lambda s: s.put(CONFIG, empty_checkpoint(), {}, {})),
    ("aput_writes", lambda s: s.put_writes(CONFIG, [("x", 1)], "task")),
    ("adelete_thread", lambda s: s.delete_thread("t")),
    ("adelete_for_runs", lambda s: s.delete_for_runs(["run"])),
    ("acopy_thread", lambda s: s.copy_thread("t", "u")),
    ("aprune", lambda s: s.prune(["t"])),
]


@pytest.mark.parametrize(("async_name", "call"), SYNC_CALLS, ids=[n for n, _ in SYNC_CALLS])
async def test_sync_method_on_the_loop_thread_says_what_to_call(
    memory_saver: SqliteCheckpointer, async_name: str, call: Callable[[SqliteCheckpointer], object]
) -> None:
    with pytest.raises(
        StoreError,
        match=re.escape(
            f"{async_name[1:]}() was called on the event loop that runs this checkpointer, "
            f"where waiting for it would deadlock; await `{async_name}` instead, or use the "
            "graph's async API (`ainvoke`/`astream`)."
        ),
    ):
        call(memory_saver)


async def test_sync_methods_work_from_another_thread(memory_saver: SqliteCheckpointer) -> None:
    checkpoint = empty_checkpoint()

    stored = await asyncio.to_thread(memory_saver.put, CONFIG, checkpoint, {"step": 1}, {})
    await asyncio.to_thread(memory_saver.put_writes, stored, [("x", 1)], "task")
    found = await asyncio.to_thread(memory_saver.get_tuple, stored)
    listed = await asyncio.to_thread(lambda: list(memory_saver.list(None)))
    await asyncio.to_thread(memory_saver.copy_thread, "t", "u")
    await asyncio.to_thread(memory_saver.delete_thread, "t")

    assert found is not None
    assert (found.checkpoint["id"], found.metadata, found.pending_writes) == (
        checkpoint["id"],
        {"step": 1},
        [("task", "x", 1)],
    )
    assert [t.config for t in listed] == [stored]
    assert await memory_saver.aget_tuple(CONFIG) is None
    copied = await memory_saver.aget_tuple({"configurable": {"thread_id": "u"}})
    assert copied is not None
    assert copied.checkpoint["id"] == checkpoint["id"]


class Counter(TypedDict):
    counter: int


def increment(state: Counter) -> Counter:
    return {"counter": state["counter"] + 1}


async def test_sync_graph_invoke_from_a_worker_thread(memory_saver: SqliteCheckpointer) -> None:
    builder = StateGraph(Counter)
    builder.add_node("once", increment)
    builder.add_node("twice", increment)
    builder.add_edge(START, "once")
    builder.add_edge("once", "twice")
    builder.add_edge("twice", END)
    graph = builder.compile(checkpointer=memory_saver)
    config: Any = {"configurable": {"thread_id": "sync-run"}}

    result = await asyncio.to_thread(graph.invoke, {"counter": 0}, config, durability="sync")

    assert result == {"counter": 2}
    latest = await memory_saver.aget_tuple(config)
    assert latest is not None
    assert (latest.metadata["step"], latest.checkpoint["channel_values"]["counter"]) == (2, 2)
