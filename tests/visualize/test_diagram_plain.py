"""A plain LangGraph graph (not built with railgraph) on SqliteCheckpointer: its spec from the
compiled graph and its path from the checkpoint history, through a loop, a fan-out, an
interrupt and an error.

The snapshot lives in ``tests/visualize/snapshots/`` and is compared byte for byte;
regenerate it with ``RAILGRAPH_UPDATE_SNAPSHOTS=1`` after an intended change.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from railgraph import EdgeKind
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.nodes import NodeKind
from railgraph.visualize import (
    StopStatus,
    path_from_checkpoints,
    read_checkpoints,
    run_diagram,
    spec_from_langgraph,
    to_dot,
)

Snapshot = Callable[[str, str], None]


class Draft(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


def write(state: Draft) -> dict[str, Any]:
    return {"n": state["n"] + 1, "log": ["write"]}


def again(state: Draft) -> str:
    return "again" if state["n"] < 3 else "done"


def note(name: str) -> Callable[[Draft], dict[str, Any]]:
    return lambda state: {"log": [name]}


def ask(state: Draft) -> dict[str, Any]:
    answer = interrupt("publish?")
    return {"log": [f"ask:{answer}"]}


def explode(state: Draft) -> dict[str, Any]:
    raise RuntimeError("the printer caught fire")


def drafting() -> StateGraph[Draft, Any, Any, Any]:
    """write loops until n = 3, then review fans out to spell and facts, which join at ask."""
    builder: StateGraph[Draft, Any, Any, Any] = StateGraph(Draft)
    builder.add_node("write", write)
    builder.add_node("review", note("review"))
    builder.add_node("spell", note("spell"))
    builder.add_node("facts", note("facts"))
    builder.add_node("ask", ask)
    builder.add_edge(START, "write")
    builder.add_conditional_edges("write", again, {"again": "write", "done": "review"})
    builder.add_edge("review", "spell")
    builder.add_edge("review", "facts")
    builder.add_edge("spell", "ask")
    builder.add_edge("facts", "ask")
    builder.add_edge("ask", END)
    return builder


def hops(path: Any) -> list[tuple[int, str, str, str | None]]:
    return [(h.order, h.edge.source, h.edge.target, h.edge.label) for h in path.hops]


def test_spec_from_a_compiled_graph() -> None:
    spec = spec_from_langgraph(drafting().compile(), name="drafting")

    assert [(n.id, n.kind) for n in spec.nodes] == [
        ("__start__", NodeKind.START),
        ("write", NodeKind.STEP),
        ("review", NodeKind.STEP),
        ("spell", NodeKind.STEP),
        ("facts", NodeKind.STEP),
        ("ask", NodeKind.STEP),
        ("__end__", NodeKind.END),
    ]
    assert [(e.source, e.target, e.kind, e.label) for e in spec.edges if e.source == "write"] == [
        ("write", "review", EdgeKind.CONDITIONAL, "done"),
        ("write", "write", EdgeKind.CONDITIONAL, "again"),
    ]
    assert spec.state == "Draft"


async def test_path_from_checkpoints_through_loop_fan_out_and_interrupt(
    tmp_path: Path, snapshot: Snapshot
) -> None:
    async with SqliteCheckpointer.from_path(tmp_path / "plain.db") as saver:
        graph = drafting().compile(checkpointer=saver)
        spec = spec_from_langgraph(graph, name="drafting")
        config: Any = {"configurable": {"thread_id": "draft-1"}}
        await graph.ainvoke({"n": 0, "log": []}, config, durability="sync")

        paused = path_from_checkpoints(spec, "draft-1", await read_checkpoints(saver, "draft-1"))

        await graph.ainvoke(Command(resume="yes"), config, durability="sync")
        done = path_from_checkpoints(spec, "draft-1", await read_checkpoints(saver, "draft-1"))

    assert (paused.status, paused.stops) == ("paused", {"ask": StopStatus.PAUSED})
    assert [(v.node, v.finished) for v in paused.visits][-3:] == [
        ("spell", True),
        ("facts", True),
        ("ask", False),
    ]
    assert done.status == "completed"
    assert done.stops == {}
    assert hops(done) == [
        (1, "__start__", "write", None),
        (2, "write", "write", "again"),
        (3, "write", "write", "again"),
        (4, "write", "review", "done"),
        (5, "review", "facts", None),
        (6, "review", "spell", None),
        (7, "facts", "ask", None),
        (8, "spell", "ask", None),
        (9, "ask", "__end__", None),
    ]
    assert hops(paused) == hops(done)[:-1]
    diagram = run_diagram(spec, done)
    assert diagram.node("write").notes == ("3 visits",)
    # Checkpoint times are real; drop the start time to keep the snapshot stable.
    snapshot("plain_run_completed.dot", to_dot(run_diagram(spec, replace(done, started_at=None))))


async def test_a_node_that_raised_is_marked_failed(tmp_path: Path) -> None:
    builder: StateGraph[Draft, Any, Any, Any] = StateGraph(Draft)
    builder.add_node("write", write)
    builder.add_node("print", explode)
    builder.add_edge(START, "write")
    builder.add_edge("write", "print")
    builder.add_edge("print", END)
    async with SqliteCheckpointer.from_path(tmp_path / "plain.db") as saver:
        graph = builder.compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "t"}}
        with pytest.raises(RuntimeError, match="the printer caught fire"):
            await graph.ainvoke({"n": 0, "log": []}, config, durability="sync")
        path = path_from_checkpoints(
            spec_from_langgraph(graph), "t", await read_checkpoints(saver, "t")
        )

    assert (path.status, path.stops) == ("failed", {"print": StopStatus.FAILED})
    assert hops(path) == [(1, "__start__", "write", None), (2, "write", "print", None)]
