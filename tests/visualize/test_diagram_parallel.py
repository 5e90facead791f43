"""A run waiting at two approve gates at once is drawn paused at both."""

from __future__ import annotations

from pathlib import Path

from railgraph import Runner
from railgraph.graphs._services import ServiceCatalogue
from railgraph.graphs.incident import make_graph
from railgraph.visualize import StopStatus, path_from_events, run_diagram, to_dot


async def test_each_open_request_marks_its_gate_paused(tmp_path: Path) -> None:
    graph = make_graph(catalogue=ServiceCatalogue(tmp_path / "services.db"))
    async with Runner.open(tmp_path / "rg.db") as runner:
        paused = await runner.start(graph, {"service": "checkout"}, run_id="inc-1")
        record = await runner.store.get_run("inc-1")
        events = await runner.store.list_events("inc-1")
        approvals = await runner.store.list_approvals(run_id="inc-1", status=None)
        assert record is not None
        both = path_from_events(graph.spec, record, events, approvals)

        [notice] = [p for p in paused.pending if p.node == "approve_status_page"]
        await runner.approve("inc-1", by="alice", request_id=notice.request_id)
        record = await runner.store.get_run("inc-1")
        events = await runner.store.list_events("inc-1")
        approvals = await runner.store.list_approvals(run_id="inc-1", status=None)
        assert record is not None
        one = path_from_events(graph.spec, record, events, approvals)

    assert both.stops == {
        "approve_rollback": StopStatus.PAUSED,
        "approve_status_page": StopStatus.PAUSED,
    }
    assert one.stops == {"approve_rollback": StopStatus.PAUSED}
    assert [v.node for v in one.visits if v.node.startswith("approve")] == [
        "approve_status_page",
        "approve_rollback",
    ]
    dot = to_dot(run_diagram(graph.spec, one))
    assert dot.count("PAUSED") == 1
