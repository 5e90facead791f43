"""Event streams that older releases stored still read as the run they describe.

Before run-level and node-level event kinds were told apart, a budget refusal was stored
twice: a node-level ``budget_exhausted`` (no ``error``) and the run's own one. A database
written then must not draw the refused node twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, Runner
from railgraph._report import trace
from railgraph._telemetry_plan import plan_segment
from railgraph.checkpointers import EventRecord
from railgraph.nodes import BudgetEnvelope
from railgraph.visualize import StopStatus, Visit, path_from_events, run_diagram, to_dot


class Work(BaseModel):
    a: Any = None
    b: Any = None


def _older(events: list[EventRecord]) -> list[dict[str, Any]]:
    """The stream as an older release stored it: the refused node recorded the refusal too."""
    out: list[dict[str, Any]] = [
        {"kind": e.kind, "node": e.node, "at": e.at, "data": e.data} for e in events
    ]
    run_level = events[-1]
    assert run_level.kind == "budget_exhausted" and "error" in run_level.data
    node_level = {
        "kind": "budget_exhausted",
        "node": run_level.node,
        "at": run_level.at,
        "data": {k: run_level.data[k] for k in ("dimension", "used", "limit", "refused")},
    }
    return [*out[:-1], node_level, out[-1]]


async def test_old_node_level_budget_event_is_no_second_stop(runner: Runner, chat: Any) -> None:
    g = GraphBuilder("llm-calls", Work, budget=BudgetEnvelope(llm_calls=1))
    g.llm("a", model=chat(("one", 10, 1)), model_name="m1", prompt=lambda s: "1", output="a")
    g.llm("b", model=chat(("two", 10, 1)), model_name="m2", prompt=lambda s: "2", output="b")
    g.edge(START, "a").edge("a", "b").edge("b", END)
    rail = g.build()
    outcome = await runner.start(rail, {}, run_id="new")
    assert outcome.status == "budget_exhausted"
    record = await runner.store.get_run("new")
    assert record is not None

    # The same run, stored the way an older release stored it, in a real database.
    old = record.model_copy(update={"run_id": "old"})
    await runner.store.create_run(old)
    await runner.store.append_events("old", _older(await runner.store.list_events("new")))
    stored = await runner.store.list_events("old")
    assert [(e.kind, e.node, "error" in e.data) for e in stored[-2:]] == [
        ("budget_exhausted", "b", False),
        ("budget_exhausted", "b", True),
    ]

    path = path_from_events(rail.spec, old, stored)
    assert path.visits == (
        Visit(node="a", step=1, outcome=None, duration_ms=0.0, usage=path.visits[0].usage),
        Visit(node="b", step=2, finished=False),
    )
    assert path.stops == {"b": StopStatus.BUDGET_EXHAUSTED}
    assert [(h.order, h.edge.source, h.edge.target) for h in path.hops] == [
        (1, "__start__", "a"),
        (2, "a", "b"),
    ]
    # Drawn exactly as the run stored by this release.
    new_path = path_from_events(rail.spec, record, await runner.store.list_events("new"))
    assert (path.visits, path.hops, path.stops) == (
        new_path.visits,
        new_path.hops,
        new_path.stops,
    )
    old_dot = to_dot(run_diagram(rail.spec, path))
    assert old_dot == to_dot(run_diagram(rail.spec, new_path)).replace("run new", "run old")
    # The report's path counts each node once per visit.
    assert trace(old, stored, [])["path"] == ["a"]
    # The timeline still lists the old record, as a line of its own, not as the run's end.
    # The trace exported to telemetry is the new stream's trace.
    new_events = await runner.store.list_events("new")
    assert plan_segment(old, stored, rail.spec) == plan_segment(old, new_events, rail.spec)
    old_lines = [(t.kind, t.node, t.text) for t in path.timeline]
    new_lines = [(t.kind, t.node, t.text) for t in new_path.timeline]
    assert old_lines[:-2] == new_lines[:-1]
    assert old_lines[-1] == new_lines[-1]
    assert old_lines[-2][:2] == ("budget_exhausted", "b")
    assert old_lines[-2][2].startswith("budget exhausted: {")
