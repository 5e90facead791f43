"""The graphs measured and the four configurations they run on."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import (
    asynccontextmanager,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypedDict

from _common import (
    ASYNC_SQLITE,
    MEMORY,
    NODES,
    PAYLOAD_BYTES,
    PLAIN,
    RAILGRAPH,
    Graph,
    Opener,
    Saver,
    version_of,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Durability

from railgraph.checkpointers import SqliteCheckpointer

# -- graphs -------------------------------------------------------------------


class SmallState(TypedDict):
    """The state of (a), (c), (d) and (e): a counter and a short string."""

    counter: int
    text: str


class BigState(SmallState):
    """(b)'s state: the same, plus a 100 KB string that never changes after the input."""

    payload: str


SMALL_INPUT: Final[SmallState] = {"counter": 0, "text": "hello"}
BIG_INPUT: Final[BigState] = {
    "counter": 0,
    "text": "hello",
    "payload": "".join(
        random.Random(0).choices(string.ascii_letters + string.digits, k=PAYLOAD_BYTES)
    ),
}


async def step(state: SmallState) -> dict[str, Any]:
    """Every node: count one step."""
    return {"counter": state["counter"] + 1}


def linear_graph(state: type[SmallState]) -> StateGraph[Any]:
    """`NODES` nodes in a line, START to END."""
    builder: StateGraph[Any] = StateGraph(state)
    previous = START
    for index in range(NODES):
        name = f"node_{index:02}"
        builder.add_node(name, step)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


def loop_graph(ticks: int) -> StateGraph[Any]:
    """One node that runs `ticks` times; with a saver it leaves `ticks + 2` checkpoints."""

    def again(state: SmallState) -> str:
        return "tick" if state["counter"] < ticks else END

    builder: StateGraph[Any] = StateGraph(SmallState)
    builder.add_node("tick", step)
    builder.add_edge(START, "tick")
    builder.add_conditional_edges("tick", again, ["tick", END])
    return builder


def thread(thread_id: str, *, recursion_limit: int | None = None) -> RunnableConfig:
    """The config of one thread, with a step limit if given."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    if recursion_limit is not None:
        config["recursion_limit"] = recursion_limit
    return config


@dataclass(frozen=True)
class Bound:
    """A compiled graph and how it is invoked."""

    graph: Graph
    durability: Durability | None

    async def run(self, inputs: Mapping[str, Any], thread_id: str) -> None:
        """Invoke once on a thread."""
        await self.graph.ainvoke(dict(inputs), thread(thread_id), durability=self.durability)

    async def runs(self, inputs: Mapping[str, Any], thread_ids: Sequence[str]) -> None:
        """Invoke once per thread, one after another."""
        for thread_id in thread_ids:
            await self.run(inputs, thread_id)

    async def together(self, inputs: Mapping[str, Any], thread_ids: Sequence[str]) -> None:
        """Invoke once per thread, all at once."""
        await asyncio.gather(*(self.run(inputs, thread_id) for thread_id in thread_ids))


# -- the four configurations --------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One configuration: how to open (and reopen) its saver on a file."""

    name: str
    open: Opener
    on_disk: bool


@asynccontextmanager
async def _no_saver(path: Path) -> AsyncIterator[Saver | None]:
    yield None


def _in_memory() -> Opener:
    savers: dict[Path, InMemorySaver] = {}

    @asynccontextmanager
    async def open_memory(path: Path) -> AsyncIterator[Saver | None]:
        # Memory cannot be closed and reopened: "reopening" a path gives back its saver.
        yield savers.setdefault(path, InMemorySaver())

    return open_memory


@asynccontextmanager
async def _async_sqlite(path: Path) -> AsyncIterator[Saver | None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        # Create the schema on open, as SqliteCheckpointer.from_path does, so that
        # neither saver's first timed call pays for it.
        await saver.setup()
        yield saver


@asynccontextmanager
async def _railgraph(path: Path) -> AsyncIterator[Saver | None]:
    async with SqliteCheckpointer.from_path(path) as saver:
        yield saver


def contenders() -> list[Contender]:
    """The four configurations, in table order."""
    return [
        Contender(PLAIN, _no_saver, on_disk=False),
        Contender(MEMORY, _in_memory(), on_disk=False),
        Contender(ASYNC_SQLITE, _async_sqlite, on_disk=True),
        Contender(RAILGRAPH, _railgraph, on_disk=True),
    ]


async def plain_durability() -> tuple[Durability | None, str]:
    """Whether plain LangGraph accepts `durability="sync"`, and a note saying how it is run."""
    graph = linear_graph(SmallState).compile()
    try:
        await graph.ainvoke(dict(SMALL_INPUT), thread("probe"), durability="sync")
    except AttributeError as exc:
        return None, (
            f'plain LangGraph is invoked without `durability`: with durability="sync" and no '
            f"checkpointer, langgraph {version_of('langgraph')} fails ({exc})"
        )
    return "sync", 'plain LangGraph is invoked with durability="sync" too (a no-op without a saver)'
