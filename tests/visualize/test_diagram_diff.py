"""Two versions of a graph in one diagram: added, removed and changed nodes and edges.

The edited copy of the refund agent is declared here with GraphBuilder: no escalation gate
(a failed invoice check fails the run), a fraud check added before the amount route, and a
tighter budget envelope. Snapshots live in ``tests/visualize/snapshots/`` and are compared
byte for byte; regenerate them with ``RAILGRAPH_UPDATE_SNAPSHOTS=1`` after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from railgraph import END, FAIL, START, GraphBuilder, GraphSpec, RailGraph
from railgraph.graphs import refund
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.nodes import BudgetEnvelope, ToolPolicy
from railgraph.verifiers import InRange, NoErrorSignal, Schema
from railgraph.visualize import Change, design_diagram, diff_diagram, load_spec, to_dot, to_mermaid

Snapshot = Callable[[str, str], None]


def edited_refund(helpdesk: Helpdesk) -> RailGraph:
    """The refund agent with a fraud check, no escalation, and a smaller tool budget."""
    limit = refund.AUTO_APPROVE_LIMIT
    g = GraphBuilder(
        "refund",
        refund.RefundState,
        tools=refund._tools(helpdesk),
        policy=ToolPolicy(
            tools={"create_refund": lambda a: "auto" if a["amount"] <= limit else "approve"}
        ),
        budget=BudgetEnvelope(
            steps=40, llm_calls=3, tool_calls=6, tokens=4000, cost_usd=0.05, wall_s=60, retries=3
        ),
    )
    g.tool("load_ticket", args=lambda s: {"ticket_id": s.ticket_id}, output="ticket")
    g.llm(
        "classify",
        model=refund.scripted_model(),
        model_name=refund.SCRIPTED_MODEL,
        prompt=refund._classify_prompt,
        parse=refund._intent,
        output="intent",
    )
    g.route("by_intent", lambda s: s.intent, targets={"refund": "lookup_invoice", "other": END})
    g.tool("lookup_invoice", args=lambda s: {"invoice_id": s.ticket.invoice_id}, output="invoice")
    g.verify(
        "verify_invoice",
        on="invoice",
        checks=[Schema(refund.Invoice), InRange("amount", gt=0), NoErrorSignal()],
        retry="lookup_invoice",
        max_retries=1,
        passed="budget",
        failed=FAIL,
    )
    g.budget("budget", within="check_fraud", exceeded=END, needs={"tool_calls": 2})
    g.step("check_fraud", lambda s: {})
    g.route(
        "by_amount",
        lambda s: "auto" if refund.refund_amount(s) <= limit else "review",
        targets={"auto": "create_refund", "review": "approve_refund"},
    )
    g.approve(
        "approve_refund",
        action="create_refund",
        approved="create_refund",
        rejected="notify_declined",
    )
    g.tool("create_refund", args=refund._refund_args, output="refund")
    g.tool("notify_customer", args=refund._notice, output="notification")
    g.tool("notify_declined", tool="notify_customer", args=refund._notice, output="notification")
    g.edge(START, "load_ticket").edge("load_ticket", "classify").edge("classify", "by_intent")
    g.edge("lookup_invoice", "verify_invoice").edge("check_fraud", "by_amount")
    g.edge("create_refund", "notify_customer").edge("notify_customer", END)
    g.edge("notify_declined", END)
    return g.build()


def test_diff_against_an_edited_copy(tmp_path: Path, snapshot: Snapshot) -> None:
    old = refund.graph.spec
    new = edited_refund(Helpdesk(tmp_path / "helpdesk.db")).spec

    diagram = diff_diagram(
        old, new, old_name="railgraph.graphs.refund:graph", new_name="edited copy"
    )

    changes = {n.id: n.change for n in diagram.nodes if n.change is not Change.SAME}
    assert changes == {
        "check_fraud": Change.ADDED,
        "escalate": Change.REMOVED,
        "budget": Change.CHANGED,
        "__fail__": Change.ADDED,
    }
    assert diagram.node("budget").notes == ("envelope.tool_calls: 8 → 6",)
    edge_changes = {
        (e.source, e.target, e.label): e.change
        for e in diagram.edges
        if e.change is not Change.SAME
    }
    assert edge_changes == {
        ("check_fraud", "by_amount", None): Change.ADDED,
        ("verify_invoice", "__fail__", "fail"): Change.ADDED,
        ("budget", "check_fraud", "within"): Change.ADDED,
        ("verify_invoice", "escalate", "fail"): Change.REMOVED,
        ("escalate", "create_refund", "approved"): Change.REMOVED,
        ("escalate", "notify_declined", "rejected"): Change.REMOVED,
        ("budget", "by_amount", "within"): Change.REMOVED,
    }
    assert diagram.subtitle[0] == (
        "nodes: 2 added, 1 removed, 1 changed · edges: 3 added, 4 removed"
    )
    snapshot("refund_diff_edited.dot", to_dot(diagram))
    snapshot("refund_diff_edited.mmd", to_mermaid(diagram))


def test_diff_against_a_saved_spec_file(tmp_path: Path) -> None:
    saved = tmp_path / "refund.json"
    saved.write_text(refund.graph.spec.to_json())

    other = load_spec(str(saved))
    unchanged = diff_diagram(other.spec, refund.graph.spec)

    assert isinstance(other.spec, GraphSpec)
    assert {n.change for n in unchanged.nodes} == {Change.SAME}
    assert unchanged.subtitle == ("no structural change", f"signature {refund.graph.signature}")
    # Unchanged parts are drawn pale; the design itself is not.
    assert 'fillcolor="#fafafa"' in to_dot(unchanged)
    assert 'fillcolor="#fafafa"' not in to_dot(design_diagram(refund.graph.spec))
