"""The rails' own cost: a railgraph run against plain LangGraph on the same saver.

Each graph is built twice from the same functions: once with railgraph's builder and run
by a `Runner`, once as a plain LangGraph `StateGraph` on the same state model, compiled on
the runner's own `SqliteCheckpointer` with `durability="sync"` (so both pay for the same
commits per node). CPU time of the process is measured, not wall time, because the machine
is shared; the two are interleaved, one run each in turn, so drift hits both alike.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from railgraph import GraphBuilder, RailGraph, Runner
from railgraph.nodes import ToolPolicy, ToolRegistry

__all__ = [
    "CPU_TARGETS",
    "RAIL_GRAPHS",
    "RailResult",
    "interleaved",
    "measure_rails",
    "settle_heap",
]

RAIL_NODES = 20
"""Nodes per graph."""


class BenchState(BaseModel):
    """The state of every graph here: a counter and a short text."""

    counter: int = 0
    text: str = "hello"


class Count(BaseModel):
    """A tool's input."""

    counter: int


class Counted(BaseModel):
    """A tool's output."""

    counter: int


def _tools() -> ToolRegistry:
    tools = ToolRegistry()

    # Async, as a tool that does I/O is: a sync tool runs in a worker thread so that its
    # timeout can be enforced, a hop plain LangGraph (which enforces none) does not make.
    @tools.tool(tier="read", name="peek")
    async def peek(args: Count) -> Counted:
        """Read the counter."""
        return Counted(counter=args.counter + 1)

    @tools.tool(tier="write", name="bump")
    async def bump(args: Count) -> Counted:
        """Write the counter."""
        return Counted(counter=args.counter + 1)

    return tools


def _step(state: BenchState) -> dict[str, Any]:
    return {"counter": state.counter + 1}


async def _async_step(state: BenchState) -> dict[str, Any]:
    return {"counter": state.counter + 1}


Model = Callable[[], BaseChatModel]
"""Makes the chat model of the llm graph (one per graph, each side its own)."""


def _model() -> FakeListChatModel:
    return FakeListChatModel(responses=["ok"] * 1_000_000)


def _rail(kind: str, make_model: Model = _model) -> RailGraph:
    tools = _tools()
    g = GraphBuilder(
        f"bench_{kind}", BenchState, tools=tools, policy=ToolPolicy(tiers={"write": "auto"})
    )
    model = make_model()
    ids = [f"n{i}" for i in range(RAIL_NODES)]
    for node in ids:
        if kind == "step":
            g.step(node, _step)
        elif kind == "step_async":
            g.step(node, _async_step)
        elif kind == "llm":
            g.llm(node, model=model, prompt=lambda s: [HumanMessage(s.text)], output="text")
        else:
            tool = "peek" if kind == "tool_read" else "bump"
            g.tool(node, tool=tool, args=lambda s: {"counter": s.counter}, output=None)
    g.edge(START, ids[0])
    for a, b in itertools.pairwise(ids):
        g.edge(a, b)
    g.edge(ids[-1], END)
    return g.build()


def _plain(kind: str, make_model: Model = _model) -> StateGraph[Any]:
    """The same graph with LangGraph alone: the same functions, no rails."""
    model = make_model()
    tools = _tools()

    async def llm(state: BenchState) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage(state.text)])
        return {"text": str(reply.content)}

    def tool(name: str) -> Callable[[BenchState], Any]:
        spec = tools[name]

        async def call(state: BenchState) -> dict[str, Any]:
            out = await spec.fn(spec.input(counter=state.counter))
            return {"counter": spec.output.model_validate(out).counter}

        return call

    node: Callable[..., Any] = {
        "step": _step,
        "step_async": _async_step,
        "llm": llm,
        "tool_read": tool("peek"),
        "tool_write": tool("bump"),
    }[kind]
    builder: StateGraph[Any] = StateGraph(BenchState)
    ids = [f"n{i}" for i in range(RAIL_NODES)]
    for n in ids:
        builder.add_node(n, node)
    builder.add_edge(START, ids[0])
    for a, b in itertools.pairwise(ids):
        builder.add_edge(a, b)
    builder.add_edge(ids[-1], END)
    return builder


RAIL_GRAPHS = ("step", "step_async", "llm", "tool_read", "tool_write")

