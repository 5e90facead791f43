"""The designed graph as DOT and Mermaid text: full snapshots, shapes, colours and labels.

Snapshots live in ``tests/visualize/snapshots/`` and are compared byte for byte; regenerate
them with ``RAILGRAPH_UPDATE_SNAPSHOTS=1`` after an intended change (see ``conftest.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from railgraph.graphs import refund, research
from railgraph.nodes import NodeKind
from railgraph.visualize import design_diagram, to_dot, to_mermaid

Snapshot = Callable[[str, str], None]


def dot_node(text: str, node_id: str) -> str:
    [line] = [ln for ln in text.splitlines() if ln.strip().startswith(f"{node_id} [")]
    return line


def test_refund_designed_graph_dot_snapshot(snapshot: Snapshot) -> None:
    snapshot("refund_design.dot", to_dot(design_diagram(refund.graph.spec)))


def test_refund_designed_graph_mermaid_snapshot(snapshot: Snapshot) -> None:
    snapshot("refund_design.mmd", to_mermaid(design_diagram(refund.graph.spec)))


def test_research_designed_graph_dot_snapshot(snapshot: Snapshot) -> None:
    snapshot("research_design.dot", to_dot(design_diagram(research.graph.spec)))


def test_the_same_graph_gives_byte_identical_text() -> None:
    first, second = refund.make_graph(), refund.make_graph()

    assert to_dot(design_diagram(first.spec)) == to_dot(design_diagram(second.spec))
    assert to_mermaid(design_diagram(first.spec)) == to_mermaid(design_diagram(second.spec))


@pytest.mark.parametrize(
    ("node", "shape", "fill"),
    [
        ("verify_invoice", "diamond", "#e0f7fa"),
        ("budget", "octagon", "#fff8e1"),
        ("approve_refund", "house", "#fce4ec"),
        ("by_amount", "parallelogram", "#e3f2fd"),
        ("classify", "ellipse", "#ede7f6"),
        ("load_ticket", "box", "#e8f5e9"),  # read tier: green
        ("notify_customer", "box", "#ffe0b2"),  # external tier: orange
        ("create_refund", "box", "#ffcdd2"),  # irreversible tier: red
        ("__start__", "circle", "#37474f"),
        ("__end__", "doublecircle", "#37474f"),
    ],
)
def test_each_kind_and_tier_has_its_shape_and_colour(node: str, shape: str, fill: str) -> None:
    line = dot_node(to_dot(design_diagram(refund.graph.spec)), node)

    assert f"shape={shape} " in line
    assert f'fillcolor="{fill}"' in line


def test_the_fail_terminal_is_red_and_labelled() -> None:
    line = dot_node(to_dot(design_diagram(research.graph.spec)), "__fail__")

    assert 'fillcolor="#c62828"' in line
    assert "<b>failed</b>" in line


def test_labels_carry_tier_policy_and_envelope() -> None:
    diagram = design_diagram(refund.graph.spec)

    assert diagram.node("create_refund").details == (
        "irreversible · policy conditional",
        "timeout 10 s",
    )
    assert diagram.node("notify_declined").details[0] == "calls notify_customer"
    assert diagram.node("budget").details == (
        "steps 40 · llm 3 · tools 8",
        "tokens 4000 · $0.05 · 60 s",
        "retries 3",
        "reserves tools 2",
    )
    assert diagram.node("verify_invoice").kind is NodeKind.VERIFY
    assert diagram.subtitle == (
        "budget: steps 40, llm calls 3, tool calls 8, tokens 4000, cost $0.05, time 60 s, "
        "retries 3",
    )


def test_gate_outcomes_are_labelled_edges_in_their_tone() -> None:
    text = to_dot(design_diagram(refund.graph.spec), with_legend=False)
    outcomes = {
        (m[0], m[1]): m[2]
        for m in re.findall(r"(\w+) -> (\w+) \[label=<.*?<font color=\"#\w+\">(\w+)</font>", text)
    }

    assert outcomes == {
        ("by_intent", "lookup_invoice"): "refund",
        ("by_intent", "__end__"): "other",
        ("verify_invoice", "budget"): "pass",
        ("verify_invoice", "lookup_invoice"): "retry",
        ("verify_invoice", "escalate"): "fail",
        ("escalate", "create_refund"): "approved",
        ("escalate", "notify_declined"): "rejected",
        ("budget", "by_amount"): "within",
        ("budget", "__end__"): "exceeded",
        ("by_amount", "create_refund"): "auto",
        ("by_amount", "approve_refund"): "review",
        ("approve_refund", "create_refund"): "approved",
        ("approve_refund", "notify_declined"): "rejected",
    }
    assert 'class="rg-edge rg-edge-gate rg-outcome-bad" color="#c62828"' in text
    assert "≤1\N{MULTIPLICATION SIGN}" in text  # the retry edge shows its bound


def test_legend_lists_the_kinds_tiers_and_outcomes_shown() -> None:
    text = to_mermaid(design_diagram(refund.graph.spec))
    legend = text[text.index('subgraph legend["Legend"]') : text.index("    end\n")]

    for entry in (
        "llm call",
        "route",
        "verify gate",
        "budget gate",
        "approve gate",
        "tool: read",
        "tool: external",
        "tool: irreversible",
        "gate: go on",
        "gate: retry",
        "gate: stop or escalate",
        "route choice",
    ):
        assert f'"{entry}"' in legend
    assert "tool: write" not in legend  # no write-tier tool in this graph
    assert '"step"' not in legend


def test_a_snapshot_check_fails_when_the_text_changes(
    snapshot_checker: Callable[..., None],
) -> None:
    text = to_dot(design_diagram(refund.graph.spec))

    with pytest.raises(AssertionError, match=r"refund_design\.dot changed"):
        snapshot_checker("refund_design.dot", text.replace("octagon", "box"), update=False)
    with pytest.raises(AssertionError, match="no snapshot"):
        snapshot_checker("no_such_snapshot.dot", text, update=False)
