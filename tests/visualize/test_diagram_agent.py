"""The agent node in diagrams: its tools by tier and policy, a run's turns and decisions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from railgraph import RailGraph, Runner
from railgraph.graphs.support_agent import make_graph
from railgraph.visualize import (
    Emphasis,
    StopStatus,
    design_diagram,
    run_diagram,
    to_dot,
    to_mermaid,
    traffic_diagram,
)
from tests.conftest import FakeTime
from tests.visualize.conftest import TimedHelpdesk

Snapshot = Callable[[str, str], None]


def agent_graph(tmp_path: Path, fake_time: FakeTime) -> RailGraph:
    return make_graph(helpdesk=TimedHelpdesk(tmp_path / "helpdesk.db", fake_time.advance))


def chips(node: Any) -> list[tuple[str, str, str, tuple[str, ...], str]]:
    return [(c.name, c.tier, c.policy, c.notes, c.emphasis.value) for c in node.tools]


def test_the_agent_is_drawn_with_its_tools_by_tier_and_policy(
    tmp_path: Path, fake_time: FakeTime, snapshot: Snapshot
) -> None:
    graph = agent_graph(tmp_path, fake_time)
    diagram = design_diagram(graph.spec)
    node = diagram.node("support")

    assert node.details == ("scripted-support-model", "≤8 turns")
    assert chips(node) == [
        ("load_ticket", "read", "auto", (), "normal"),
        ("lookup_invoice", "read", "auto", (), "normal"),
        ("create_refund", "irreversible", "conditional", (), "normal"),
        ("notify_customer", "external", "auto", (), "normal"),
        ("delete_customer", "irreversible", "block", (), "normal"),
    ]
    dot = to_dot(diagram)
    assert 'bgcolor="#ffcdd2" color="#b71c1c"><b>delete_customer</b>' in dot
    assert "irreversible · ⊘ blocked" in dot
    assert "irreversible · approve if amount &gt; 100, else auto" in dot
    snapshot("support_agent_design.dot", dot)
    snapshot("support_agent_design.mmd", to_mermaid(diagram))


async def test_a_run_shows_turns_calls_decisions_and_the_call_waiting(
    tmp_path: Path,
    fake_time: FakeTime,
    runner: Runner,
    read_path: Any,
    snapshot: Snapshot,
) -> None:
    graph = agent_graph(tmp_path, fake_time)
    await runner.start(graph, {"ticket_id": "T-1002"}, run_id="A-1002")

    paused = run_diagram(graph.spec, await read_path(graph, "A-1002"))
    node = paused.node("support")
    assert node.stop is StopStatus.PAUSED
    assert node.notes[0] == "3 turns · 4 calls"
    assert node.notes[-1] == "waiting: create_refund (turn 3)"
    assert chips(node)[2] == (
        "create_refund",
        "irreversible",
        "conditional",
        ("awaiting review",),
        "taken",
    )
    assert chips(node)[3][3:] == ((), "faded")
    snapshot("support_agent_run_paused.dot", to_dot(paused))

    await runner.approve("A-1002", by="lead", edit={"amount": 250})
    done = run_diagram(graph.spec, await read_path(graph, "A-1002"))
    node = done.node("support")
    assert node.stop is None
    assert node.notes[0] == "4 turns · 5 calls"
    assert chips(node) == [
        ("load_ticket", "read", "auto", ("1 call",), "taken"),
        ("lookup_invoice", "read", "auto", ("1 call",), "taken"),
        ("create_refund", "irreversible", "conditional", ("1 call", "edited by lead"), "taken"),
        ("notify_customer", "external", "auto", ("1 call",), "taken"),
        ("delete_customer", "irreversible", "block", ("1 call", "blocked"), "taken"),
    ]
    loop = [e for e in done.edges if e.label == "continue"]
    assert [(e.emphasis, e.count) for e in loop] == [(Emphasis.TAKEN, 8)]
    snapshot("support_agent_run_edited.dot", to_dot(done))
    snapshot("support_agent_run_edited.mmd", to_mermaid(done))


async def test_traffic_counts_calls_per_tool(
    tmp_path: Path, fake_time: FakeTime, runner: Runner, read_path: Any
) -> None:
    graph = agent_graph(tmp_path, fake_time)
    await runner.start(graph, {"ticket_id": "T-1001"}, run_id="A-1")
    await runner.start(graph, {"ticket_id": "T-1002"}, run_id="A-2")
    await runner.reject("A-2", by="lead", reason="disputed")

    paths = [await read_path(graph, r) for r in ("A-1", "A-2")]
    node = traffic_diagram(graph.spec, paths).node("support")

    assert chips(node) == [
        ("load_ticket", "read", "auto", ("2 calls",), "taken"),
        ("lookup_invoice", "read", "auto", ("2 calls",), "taken"),
        ("create_refund", "irreversible", "conditional", ("2 calls", "1 held back"), "taken"),
        ("notify_customer", "external", "auto", ("2 calls",), "taken"),
        ("delete_customer", "irreversible", "block", ("2 calls", "2 held back"), "taken"),
    ]


async def test_the_timeline_tells_turns_and_calls_in_words(
    tmp_path: Path, fake_time: FakeTime, runner: Runner, read_path: Any
) -> None:
    graph = agent_graph(tmp_path, fake_time)
    await runner.start(graph, {"ticket_id": "T-1002"}, run_id="A-3")
    await runner.approve("A-3", by="lead", edit={"amount": 250})

    path = await read_path(graph, "A-3")
    texts = [e.text for e in path.timeline if e.kind in ("agent_turn", "agent_call")]

    assert texts[:3] == [
        "turn 1: load_ticket",
        'call load_ticket (turn 1): ok · args {"ticket_id": "T-1002"}',
        "turn 2: lookup_invoice, delete_customer",
    ]
    assert 'call delete_customer (turn 2): blocked · args {"customer_id": "C-2"}' in texts
    assert (
        "call create_refund (turn 3): ok, edited by lead · args "
        '{"amount": 480.0, "invoice_id": "INV-5002", "ticket_id": "T-1002"} · ran '
        '{"amount": 250.0, "invoice_id": "INV-5002", "ticket_id": "T-1002"}'
    ) in texts
    assert texts[-1] == "turn 5: no tool calls: answered"
