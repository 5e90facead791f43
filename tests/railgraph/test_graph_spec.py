"""The spec: the designed graph as data, its JSON form and its signature."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from railgraph import (
    END,
    FAIL,
    START,
    EdgeKind,
    EdgeSpec,
    GraphBuilder,
    GraphSpec,
    InputError,
    RailGraph,
)
from railgraph._checks import to_networkx
from railgraph.nodes import BudgetEnvelope, NodeKind, ToolRegistry
from railgraph.verifiers import Predicate


class Doc(BaseModel):
    text: str | None = None
    draft: str | None = None
    out: dict[str, Any] | None = None


class Msg(BaseModel):
    body: str


class Sent(BaseModel):
    id: int


NONEMPTY = Predicate(lambda v: bool(v), message="draft must not be empty", name="nonempty")


def declare(*, rejected: str = END, label: str | None = None) -> GraphBuilder[Doc]:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def send(args: Msg) -> Sent:
        return Sent(id=1)

    g = GraphBuilder("publish", Doc, tools=tools, budget=BudgetEnvelope(tool_calls=4, steps=20))
    g.step("load", lambda s: {"text": "hello"}, label=label)
    g.llm("draft", model=object(), model_name="writer", prompt=lambda s: "x", output="draft")  # type: ignore[arg-type]
    g.verify("check", on="draft", checks=[NONEMPTY], retry="draft", passed="room", failed=FAIL)
    g.budget("room", within="pick", exceeded=END, needs={"tool_calls": 1})
    g.route("pick", lambda s: "auto", targets={"auto": "send", "hold": "review"})
    g.approve("review", action="send", approved="send", rejected=rejected, reviewers=["ann"])
    g.tool("send", args=lambda s: {"body": s.draft}, output="out")
    g.edge(START, "load").edge("load", "draft").edge("draft", "check").edge("send", END)
    return g


def build(**kw: Any) -> RailGraph:
    return declare(**kw).build()


def test_nodes_have_kinds_labels_and_meta() -> None:
    spec = build().spec

    assert spec.name == "publish"
    assert spec.state == "Doc"
    assert spec.budget == {"steps": 20, "tool_calls": 4}
    assert [(n.id, n.kind, n.label) for n in spec.nodes] == [
        ("__start__", NodeKind.START, "start"),
        ("load", NodeKind.STEP, "load"),
        ("draft", NodeKind.LLM, "draft"),
        ("check", NodeKind.VERIFY, "check"),
        ("room", NodeKind.BUDGET, "room"),
        ("pick", NodeKind.ROUTE, "pick"),
        ("review", NodeKind.APPROVE, "review"),
        ("send", NodeKind.TOOL, "send"),
        ("__end__", NodeKind.END, "end"),
        ("__fail__", NodeKind.END, "failed"),
    ]
    meta = {n.id: n.meta for n in spec.nodes}
    assert meta == {
        "__start__": {},
        "load": {},
        "draft": {"model": "writer", "output": "draft"},
        "check": {"on": "draft", "checks": ["nonempty"], "retry": "draft", "max_retries": 1},
        "room": {"needs": {"tool_calls": 1}, "envelope": {"steps": 20, "tool_calls": 4}},
        "pick": {},
        "review": {"action": "send", "tool": "send", "reviewers": ["ann"]},
        "send": {
            "tool": "send",
            "output": "out",
            "tier": "write",
            "policy": "auto",
            "timeout_s": 30.0,
            "retries": 0,
        },
        "__end__": {},
        "__fail__": {"status": "failed"},
    }


def test_edges_have_kinds_and_labels() -> None:
    spec = build().spec

    assert [(e.source, e.target, e.kind, e.label) for e in spec.edges] == [
        ("__start__", "load", EdgeKind.NORMAL, None),
        ("load", "draft", EdgeKind.NORMAL, None),
        ("draft", "check", EdgeKind.NORMAL, None),
        ("send", "__end__", EdgeKind.NORMAL, None),
        ("check", "room", EdgeKind.GATE, "pass"),
        ("check", "draft", EdgeKind.GATE, "retry"),
        ("check", "__fail__", EdgeKind.GATE, "fail"),
        ("room", "pick", EdgeKind.GATE, "within"),
        ("room", "__end__", EdgeKind.GATE, "exceeded"),
        ("pick", "send", EdgeKind.CONDITIONAL, "auto"),
        ("pick", "review", EdgeKind.CONDITIONAL, "hold"),
        ("review", "send", EdgeKind.GATE, "approved"),
        ("review", "__end__", EdgeKind.GATE, "rejected"),
    ]


def test_no_fail_terminal_without_an_edge_to_it() -> None:
    g = GraphBuilder("plain", Doc)
    g.step("a", lambda s: None).edge(START, "a").edge("a", END)

    spec = g.build().spec

    assert [n.id for n in spec.nodes] == ["__start__", "a", "__end__"]
    assert spec.edges == (
        EdgeSpec(source="__start__", target="a"),
        EdgeSpec(source="a", target="__end__"),
    )


def test_json_round_trip_is_equal() -> None:
    spec = build().spec

    text = spec.to_json()
    again = GraphSpec.from_json(text)

    assert again == spec
    assert again.signature == spec.signature
    assert again.to_json() == text
    assert text.endswith("}\n")
    assert f'"signature": "{spec.signature}"' in text


def test_json_is_sorted_and_indented() -> None:
    text = build().spec.to_json()

    assert text.startswith('{\n  "budget": {\n    "steps": 20,\n    "tool_calls": 4\n  },\n')


def test_from_json_refuses_text_that_is_not_a_spec() -> None:
    with pytest.raises(InputError) as info:
        GraphSpec.from_json('{"name": "x"}')

    assert str(info.value).startswith("not a railgraph spec (3 problems, first: Field required)")
    assert str(info.value).endswith("write one with `railgraph spec REF > FILE`")


def test_signature_is_stable_across_builds() -> None:
    g = declare()

    first, second, other = g.build(), g.build(), build()

    assert len(first.signature) == 16
    assert first.signature == second.signature == other.signature
    assert first.spec == other.spec


def test_signature_changes_when_an_edge_changes() -> None:
    base = build().signature

    assert build(rejected=FAIL).signature != base
    assert build(rejected=END).signature == base
    rewired = declare()
    rewired.edge("load", "check")
    assert rewired.build().signature != base


def test_signature_ignores_labels_but_not_budget() -> None:
    base = build()

    assert build(label="Load the document").signature == base.signature
    assert build(label="Load the document").spec.node("load").label == "Load the document"
    g = declare()
    g.budget_envelope = BudgetEnvelope(tool_calls=5, steps=20)
    assert g.build().signature != base.signature


def test_spec_node_lookup() -> None:
    spec = build().spec

    assert spec.node("room").kind is NodeKind.BUDGET
    with pytest.raises(KeyError):
        spec.node("missing")


def test_networkx_view_matches_the_spec() -> None:
    spec = build().spec

    graph = to_networkx(spec)

    assert graph.number_of_nodes() == len(spec.nodes)
    assert graph.number_of_edges() == len(spec.edges)
    assert graph.nodes["review"]["kind"] == "approve"
    labels = sorted(d["label"] for _, _, d in graph.out_edges("check", data=True))
    assert labels == ["fail", "pass", "retry"]
