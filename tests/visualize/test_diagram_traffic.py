"""Traffic over many runs: edge counts and widths, visits, stops and escalations per node.

Snapshots live in ``tests/visualize/snapshots/`` and are compared byte for byte; regenerate
them with ``RAILGRAPH_UPDATE_SNAPSHOTS=1`` after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from railgraph import RailGraph, Runner
from railgraph.visualize import Emphasis, to_dot, to_mermaid, traffic_diagram

Snapshot = Callable[[str, str], None]
REFUND = "railgraph.graphs.refund:graph"
TICKETS = ["T-1001", "T-1002", "T-1003", "T-1004"]


async def twenty_runs(runner: Runner) -> None:
    """Five of each lane; some approvals and rejections decided, others left waiting."""
    for i in range(20):
        ticket = TICKETS[i % 4]
        run_id = f"run-{i + 1:02d}"
        await runner.start(REFUND, {"ticket_id": ticket}, run_id=run_id)
        if ticket == "T-1002" and i < 12:
            await runner.approve(run_id, by="alice")
        elif ticket == "T-1003" and i < 12:
            await runner.reject(run_id, by="bob", reason="outside the refund window")
        elif ticket == "T-1004" and i < 8:
            await runner.approve(run_id, by="dana", edit={"amount": 25})


async def test_traffic_of_twenty_runs(
    runner: Runner, refund_graph: RailGraph, read_path: Any, snapshot: Snapshot
) -> None:
    await twenty_runs(runner)
    records = await runner.store.list_runs(graph=REFUND, limit=20)
    paths = [await read_path(refund_graph, r.run_id) for r in reversed(records)]

    diagram = traffic_diagram(refund_graph.spec, paths)

    edges = {(e.source, e.target, e.label): (e.count, e.weight) for e in diagram.edges}
    assert edges[("__start__", "load_ticket", None)] == (20, 0.8)
    assert edges[("lookup_invoice", "verify_invoice", None)] == (25, 1.0)
    assert edges[("verify_invoice", "lookup_invoice", "retry")] == (5, 0.2)
    assert edges[("verify_invoice", "escalate", "fail")] == (5, 0.2)
    assert edges[("escalate", "create_refund", "approved")] == (2, 0.08)
    assert edges[("approve_refund", "notify_declined", "rejected")] == (3, 0.12)
    assert edges[("budget", "__end__", "exceeded")] == (0, 0.0)
    assert diagram.node("approve_refund").notes == (
        "10 of 20 runs",
        "rejected here: 3 of 10 (30%)",
        "waiting here: 4",
        "escalated: 10 of 20 runs (50%)",
    )
    assert diagram.node("verify_invoice").notes == (
        "20 of 20 runs · 25 visits",
        "escalated: 5 of 20 runs (25%)",
    )
    assert diagram.node("escalate").notes == (
        "5 of 20 runs",
        "waiting here: 3",
        "escalated: 5 of 20 runs (25%)",
    )
    assert diagram.subtitle == (
        "10 completed · 7 paused · 3 rejected",
        "escalated: 15 of 20 runs (75%)",
    )
    assert next(e for e in diagram.edges if e.label == "other").emphasis is Emphasis.FADED
    snapshot("refund_traffic_20.dot", to_dot(diagram))
    snapshot("refund_traffic_20.mmd", to_mermaid(diagram))
