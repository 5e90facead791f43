"""Plain LangGraph graphs: a spec from the compiled graph, a path from its checkpoint history.

A graph not built with railgraph has no run events, but every superstep it ran on a
checkpointer left a checkpoint. On LangGraph 1.x a node ran in a step exactly when its entry
in ``checkpoint["versions_seen"]`` differs from the one in the previous checkpoint (it then
consumed a newer version of its trigger channel): this holds through loops (the same node
in consecutive steps), parallel branches (several nodes in one step) and interrupts (the
interrupted node appears in the step where it finally completes). The last checkpoint's
pending writes tell an interrupt (``__interrupt__``) from an error (``__error__``), and
the trigger channels (``branch:to:NODE``) it updated name the nodes that were due next.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from railgraph._spec import EdgeKind, EdgeSpec, GraphSpec, NodeSpec
from railgraph.visualize._model import StopStatus
from railgraph.visualize._path import RunPath, Visit, link_steps
from railgraph.visualize._timeline import TimelineEntry
from railgraph.vocab import END_ID, START_ID, NodeKind, RunStatus

__all__ = ["path_from_checkpoints", "read_checkpoints", "spec_from_langgraph"]

_INTERRUPT = "__interrupt__"
_ERROR = "__error__"
_TRIGGER = "branch:to:"
_STOPS: dict[RunStatus, StopStatus] = {
    RunStatus.PAUSED: StopStatus.PAUSED,
    RunStatus.FAILED: StopStatus.FAILED,
}
"""How a thread that stopped with pending work is drawn."""


def spec_from_langgraph(graph: Any, *, name: str | None = None) -> GraphSpec:
    """A spec of a compiled LangGraph graph: every node a step, conditional edges as such.

    Args:
        graph: A compiled graph (anything with LangGraph's ``get_graph()``).
        name: The spec's name; the compiled graph's own name by default.
    """
    drawable = graph.get_graph()
    nodes: list[NodeSpec] = []
    for node_id in drawable.nodes:
        kind = {START_ID: NodeKind.START, END_ID: NodeKind.END}.get(node_id, NodeKind.STEP)
        label = {START_ID: "start", END_ID: "end"}.get(node_id, node_id)
        nodes.append(NodeSpec(id=node_id, kind=kind, label=label))
    # Terminals first and last, as railgraph's own specs have them.
    nodes.sort(key=lambda n: {NodeKind.START: 0, NodeKind.END: 2}.get(n.kind, 1))
    edges = [
        EdgeSpec(
            source=e.source,
            target=e.target,
            kind=EdgeKind.CONDITIONAL if e.conditional else EdgeKind.NORMAL,
            label=str(e.data) if e.conditional and e.data is not None else None,
        )
        for e in drawable.edges
    ]
    schema = getattr(getattr(graph, "builder", None), "state_schema", None)
    return GraphSpec(
        name=name or str(getattr(graph, "name", None) or "graph"),
        state=getattr(schema, "__name__", "state"),
        nodes=tuple(nodes),
        edges=tuple(edges),
    )


async def read_checkpoints(
    saver: BaseCheckpointSaver[Any], thread_id: str
) -> list[CheckpointTuple]:
    """A thread's checkpoints, oldest first (root namespace only)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    found = [c async for c in saver.alist(config)]
    found.reverse()
    return found


def _ts(checkpoint: CheckpointTuple) -> float | None:
    stamp = checkpoint.checkpoint.get("ts")
    if not stamp:
        return None
    return datetime.fromisoformat(str(stamp)).timestamp()


def _ran(previous: dict[str, Any], current: dict[str, Any], order: dict[str, int]) -> list[str]:
    # Parallel nodes of one step are listed in the spec's order, not the order they finished.
    ran = [n for n in current if n in order and current[n] != previous.get(n)]
    return sorted(ran, key=order.__getitem__)


def _due(checkpoint: CheckpointTuple, known: set[str]) -> list[str]:
    # A trigger channel's version also moves when a node consumes it, so versions do not
    # say what is due; the channels the last step wrote do.
    updated = checkpoint.checkpoint.get("updated_channels") or ()
    return sorted(
        c.removeprefix(_TRIGGER)
        for c in updated
        if c.startswith(_TRIGGER) and c.removeprefix(_TRIGGER) in known
    )


def path_from_checkpoints(
    spec: GraphSpec, thread_id: str, checkpoints: Sequence[CheckpointTuple]
) -> RunPath:
    """Rebuild a plain LangGraph thread's path from its checkpoints (oldest first)."""
    order = {n.id: i for i, n in enumerate(spec.nodes) if n.id not in (START_ID, END_ID)}
    known = set(order)
    steps: list[list[Visit]] = []
    timeline: list[TimelineEntry] = []
    previous: dict[str, Any] = {}
    position = 0
    for checkpoint in checkpoints:
        seen = dict(checkpoint.checkpoint.get("versions_seen", {}))
        ran = _ran(previous, seen, order)
        previous = seen
        if not ran:
            continue
        step = [Visit(node=n, step=position + i + 1) for i, n in enumerate(ran)]
        position += len(ran)
        steps.append(step)
        at = _ts(checkpoint)
        if at is not None:
            number = checkpoint.metadata.get("step") if checkpoint.metadata else None
            timeline.append(
                TimelineEntry(
                    at=at, kind="step", node=None, text=f"step {number}: {', '.join(ran)}"
                )
            )
    status, stops = RunStatus.COMPLETED, {}
    if checkpoints:
        last = checkpoints[-1]
        channels = {w[1] for w in last.pending_writes or ()}
        due = _due(last, known)
        if _INTERRUPT in channels:
            status = RunStatus.PAUSED
        elif _ERROR in channels:
            status = RunStatus.FAILED
        elif due:
            status = RunStatus.RUNNING
        stop = _STOPS.get(status)
        if stop is not None and due:
            waiting = [
                Visit(node=n, step=position + i + 1, finished=False) for i, n in enumerate(due)
            ]
            steps.append(waiting)
            stops = {n: stop for n in due}
    visits = tuple(v for step in steps for v in step)
    hops = link_steps(spec, steps, ended=status == RunStatus.COMPLETED)
    ends = [t.at for t in timeline]
    return RunPath(
        run_id=thread_id,
        graph=spec.name,
        status=status,
        visits=visits,
        hops=tuple(hops),
        stops=stops,
        timeline=tuple(timeline),
        started_at=min(ends) if ends else None,
        updated_at=max(ends) if ends else None,
    )
