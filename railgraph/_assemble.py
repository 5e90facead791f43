"""Turn declared nodes and edges into the spec and the LangGraph graph they describe."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from pydantic import BaseModel, create_model

from railgraph._spec import EdgeKind, EdgeSpec, GraphSpec, NodeSpec
from railgraph.nodes import (
    END,
    FAIL,
    BudgetEnvelope,
    BudgetNode,
    GateNode,
    NodeKind,
    RailNode,
    RouteNode,
    ToolNode,
    ToolPolicy,
    ToolRegistry,
    internal_fields,
)
from railgraph.nodes._state import BRANCH, PARKED
from railgraph.vocab import START_ID, NodeMeta, RunStatus

__all__ = [
    "START",
    "Declaration",
    "ServingNodes",
    "build_langgraph",
    "build_spec",
    "state_model",
]

START = START_ID
"""Source of the edge to the first node."""


@dataclass(frozen=True)
class Declaration:
    """What a builder collected: nodes, plain edges, joins and the graph's settings."""

    name: str
    """The graph's name."""
    state: type[BaseModel]
    """The author's state model."""
    nodes: Mapping[str, RailNode]
    """Nodes in declaration order."""
    edges: Sequence[tuple[str, str]]
    """Plain edges."""
    joins: Sequence[tuple[tuple[str, ...], str]]
    """Parallel branches joined into one node."""
    tools: ToolRegistry
    """The tools the graph declared."""
    policy: ToolPolicy
    """The graph's tool policy."""
    budget: BudgetEnvelope
    """The graph's envelope."""


@dataclass(frozen=True)
class ServingNodes:
    """What a graph served by LangGraph's server adds around the declared nodes.

    Under the runner a parked branch simply takes no edge and the runner settles the run;
    a server knows only the graph, so the graph itself opens, settles and asks.
    """

    begin: tuple[str, Callable[..., Any]]
    """A node that runs first, before the declared first node (it records the run)."""
    settle: tuple[str, Callable[..., Any]]
    """A deferred node that every edge to the end and every parked branch leads to: it
    runs once nothing else can, and asks a person or finishes the run."""
    wrap: Callable[[RailNode], Callable[..., Any]]
    """What each declared node runs as (it records a failure before the server sees it)."""


def build_spec(declared: Declaration) -> GraphSpec:
    """The designed graph as data: nodes with their meta, edges with their kinds and labels."""
    nodes = [NodeSpec(id=START, kind=NodeKind.START, label="start")]
    edges = [EdgeSpec(source=s, target=t) for s, t in declared.edges]
    edges += [
        EdgeSpec(source=s, target=t, kind=EdgeKind.JOIN) for ss, t in declared.joins for s in ss
    ]
    uses_fail = False
    for node in declared.nodes.values():
        meta = node_meta(node, declared)
        nodes.append(
            NodeSpec(id=node.id, kind=node.kind, label=node.label or node.id, meta=dict(meta))
        )
        if isinstance(node, GateNode):
            kind = EdgeKind.CONDITIONAL if isinstance(node, RouteNode) else EdgeKind.GATE
            for outcome, target in node.targets.items():
                edges.append(EdgeSpec(source=node.id, target=target, kind=kind, label=outcome))
                uses_fail = uses_fail or target == FAIL
    nodes.append(NodeSpec(id=END, kind=NodeKind.END, label="end"))
    if uses_fail:
        nodes.append(
            NodeSpec(
                id=FAIL,
                kind=NodeKind.END,
                label="failed",
                meta=dict(NodeMeta(status=RunStatus.FAILED.value)),
            )
        )
    return GraphSpec(
        name=declared.name,
        state=declared.state.__name__,
        nodes=tuple(nodes),
        edges=tuple(edges),
        budget=declared.budget.limits(),
    )


def node_meta(node: RailNode, declared: Declaration) -> NodeMeta:
    """What the spec records of a node: its own meta plus its tool's tier and policy, or the
    envelope a budget gate checks."""
    meta = node.meta.copy()
    if isinstance(node, ToolNode) and node.tool in declared.tools:
        tool = declared.tools[node.tool]
        meta["tier"] = tool.tier.value
        meta["policy"] = declared.policy.describe(tool)
        meta["timeout_s"] = tool.timeout_s
        meta["retries"] = tool.retries
    if isinstance(node, BudgetNode):
        meta["envelope"] = declared.budget.limits()
    return meta


def state_model(state: type[BaseModel]) -> type[BaseModel]:
    """The model LangGraph runs on: the author's state plus railgraph's channels."""
    model: type[BaseModel] = create_model(state.__name__, __base__=state, **internal_fields())
    return model


def build_langgraph(
    declared: Declaration,
    nodes: Mapping[str, RailNode],
    model: type[BaseModel],
    *,
    serving: ServingNodes | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled LangGraph graph: every gate's outcomes as declared conditional edges.

    With ``serving``, the graph LangGraph's server runs: the same nodes and edges, entered
    through ``serving.begin``, with the end and every parked branch led to ``serving.settle``.
    """
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(model, input_schema=model)
    end = LG_END if serving is None else serving.settle[0]

    def lg(target: str) -> str:
        return end if target in (END, FAIL) else target

    for node in nodes.values():
        graph.add_node(node.id, node if serving is None else serving.wrap(node))
    entry = LG_START
    if serving is not None:
        entry = serving.begin[0]
        graph.add_node(entry, serving.begin[1])
        graph.add_edge(LG_START, entry)
        graph.add_node(serving.settle[0], serving.settle[1], defer=True)
        graph.add_edge(serving.settle[0], LG_END)
    for source, target in declared.edges:
        graph.add_edge(entry if source == START else source, lg(target))
    for sources, target in declared.joins:
        graph.add_edge(list(sources), lg(target))
    for node in nodes.values():
        if isinstance(node, GateNode):
            ends: dict[Hashable, str] = {
                outcome: lg(target) for outcome, target in node.targets.items()
            }
            if serving is not None:
                ends[PARKED] = end
            graph.add_conditional_edges(
                node.id,
                functools.partial(_read_branch, node.id, serving is not None),
                ends,
            )
    return graph


def _read_branch(node_id: str, serving: bool, state: Any) -> str | list[str]:
    branch: str = getattr(state, BRANCH)[node_id]
    # A parked approve gate's branch waits: no edge is taken until its decision arrives
    # (served, it leads to the settle node, which asks for the decision).
    return [] if branch == PARKED and not serving else branch
