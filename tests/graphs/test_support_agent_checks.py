"""`railgraph check` reads an agent node's tools and its turn bound from the spec."""

from __future__ import annotations

from pathlib import Path

from railgraph._policy_checks import check_policies, node_tools
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.support_agent import make_graph


def test_the_support_agent_passes_the_policy_checks(tmp_path: Path) -> None:
    graph = make_graph(helpdesk=Helpdesk(tmp_path / "helpdesk.db"))

    assert sorted(node_tools(graph)) == [
        ("support", "create_refund"),
        ("support", "delete_customer"),
        ("support", "load_ticket"),
        ("support", "lookup_invoice"),
        ("support", "notify_customer"),
    ]
    # Its tools are used, its loop is bounded by max_turns, its email is automatic on purpose.
    assert check_policies(graph) == []
