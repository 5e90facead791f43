"""The graphs the concurrency tests run, and a worker process that runs them on a shared file.

`test_saver_concurrency.py` imports the graphs from here and also runs this file as a script
in several processes at once::

    python _concurrency_child.py DB_PATH WORKER N

The worker builds its graphs, prints ``ready``, blocks until a line arrives on stdin (the
test's barrier, which needs no sleeps), then opens its own `Runner` on ``DB_PATH`` and runs
``N`` railgraph runs and ``N`` plain LangGraph threads at once. It prints one JSON line with
what it did and exits 0, or lets the exception reach stderr and exits non-zero.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import operator
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

from railgraph import END, FAIL, START, GraphBuilder, RailGraph, Runner
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.nodes import ToolRegistry
from railgraph.verifiers import RequiredFields

# -- the railgraph graph: s1 → s2 → s3 → record (write tool) → check (verify) → s4 → s5 → s6

RAIL_STEPS = ("s1", "s2", "s3", "s4", "s5", "s6")
RAIL_NODES = ("s1", "s2", "s3", "record", "check", "s4", "s5", "s6")
"""Every node of the railgraph graph, in the order each run passes them."""
RAIL_TRACE: tuple[tuple[str, str | None], ...] = (
    ("run_started", None),
    *(
        pair
        for node in RAIL_NODES
        for pair in (
            ((("tool_call", node),) if node == "record" else ())
            + ((("verdict", node),) if node == "check" else ())
            + (("node_finished", node),)
        )
    ),
    ("run_finished", None),
)
"""The (kind, node) of every event of one completed run, in `seq` order."""
RAIL_CHECKPOINTS = 2 + len(RAIL_NODES)
"""Checkpoints of one run: the input (step -1), the start (step 0) and one per node."""


class Ticket(BaseModel):
    label: str
    n: int = 0
    receipt: dict[str, Any] | None = None


class Mark(BaseModel):
    label: str


class Receipt(BaseModel):
    label: str
    position: int


def make_rail_graph(recorded: list[str]) -> RailGraph:
    """The railgraph graph; its `write`-tier tool appends each run's label to ``recorded``."""
    tools = ToolRegistry()

    @tools.tool(tier="write")
    async def record(args: Mark) -> Receipt:
        """Remember that a run passed here."""
        recorded.append(args.label)
        return Receipt(label=args.label, position=len(recorded))

    g = GraphBuilder("concurrency", Ticket, tools=tools)
    for step in RAIL_STEPS:
        g.step(step, lambda s: {"n": s.n + 1})
    g.tool("record", args=lambda s: {"label": s.label}, output="receipt")
    g.verify("check", on="receipt", checks=[RequiredFields("label")], passed="s4", failed=FAIL)
    g.edge(START, "s1").edge("s1", "s2").edge("s2", "s3").edge("s3", "record")
    g.edge("record", "check").edge("s4", "s5").edge("s5", "s6").edge("s6", END)
    return g.build()


# -- the plain LangGraph graph: p0 → p1 → … → p9, each adding one to `count`

PLAIN_NODES = tuple(f"p{i}" for i in range(10))
PLAIN_CHECKPOINTS = 2 + len(PLAIN_NODES)
"""Checkpoints of one thread: the input (step -1), the start (step 0) and one per node."""


class Tally(TypedDict):
    count: int
    trail: Annotated[list[str], operator.add]


def _bump(node: str) -> Any:
    def bump(state: Tally) -> dict[str, Any]:
        return {"count": state["count"] + 1, "trail": [node]}

    return bump


def make_plain_graph(saver: SqliteCheckpointer) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The plain LangGraph graph, compiled on ``saver``."""
    builder = StateGraph(Tally)
    for node in PLAIN_NODES:
        builder.add_node(node, _bump(node))
    builder.add_edge(LG_START, PLAIN_NODES[0])
    for source, target in itertools.pairwise(PLAIN_NODES):
        builder.add_edge(source, target)
    builder.add_edge(PLAIN_NODES[-1], LG_END)
    return builder.compile(checkpointer=saver)


def thread(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


# -- the worker process


async def work(db_path: Path, worker: str, n: int) -> dict[str, Any]:
    recorded: list[str] = []
    rail = make_rail_graph(recorded)
    print("ready", flush=True)
    # The barrier: every worker is built and waiting before any of them touches the file.
    await asyncio.to_thread(sys.stdin.readline)
    async with Runner.open(db_path) as runner:
        plain = make_plain_graph(runner.saver)
        rail_runs = [
            runner.start(rail, {"label": f"{worker}-run-{i}"}, run_id=f"{worker}-run-{i}")
            for i in range(n)
        ]
        plain_runs = [
            plain.ainvoke(
                {"count": 0, "trail": []}, thread(f"{worker}-plain-{i}"), durability="sync"
            )
            for i in range(n)
        ]
        done = await asyncio.gather(*rail_runs, *plain_runs)
    outcomes = done[:n]
    finals = done[n:]
    return {
        "worker": worker,
        "statuses": [o.status for o in outcomes],
        "reasons": [o.reason for o in outcomes],
        "recorded": sorted(recorded),
        "counts": [f["count"] for f in finals],
    }


def main(argv: list[str]) -> None:
    db_path, worker, n = Path(argv[1]), argv[2], int(argv[3])
    summary = asyncio.run(work(db_path, worker, n))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(sys.argv)
