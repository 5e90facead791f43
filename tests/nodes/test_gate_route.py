"""Route nodes: each declared label leads to its target; anything else fails the run."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from railgraph import END, FAIL, START, GraphBuilder, RailGraph, Runner
from railgraph.nodes import NodeContext


class Ticket(BaseModel):
    kind: str = "refund"
    handled_by: str | None = None


def triage(fn: Any) -> RailGraph:
    g = GraphBuilder("triage", Ticket)
    g.step("intake", lambda s: None)
    g.route(
        "by_kind",
        fn,
        targets={"refund": "refunds", "bug": "engineering", "spam": END, "abuse": FAIL},
    )
    g.step("refunds", lambda s: {"handled_by": "refunds"})
    g.step("engineering", lambda s: {"handled_by": "engineering"})
    g.edge(START, "intake").edge("intake", "by_kind")
    g.edge("refunds", END).edge("engineering", END)
    return g.build()


async def path_of(runner: Runner, run_id: str) -> list[str | None]:
    events = await runner.store.list_events(run_id)
    return [e.node for e in events if e.kind == "node_finished"]


@pytest.mark.parametrize(
    ("kind", "handled_by", "path"),
    [
        ("refund", "refunds", ["intake", "by_kind", "refunds"]),
        ("bug", "engineering", ["intake", "by_kind", "engineering"]),
        ("spam", None, ["intake", "by_kind"]),
    ],
)
async def test_each_declared_label_leads_to_its_target(
    runner: Runner, kind: str, handled_by: str | None, path: list[str]
) -> None:
    outcome = await runner.start(triage(lambda s: s.kind), {"kind": kind})

    assert outcome.status == "completed"
    assert outcome.result["handled_by"] == handled_by
    assert await path_of(runner, outcome.run_id) == path
    events = await runner.store.list_events(outcome.run_id)
    (route,) = [e for e in events if e.kind == "route"]
    target = {"refund": "refunds", "bug": "engineering", "spam": "__end__"}[kind]
    assert (route.node, route.data) == ("by_kind", {"outcome": kind, "target": target})
    (finished,) = [e for e in events if e.kind == "node_finished" and e.node == "by_kind"]
    assert finished.data["kind"] == "route"
    assert finished.data["outcome"] == kind


async def test_label_wired_to_fail_fails_the_run(runner: Runner) -> None:
    outcome = await runner.start(triage(lambda s: s.kind), {"kind": "abuse"})

    assert outcome.status == "failed"
    assert outcome.reason == "route 'by_kind' chose 'abuse'"
    assert await path_of(runner, outcome.run_id) == ["intake", "by_kind"]
    events = await runner.store.list_events(outcome.run_id)
    assert events[-1].kind == "run_finished"
    assert events[-1].data == {"status": "failed", "reason": "route 'by_kind' chose 'abuse'"}


async def test_undeclared_label_fails_the_run_naming_route_and_targets(runner: Runner) -> None:
    outcome = await runner.start(triage(lambda s: "billing"), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "RouteError: route 'by_kind' returned 'billing', which is not one of its declared "
        "targets ('refund', 'bug', 'spam', 'abuse'); declare it in g.route('by_kind', ..., "
        "targets=...) or fix the routing function"
    )
    assert outcome.result["handled_by"] is None
    assert outcome.usage["steps"] == 2
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("node_finished", "intake"),
        ("run_failed", "by_kind"),
    ]
    assert events[-1].data["error_type"] == "RouteError"


async def test_route_with_context_and_list_targets(runner: Runner) -> None:
    def pick(state: Ticket, ctx: NodeContext) -> str:
        return "left" if ctx.usage.steps == 0 else "right"

    g = GraphBuilder("listed", Ticket)
    g.route("pick", pick, targets=["left", "right"])
    g.step("left", lambda s: {"handled_by": "left"})
    g.step("right", lambda s: {"handled_by": "right"})
    g.edge(START, "pick").edge("left", END).edge("right", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.result["handled_by"] == "left"


async def test_async_route(runner: Runner) -> None:
    async def pick(state: Ticket) -> str:
        return "bug"

    outcome = await runner.start(triage(pick), {})

    assert outcome.result["handled_by"] == "engineering"