CPU_TARGETS = {"step": 1.15, "step_async": 1.15, "llm": 1.2, "tool_read": 1.2, "tool_write": 1.2}
"""Each graph's target: railgraph's CPU per node over plain LangGraph's, at most."""


@dataclass(frozen=True)
class RailResult:
    """One graph's CPU µs per node, each way, and the ratio."""

    graph: str
    plain_us: float
    rail_us: float
    ratio: float
    """The median ratio of a railgraph run to the plain run next to it."""
    ratio_range: tuple[float, float]
    """The quartiles of those ratios (half of the pairs lie between)."""
    plain_bytes: float
    """Database bytes added per node by plain LangGraph on the saver."""
    rail_bytes: float
    """Database bytes added per node by a railgraph run."""


def settle_heap() -> None:
    """Collect, then freeze what the warm-up left (imported modules, compiled graphs).

    A full collection walks every object of the process, and the imports alone make that
    a tenth of a second or more: it falls on whichever side happens to trigger it and
    decides a repetition's ratio by itself. Frozen, those objects are never walked again
    (what long-running services do after start-up); what each side allocates while
    measured is still collected, and counted where it is.
    """
    gc.collect()
    gc.freeze()


async def _cpu(action: Callable[[], Awaitable[object]]) -> float:
    gc.collect()
    start = time.process_time()
    await action()
    return time.process_time() - start


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


Sides = dict[str, Callable[[], Awaitable[None]]]
"""Each side of a comparison (railgraph, plain LangGraph, ...): one run of it."""


async def interleaved(sides: Sides, reps: int) -> dict[str, list[float]]:
    """CPU seconds of each side's run, `reps` times, the sides in turn (reversed every other
    time), after a warm-up run each and `settle_heap`; so the machine's drift hits every
    side alike."""
    for action in sides.values():  # warm up: imports, compiled graphs, the schema's pages
        await action()
    settle_heap()
    times: dict[str, list[float]] = {side: [] for side in sides}
    for rep in range(reps):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        for side in order:
            times[side].append(await _cpu(sides[side]))
    return times


async def measure_rails(
    workdir: Path,
    *,
    reps: int,
    runs: int,
    graphs: Sequence[str] = RAIL_GRAPHS,
    make_model: Model = _model,
) -> list[RailResult]:
    """Per graph kind: CPU µs per node of a railgraph run and of plain LangGraph."""
    results: list[RailResult] = []
    for kind in graphs:
        rail_db, plain_db = workdir / f"rails-{kind}.db", workdir / f"plain-{kind}.db"
        async with (
            Runner.open(rail_db, lease_s=3600) as runner,
            Runner.open(plain_db) as plain_runner,
        ):
            rail = _rail(kind, make_model)
            app = _plain(kind, make_model).compile(checkpointer=plain_runner.saver)

            async def run_rail(rail: RailGraph = rail) -> None:
                for _ in range(runs):
                    outcome = await runner.start(rail, {"counter": 0, "text": "hello"})
                    assert outcome.status == "completed", (outcome.status, outcome.reason)

            async def run_plain(app: Any = app) -> None:
                for _ in range(runs):
                    await app.ainvoke(
                        {"counter": 0, "text": "hello"},
                        {"configurable": {"thread_id": uuid.uuid4().hex[:12]}},
                        durability="sync",
                    )

            times = await interleaved({"rail": run_rail, "plain": run_plain}, reps)
            rail_t, plain_t = times["rail"], times["plain"]
            nodes = runs * RAIL_NODES
            ratios = [r / p for r, p in zip(rail_t, plain_t, strict=True)]
            quartiles = statistics.quantiles(ratios, n=4)
        # Closed: the WAL is copied into the file and removed, so the file is the size.
        rail_bytes, plain_bytes = _size(rail_db), _size(plain_db)
        results.append(
            RailResult(
                graph=kind,
                plain_us=statistics.median(plain_t) / nodes * 1e6,
                rail_us=statistics.median(rail_t) / nodes * 1e6,
                ratio=statistics.median(ratios),
                ratio_range=(quartiles[0], quartiles[2]),
                plain_bytes=plain_bytes / (nodes * (reps + 1)),
                rail_bytes=rail_bytes / (nodes * (reps + 1)),
            )
        )
    return results
