"""The floor: what the rails' guarantees cost when written by hand in plain LangGraph.

Run it from the repository root::

    .venv/bin/python bench/floor.py            # about a minute
    .venv/bin/python bench/floor.py --quick    # rough numbers, a few seconds

`bench/rails.py` compares a railgraph run with plain LangGraph, which keeps no trace, no
budget and no kill switch. This adds a third side to each pair: the same plain graph whose
nodes keep, by hand, the least the rails promise, on the same saver, with no railgraph node
wrapper, none of railgraph's other channels, no lease and no event for the run itself:

- every run: its record, stored before the graph runs and given its status, usage and result
  after (the row the kill switch reads and `railgraph runs` lists);
- every node: one `node_finished` event, stored through the saver's event channel in the
  transaction of the node's writes (an event exists iff the result it describes is durable),
  and the run's usage total updated in the checkpointed state (the budget after a resume);
- llm and tool nodes: the kill switch, the run's status read by key before the call;
- write-tier tool nodes: the effect claimed in the ledger before the call (one commit, what
  exactly-once needs) and its result recorded with the node's writes.

The saver's row is the same kind of floor for `SqliteCheckpointer` against `InMemorySaver`:
`InMemorySaver` itself, which also commits to SQLite (WAL, `synchronous=NORMAL`, as
`SqliteCheckpointer`) the bytes it has just serialized, one transaction per checkpoint and
per task's writes, and still reads from memory: the least a saver that keeps every step on
disk before the next starts does on top of the in-memory one.

Each graph runs one run a side in turn (plain, floor, railgraph; the order reversed every
other time) and prints the median ratio to plain LangGraph of the floor and of railgraph,
CPU µs per node, and database bytes per node against plain LangGraph's. The floor is a
lower bound: it stores one event per node where railgraph also records each LLM and tool
call, and keeps no lease. A floor above a target means that no implementation of these
guarantees on LangGraph and this saver meets the target: going lower takes fewer or cheaper
commits and rows per node, not a leaner wrapper.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import _rails
from _common import print_table
from _targets import _chain
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels.topic import Topic
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import Field

from railgraph import Runner
from railgraph.checkpointers import RunRecord, RunStore, SqliteCheckpointer
from railgraph.nodes._budget import add_usage
from railgraph.nodes._state import EVENTS, USAGE
from railgraph.vocab import RunStatus

GRAPHS = ("step_async", "llm", "tool_read", "tool_write")


class FloorState(_rails.BenchState):
    """The bench state with the two channels the floor keeps: events and usage."""

    rg_events: Annotated[list[dict[str, Any]], Topic(dict, accumulate=False)] = Field(
        default_factory=list
    )
    rg_usage: Annotated[dict[str, float], add_usage] = Field(default_factory=dict)


def _floor(kind: str, store: RunStore) -> StateGraph[Any]:
    """The plain graph of `kind`, its nodes keeping the guarantees by hand (run by
    `_floor_run`, whose thread is the run's id in `store`)."""
    model = _rails._model()
    tools = _rails._tools()
    tool = tools["bump" if kind == "tool_write" else "peek"]

    def node(node_id: str) -> Callable[[FloorState, RunnableConfig], Awaitable[dict[str, Any]]]:
        # Named `config`: LangGraph passes the config only to a parameter of that name.
        async def run(state: FloorState, config: RunnableConfig) -> dict[str, Any]:
            started = time.perf_counter()
            run_id = config["configurable"]["thread_id"]
            update: dict[str, Any]
            if kind == "step_async":
                update = {"counter": state.counter + 1}
            elif kind == "llm":
                if (await store.run_state(run_id)) is None:
                    raise LookupError(run_id)
                reply = await model.ainvoke([HumanMessage(state.text)])
                update = {"text": str(reply.content)}
            else:
                args = tool.input(counter=state.counter)
                key = uuid.uuid4().hex
                if kind == "tool_write":
                    claimed = await store.begin_effect(
                        key, run_id=run_id, node=node_id, tool=tool.name, args=args.model_dump()
                    )
                    if claimed is not None:
                        raise LookupError(key)
                elif (await store.run_state(run_id)) is None:
                    raise LookupError(run_id)
                out = tool.output.model_validate(await tool.fn(args))
                if kind == "tool_write":
                    await store.complete_effect_with_next_write(key, run_id, out.model_dump())
                update = {"counter": out.counter}
            usage = {"steps": 1.0, "wall_s": round(time.perf_counter() - started, 6)}
            update[EVENTS] = [
                {
                    "kind": "node_finished",
                    "node": node_id,
                    "at": time.time(),
                    "data": {"kind": kind, "duration_ms": usage["wall_s"] * 1000, "usage": usage},
                }
            ]
            update[USAGE] = usage
            return update

        return run

    builder: StateGraph[Any] = StateGraph(FloorState)
    ids = [f"n{i}" for i in range(_rails.RAIL_NODES)]
    for node_id in ids:
        builder.add_node(node_id, node(node_id))
    builder.add_edge(START, ids[0])
    for a, b in itertools.pairwise(ids):
        builder.add_edge(a, b)
    builder.add_edge(ids[-1], END)
    return builder


async def _floor_run(app: Any, store: RunStore) -> None:
    """One run of a floor graph: its record stored, the graph run, its ending stored."""
    now = time.time()
    run_id = uuid.uuid4().hex[:12]
    inputs = {"counter": 0, "text": "hello"}
    record = RunRecord(
        run_id=run_id,
        graph="floor",
        graph_name="floor",
        signature="floor",
        status=RunStatus.RUNNING,
        input=inputs,
        budget={},
        usage={},
        created_at=now,
        updated_at=now,
    )
    await store.create_run(record)
    out = await app.ainvoke(inputs, {"configurable": {"thread_id": run_id}}, durability="sync")
    await store.update_run(
        run_id,
        status=RunStatus.COMPLETED,
        usage=out[USAGE],
        result={"counter": out["counter"], "text": out["text"]},
    )


async def invoke(app: Any) -> None:
    """One run of a plain LangGraph graph on a new thread, each step stored before the next."""
    thread = {"configurable": {"thread_id": uuid.uuid4().hex[:12]}}
    await app.ainvoke({"counter": 0, "text": "hello"}, thread, durability="sync")


def _row(
    name: str, target: float, times: dict[str, list[float]], size: dict[str, float] | None
) -> list[str]:
    def ratio(side: str) -> float:
        return statistics.median(a / b for a, b in zip(times[side], times["plain"], strict=True))

    nodes = _rails.RAIL_NODES
    us = [f"{statistics.median(times[side]) / nodes * 1e6:,.0f}" for side in times]
    disk = (
        ""
        if size is None
        else " / ".join(f"{size[side] / size['plain']:.2f}x" for side in ("floor", "rails"))
    )
    return [
        name,
        f"{target:.2f}x",
        f"{ratio('floor'):.2f}x",
        f"{ratio('rails'):.2f}x",
        " / ".join(us),
        disk,
    ]


async def _measure(kind: str, workdir: Path, reps: int) -> list[str]:
    paths = {side: workdir / f"{side}-{kind}.db" for side in ("plain", "floor", "rails")}
    async with (
        Runner.open(paths["plain"]) as plain_runner,
        Runner.open(paths["floor"]) as floor_runner,
        Runner.open(paths["rails"], lease_s=3600) as rail_runner,
    ):
        rail = _rails._rail(kind)
        plain = _rails._plain(kind).compile(checkpointer=plain_runner.saver)
        floor = _floor(kind, floor_runner.store).compile(checkpointer=floor_runner.saver)

        async def run_rail() -> None:
            outcome = await rail_runner.start(rail, {"counter": 0, "text": "hello"})
            assert outcome.status == "completed", (outcome.status, outcome.reason)

        sides: _rails.Sides = {
            "plain": partial(invoke, plain),
            "floor": partial(_floor_run, floor, floor_runner.store),
            "rails": run_rail,
        }
        times = await _rails.interleaved(sides, reps)
        [last] = await floor_runner.store.list_runs(limit=1)
        stored = await floor_runner.store.list_events(last.run_id)
        assert last.status == RunStatus.COMPLETED and len(stored) == _rails.RAIL_NODES
    # Closed: the WAL is copied into the file and removed, so the file is the size.
    size = {
        side: _rails._size(path) / (_rails.RAIL_NODES * (reps + 1)) for side, path in paths.items()
    }
    return _row(kind, _rails.CPU_TARGETS[kind], times, size)


class DurableMemory(InMemorySaver):
    """`InMemorySaver` that also commits what it stores to SQLite, and reads from memory.

    Each stored value is a row under the key a saver finds it by (one table, one primary
    key): the least a saver that can load a thread back from disk writes.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE log (key TEXT PRIMARY KEY, type TEXT, blob BLOB) WITHOUT ROWID"
        )

    def _commit(self, rows: list[tuple[str, str, bytes]]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("INSERT OR REPLACE INTO log VALUES (?, ?, ?)", rows)
        self.conn.execute("COMMIT")

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        stored = self.put(config, checkpoint, metadata, new_versions)
        configurable = stored["configurable"]
        thread, ns = configurable["thread_id"], configurable["checkpoint_ns"]
        kept, meta, _ = self.storage[thread][ns][checkpoint["id"]]
        at = f"{thread}/{ns}/{checkpoint['id']}"
        rows = [(f"{at}/checkpoint", *kept), (f"{at}/metadata", *meta)]
        for channel, version in new_versions.items():
            blob_type, blob = self.blobs[(thread, ns, channel, version)]
            rows.append((f"{thread}/{ns}/{channel}/{version}", blob_type, blob))
        self._commit(rows)
        return stored

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)
        configurable = config["configurable"]
        outer = (
            configurable["thread_id"],
            configurable.get("checkpoint_ns", ""),
            configurable["checkpoint_id"],
        )
        self._commit(
            [
                (f"{'/'.join(outer)}/{task}/{idx}", *blob)
                for (task, idx), (_, _, blob, _) in self.writes[outer].items()
                if task == task_id
            ]
        )


async def _measure_saver(workdir: Path, reps: int) -> list[str]:
    # The graph of `bench/rails.py`'s saver row.
    builder = _chain(_rails.RAIL_NODES)
    memory = builder.compile(checkpointer=InMemorySaver())
    durable = DurableMemory(workdir / "durable-memory.db")
    floor = builder.compile(checkpointer=durable)
    async with SqliteCheckpointer.from_path(workdir / "saver.db") as saver:
        sqlite = builder.compile(checkpointer=saver)

        sides = {"plain": memory, "floor": floor, "rails": sqlite}
        times = await _rails.interleaved(
            {side: partial(invoke, app) for side, app in sides.items()}, reps
        )
    logged = durable.conn.execute("SELECT count(*) FROM log").fetchone()[0]
    durable.conn.close()
    assert logged, "the durable floor logged nothing"
    return _row("saver", 1.3, times, None)


async def _measure_all(kinds: Sequence[str], reps: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="railgraph-floor-") as tmp:
        rows = [await _measure(kind, Path(tmp), reps) for kind in kinds]
        return [*rows, await _measure_saver(Path(tmp), reps)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough numbers)")
    args = parser.parse_args(argv)
    rows = asyncio.run(_measure_all(GRAPHS, reps=11 if args.quick else 151))
    header = [
        "graph",
        "target",
        "floor",
        "railgraph",
        "CPU µs per node: plain / floor / railgraph (saver: memory / floor / ours)",
        "disk per node vs plain: floor / railgraph",
    ]
    print_table(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
