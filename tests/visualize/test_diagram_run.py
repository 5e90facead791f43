"""A run's path on the designed graph, rebuilt from stored events: snapshots and exact paths.

Runs use the suite's FakeTime clock and timer, so durations and timestamps in the text are
fixed. Snapshots live in ``tests/visualize/snapshots/`` and are compared byte for byte;
regenerate them with ``RAILGRAPH_UPDATE_SNAPSHOTS=1`` after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from railgraph import RailGraph, Runner
from railgraph.visualize import Emphasis, StopStatus, run_diagram, to_dot, to_mermaid

Snapshot = Callable[[str, str], None]
REFUND = "railgraph.graphs.refund:graph"
RESEARCH = "railgraph.graphs.research:graph"


def hops(path: Any) -> list[tuple[int, str, str, str | None]]:
    return [(h.order, h.edge.source, h.edge.target, h.edge.label) for h in path.hops]


async def test_completed_refund_run(
    runner: Runner, refund_graph: RailGraph, read_path: Any, snapshot: Snapshot
) -> None:
    await runner.start(REFUND, {"ticket_id": "T-1001"}, run_id="T-1001")
    path = await read_path(refund_graph, "T-1001")

    assert hops(path) == [
        (1, "__start__", "load_ticket", None),
        (2, "load_ticket", "classify", None),
        (3, "classify", "by_intent", None),
        (4, "by_intent", "lookup_invoice", "refund"),
        (5, "lookup_invoice", "verify_invoice", None),
        (6, "verify_invoice", "budget", "pass"),
        (7, "budget", "by_amount", "within"),
        (8, "by_amount", "create_refund", "auto"),
        (9, "create_refund", "notify_customer", None),
        (10, "notify_customer", "__end__", None),
    ]
    diagram = run_diagram(refund_graph.spec, path)
    assert diagram.node("create_refund").notes == ("1 visit · 350 ms",)
    assert diagram.node("classify").notes == ("1 visit · 800 ms · $0.000019",)
    assert diagram.node("approve_refund").emphasis is Emphasis.FADED
    assert [n.id for n in diagram.nodes if n.stop] == []
    snapshot("refund_run_completed.dot", to_dot(diagram))
    snapshot("refund_run_completed.mmd", to_mermaid(diagram))


async def test_paused_refund_run(
    runner: Runner, refund_graph: RailGraph, read_path: Any, snapshot: Snapshot
) -> None:
    await runner.start(REFUND, {"ticket_id": "T-1002"}, run_id="T-1002")
    path = await read_path(refund_graph, "T-1002")

    assert hops(path)[-1] == (8, "by_amount", "approve_refund", "review")
    assert path.stops == {"approve_refund": StopStatus.PAUSED}
    diagram = run_diagram(refund_graph.spec, path)
    assert diagram.node("approve_refund").notes == (
        "awaiting a reviewer",
        "“refund of $480.00 is over the",
        "$100.00 limit”",
    )
    assert diagram.node("create_refund").emphasis is Emphasis.FADED
    snapshot("refund_run_paused.dot", to_dot(diagram))
    snapshot("refund_run_paused.mmd", to_mermaid(diagram))


async def test_rejected_refund_run_shows_the_decision_and_reviewer(
    runner: Runner, refund_graph: RailGraph, read_path: Any, snapshot: Snapshot
) -> None:
    await runner.start(REFUND, {"ticket_id": "T-1003"}, run_id="T-1003")
    await runner.reject("T-1003", by="bob", reason="outside the refund window")
    path = await read_path(refund_graph, "T-1003")

    assert hops(path)[-3:] == [
        (8, "by_amount", "approve_refund", "review"),
        (9, "approve_refund", "notify_declined", "rejected"),
        (10, "notify_declined", "__end__", None),
    ]
    diagram = run_diagram(refund_graph.spec, path)
    approve = diagram.node("approve_refund")
    assert approve.stop is StopStatus.REJECTED
    assert approve.notes == ("1 visit · 0 ms", "rejected by bob", "“outside the refund window”")
    snapshot("refund_run_rejected.dot", to_dot(diagram))


async def test_approved_escalation_after_a_verify_retry(
    runner: Runner, refund_graph: RailGraph, read_path: Any, snapshot: Snapshot
) -> None:
    await runner.start(REFUND, {"ticket_id": "T-1004"}, run_id="T-1004")
    await runner.approve("T-1004", by="dana", edit={"amount": 25})
    path = await read_path(refund_graph, "T-1004")

    assert hops(path)[4:9] == [
        (5, "lookup_invoice", "verify_invoice", None),
        (6, "verify_invoice", "lookup_invoice", "retry"),
        (7, "lookup_invoice", "verify_invoice", None),
        (8, "verify_invoice", "escalate", "fail"),
        (9, "escalate", "create_refund", "approved"),
    ]
    diagram = run_diagram(refund_graph.spec, path)
    assert diagram.node("escalate").notes == ("1 visit · 0 ms", "edited by dana", "→ amount=25")
    edge = next(
        e for e in diagram.edges if (e.source, e.target) == ("lookup_invoice", "verify_invoice")
    )
    assert (edge.steps, edge.count) == ((5, 7), 2)
    snapshot("refund_run_escalated.dot", to_dot(diagram))


async def test_failed_run_marks_the_node_that_raised(
    runner: Runner, refund_graph: RailGraph, read_path: Any
) -> None:
    await runner.start(REFUND, {"ticket_id": "T-9999"}, run_id="T-9999")
    path = await read_path(refund_graph, "T-9999")

    assert hops(path) == [(1, "__start__", "load_ticket", None)]
    diagram = run_diagram(refund_graph.spec, path)
    node = diagram.node("load_ticket")
    assert node.stop is StopStatus.FAILED
    assert node.notes[0].startswith("ToolError: tool 'load_ticket'")
    assert diagram.node("__end__").emphasis is Emphasis.FADED


async def test_research_run_with_a_verify_retry_loop_and_a_budget_exit(
    runner: Runner, research_graph: RailGraph, read_path: Any, snapshot: Snapshot
) -> None:
    outcome = await runner.start(
        RESEARCH, {"question": "how do agents resume after a crash"}, run_id="R-1"
    )
    assert outcome.status == "budget_exhausted"
    path = await read_path(research_graph, "R-1")

    assert hops(path)[-6:] == [
        (11, "summarize", "verify_citations", None),
        (12, "verify_citations", "summarize", "retry"),
        (13, "summarize", "verify_citations", None),
        (14, "verify_citations", "keep", "pass"),
        (15, "keep", "budget", None),
        (16, "budget", "__end__", "exceeded"),
    ]
    diagram = run_diagram(research_graph.spec, path)
    budget = diagram.node("budget")
    assert budget.stop is StopStatus.BUDGET_EXHAUSTED
    assert budget.notes == (
        "2 visits · 0 ms",
        "cost_usd: 0.0315 of 0.035 used,",
        "0.0105 more needed",
    )
    loop = next(
        e for e in diagram.edges if (e.source, e.target) == ("summarize", "verify_citations")
    )
    assert loop.steps == (4, 11, 13)
    assert diagram.node("summarize").notes == ("3 visits · 4.50 s · $0.0315",)
    assert diagram.node("__fail__").emphasis is Emphasis.FADED
    snapshot("research_run_retry_budget.dot", to_dot(diagram))
    snapshot("research_run_retry_budget.mmd", to_mermaid(diagram))
