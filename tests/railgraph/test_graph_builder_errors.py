"""Every build-time error names the node and the builder call that fixes it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from railgraph import END, FAIL, START, DefinitionError, GraphBuilder
from railgraph.nodes import ToolRegistry
from railgraph.verifiers import Predicate


class State(BaseModel):
    text: str | None = None
    out: dict[str, Any] | None = None


class Query(BaseModel):
    q: str


class Answer(BaseModel):
    a: str


CHECK = Predicate(lambda v: bool(v), message="text must not be empty")


def builder() -> GraphBuilder[State]:
    tools = ToolRegistry()

    @tools.tool(tier="read")
    def search(args: Query) -> Answer:
        return Answer(a=args.q)

    return GraphBuilder("g", State, tools=tools)


def noop(state: State) -> None:
    return None


def problems(g: GraphBuilder[State]) -> list[str]:
    """The problems ``build()`` lists, one per line."""
    with pytest.raises(DefinitionError) as info:
        g.build()
    header, *lines = str(info.value).split("\n")
    noun = "problem" if len(lines) == 1 else "problems"
    assert header == f"graph 'g' has {len(lines)} {noun}:"
    assert all(line.startswith("  - ") for line in lines)
    return [line.removeprefix("  - ") for line in lines]


def test_a_correct_graph_builds() -> None:
    g = builder()
    g.step("a", noop).edge(START, "a").edge("a", END)

    assert g.build().spec.name == "g"


# -- declaration-time errors ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1st", "has space", "", "__end__", "a.b", "_hidden"])
def test_invalid_id(bad: str) -> None:
    with pytest.raises(DefinitionError) as info:
        builder().step(bad, noop)

    assert str(info.value) == (
        f"graph 'g': node id {bad!r} is not valid; use letters, digits, '_' and '-', "
        "starting with a letter"
    )


def test_duplicate_id() -> None:
    g = builder().step("a", noop)

    with pytest.raises(DefinitionError) as info:
        g.tool("a", tool="search", args=lambda s: {"q": "x"})

    assert str(info.value) == (
        "graph 'g': node 'a' is declared twice; give the second one another id"
    )


def test_duplicate_approve_id_is_refused() -> None:
    g = builder().approve("ok", approved=END, rejected=END)

    with pytest.raises(DefinitionError, match="node 'ok' is declared twice"):
        g.approve("ok", approved=END, rejected=END)


def test_route_with_no_targets() -> None:
    with pytest.raises(DefinitionError) as info:
        builder().route("r", lambda s: "x", targets={})

    assert str(info.value) == ("route 'r' declares no targets; pass targets={'label': 'node', ...}")


@pytest.mark.parametrize(
    ("declare", "field"),
    [
        (lambda g: g.llm("ask", model=None, prompt=str, output="answer"), "answer"),
        (lambda g: g.tool("t", tool="search", args=dict, output="found"), "found"),
        (lambda g: g.verify("v", on="draft", checks=[CHECK], passed=END, failed=FAIL), "draft"),
    ],
    ids=["llm", "tool", "verify"],
)
def test_state_field_missing(declare: Any, field: str) -> None:
    with pytest.raises(DefinitionError) as info:
        declare(builder())

    node = str(info.value).split("'")[1]
    assert str(info.value) == (
        f"node {node!r} uses state field {field!r}, which State does not have; add "
        f"`{field}: ... = None` to the state model or fix the name"
    )


def test_reserved_field_name_in_the_state() -> None:
    class Sneaky(BaseModel):
        rg_usage: dict[str, float] = {}
        rg_status: dict[str, Any] = {}

    with pytest.raises(DefinitionError) as info:
        GraphBuilder("g", Sneaky)

    assert str(info.value) == (
        "graph 'g': state fields ['rg_status', 'rg_usage'] are reserved by railgraph; rename them"
    )


def test_state_must_be_a_pydantic_model() -> None:
    with pytest.raises(DefinitionError, match="the state must be a pydantic BaseModel subclass"):
        GraphBuilder("g", dict)  # type: ignore[type-var]


def test_verify_without_failed() -> None:
    with pytest.raises(DefinitionError) as info:
        builder().verify("v", on="text", checks=[CHECK], passed=END)

    assert str(info.value) == (
        "verify gate 'v' leaves outcome 'fail' unwired; pass failed=... (a node id, END or FAIL)"
    )


def test_verify_without_passed_or_failed() -> None:
    with pytest.raises(DefinitionError) as info:
        builder().verify("v", on="text", checks=[CHECK], retry="a")

    assert str(info.value) == (
        "verify gate 'v' leaves outcome 'pass', 'fail' unwired; pass passed=..., failed=... "
        "(a node id, END or FAIL)"
    )


def test_verify_without_checks_or_with_negative_retries() -> None:
    with pytest.raises(DefinitionError, match=r"verify gate 'v' has no checks; pass checks="):
        builder().verify("v", on="text", checks=[], passed=END, failed=FAIL)
    with pytest.raises(DefinitionError, match="verify gate 'v': max_retries must be >= 0"):
        builder().verify("v", on="text", checks=[CHECK], passed=END, failed=FAIL, max_retries=-1)


def test_budget_without_exceeded() -> None:
    with pytest.raises(DefinitionError) as info:
        builder().budget("b", within="a")

    assert str(info.value) == (
        "budget gate 'b' leaves outcome 'exceeded' unwired; pass exceeded=... "
        "(a node id, END or FAIL)"
    )


def test_budget_needs_must_name_dimensions() -> None:
    with pytest.raises(DefinitionError) as info:
        builder().budget("b", within="a", exceeded=END, needs={"dollars": 2})

    assert str(info.value) == (
        "budget gate 'b': needs={'dollars': 2} must name budget dimensions with non-negative "
        "amounts, e.g. needs={'tool_calls': 2}"
    )


def test_approve_without_rejected() -> None:
    with pytest.raises(DefinitionError) as info:
        builder().approve("ok", approved=END)

    assert str(info.value) == (
        "approve gate 'ok' leaves outcome 'rejected' unwired; pass rejected=... "
        "(a node id, END or FAIL)"
    )


# -- build-time errors ----------------------------------------------------------------------


def test_edge_from_an_unknown_node() -> None:
    g = builder().step("a", noop).edge(START, "a").edge("a", END).edge("ghost", "a")

    assert problems(g) == [
        "edge 'ghost' -> 'a' starts at unknown node 'ghost'; declare it first or fix the name"
    ]


def test_edge_to_an_unknown_node() -> None:
    g = builder().step("a", noop).edge(START, "a").edge("a", "ghost")

    assert problems(g) == [
        "edge 'a' -> 'ghost' ends at unknown node 'ghost'; declare it with "
        "g.step/g.llm/g.tool/... or fix the name"
    ]


def test_route_target_that_is_an_unknown_node() -> None:
    g = builder().route("r", lambda s: "x", targets={"x": "ghost", "y": END})
    g.edge(START, "r")

    assert problems(g) == [
        "route 'r' sends outcome 'x' to unknown node 'ghost'; declare it or fix the name"
    ]


def test_gate_target_that_is_an_unknown_node() -> None:
    g = builder().step("a", noop)
    g.verify("v", on="text", checks=[CHECK], passed="ghost", failed=FAIL)
    g.edge(START, "a").edge("a", "v")

    assert problems(g) == [
        "verify 'v' sends outcome 'pass' to unknown node 'ghost'; declare it or fix the name"
    ]


def test_unreachable_node() -> None:
    g = builder().step("a", noop).step("orphan", noop)
    g.edge(START, "a").edge("a", END).edge("orphan", END)

    assert problems(g) == [
        "node 'orphan' is not reachable from the start; connect it with "
        "g.edge('some_node', 'orphan') or remove it"
    ]


def test_loop_with_no_exit() -> None:
    g = builder().step("a", noop).step("b", noop)
    g.edge(START, "a").edge("a", "b").edge("b", "a")

    assert problems(g) == [
        "node 'a' has no way to the end: every path from it loops forever; add an edge or "
        "outcome from the loop to END",
        "node 'b' has no way to the end: every path from it loops forever; add an edge or "
        "outcome from the loop to END",
    ]


def test_route_loop_with_no_exit() -> None:
    g = builder().step("a", noop)
    g.route("again", lambda s: "more", targets={"more": "a"})
    g.edge(START, "a").edge("a", "again")

    assert [p.split(":")[0] for p in problems(g)] == [
        "node 'a' has no way to the end",
        "node 'again' has no way to the end",
    ]


def test_node_with_no_way_out() -> None:
    g = builder().step("a", noop).step("b", noop)
    g.edge(START, "a").edge("a", "b")

    assert problems(g) == ["node 'b' has no way out; add g.edge('b', 'next') or g.edge('b', END)"]


def test_gate_with_a_plain_out_edge() -> None:
    g = builder().route("r", lambda s: "x", targets={"x": END})
    g.edge(START, "r").edge("r", END)

    assert problems(g) == [
        "route 'r' leaves by its outcomes only; remove g.edge('r', ...) and wire the outcome "
        "instead"
    ]


def test_approve_action_naming_a_non_tool_node() -> None:
    g = builder().step("prep", noop)
    g.approve("ok", action="prep", approved="prep", rejected=END)
    g.edge(START, "ok").edge("prep", END)

    with pytest.raises(DefinitionError) as info:
        g.build()

    assert str(info.value) == (
        "approve gate 'ok' reviews action 'prep', which is a step node; action= must name a "
        "tool node declared with g.tool(...)"
    )


def test_approve_action_naming_an_undeclared_node() -> None:
    g = builder().approve("ok", action="pay", approved=END, rejected=END).edge(START, "ok")

    with pytest.raises(DefinitionError) as info:
        g.build()

    assert str(info.value) == (
        "approve gate 'ok' reviews action 'pay', which is not declared; action= must name a "
        "tool node declared with g.tool(...)"
    )


def test_approve_may_name_a_tool_node_declared_after_it() -> None:
    g = builder().approve("ok", action="look", approved="look", rejected=END)
    g.tool("look", tool="search", args=lambda s: {"q": "x"}, output="out")
    g.edge(START, "ok").edge("look", END)

    spec = g.build().spec

    assert spec.node("ok").meta == {"action": "look", "tool": "search", "reviewers": []}


def test_verify_retry_of_a_node_that_never_comes_back() -> None:
    g = builder().step("draft", noop).step("other", noop)
    g.verify("v", on="text", checks=[CHECK], retry="other", passed=END, failed=FAIL)
    g.edge(START, "draft").edge("draft", "v").edge("other", END)

    assert problems(g) == [
        "verify gate 'v' retries 'other', but the run never comes back from 'other' to 'v'; "
        "retry a node upstream of the gate"
    ]


def test_verify_retry_of_an_unknown_node() -> None:
    g = builder().step("draft", noop)
    g.verify("v", on="text", checks=[CHECK], retry="ghost", passed=END, failed=FAIL)
    g.edge(START, "draft").edge("draft", "v")

    assert problems(g) == [
        "verify 'v' sends outcome 'retry' to unknown node 'ghost'; declare it or fix the name",
        "verify gate 'v' retries unknown node 'ghost'; retry= must name a node of this graph",
    ]


def test_edge_to_fail_from_a_plain_node() -> None:
    g = builder().step("a", noop).edge(START, "a").edge("a", FAIL)

    assert problems(g) == [
        "edge 'a' -> FAIL: only gate and route outcomes may lead to FAIL; raise an error from "
        "the step, or route to FAIL with g.route(...)"
    ]


def test_no_start_edge() -> None:
    g = builder().step("a", noop).edge("a", END)

    assert problems(g) == ["the graph has no start; add g.edge(START, 'first_node')"]


def test_every_problem_is_listed_at_once() -> None:
    g = builder().step("a", noop).step("b", noop)
    g.route("r", lambda s: "x", targets={"x": "ghost"})
    g.edge("a", "nowhere").edge("r", END)

    assert problems(g) == [
        "edge 'a' -> 'nowhere' ends at unknown node 'nowhere'; declare it with "
        "g.step/g.llm/g.tool/... or fix the name",
        "route 'r' sends outcome 'x' to unknown node 'ghost'; declare it or fix the name",
        "the graph has no start; add g.edge(START, 'first_node')",
        "node 'b' has no way out; add g.edge('b', 'next') or g.edge('b', END)",
        "route 'r' leaves by its outcomes only; remove g.edge('r', ...) and wire the outcome "
        "instead",
    ]
