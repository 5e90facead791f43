"""Static checks of a declared graph; every problem names the node and the fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
from pydantic import BaseModel

from railgraph._spec import GraphSpec
from railgraph.errors import DefinitionError
from railgraph.nodes import (
    END,
    FAIL,
    ApproveNode,
    GateNode,
    PolicyAction,
    RailNode,
    ToolNode,
    ToolPolicy,
    ToolRegistry,
    VerifyNode,
)
from railgraph.vocab import START_ID

__all__ = [
    "check_graph",
    "rejoins",
    "require_field",
    "require_wired",
    "reviewer_names",
    "to_networkx",
]

_START = START_ID


def to_networkx(spec: GraphSpec) -> nx.MultiDiGraph:
    """The spec as a networkx multigraph (edge attributes: kind, label)."""
    graph = nx.MultiDiGraph()
    for node in spec.nodes:
        graph.add_node(node.id, kind=node.kind.value)
    for edge in spec.edges:
        graph.add_edge(edge.source, edge.target, kind=edge.kind.value, label=edge.label)
    return graph


def require_field(state: type[BaseModel], node_id: str, field: str) -> None:
    """Refuse a node that reads or writes a state field the model does not have.

    Raises:
        DefinitionError: Naming the field and how to add it.
    """
    if field not in state.model_fields:
        raise DefinitionError(
            f"node {node_id!r} uses state field {field!r}, which {state.__name__} "
            f"does not have; add `{field}: ... = None` to the state model or fix the name"
        )


def require_wired(
    node_id: str, what: str, outcomes: Mapping[str, str | None], params: Mapping[str, str]
) -> None:
    """Refuse a gate with an outcome that leads nowhere.

    Raises:
        DefinitionError: Naming the outcomes and the builder arguments that wire them.
    """
    missing = [o for o, target in outcomes.items() if target is None]
    if missing:
        hints = ", ".join(f"{params.get(o, o)}=..." for o in missing)
        raise DefinitionError(
            f"{what} {node_id!r} leaves outcome {', '.join(map(repr, missing))} unwired; "
            f"pass {hints} (a node id, END or FAIL)"
        )


def reviewer_names(gate: str, reviewers: Sequence[str]) -> tuple[str, ...]:
    """An approve gate's reviewers, trimmed (decisions compare them case-insensitively).

    Raises:
        DefinitionError: A name is empty, or a bare string was given instead of a list.
    """
    if isinstance(reviewers, str) or any(
        not isinstance(r, str) or not r.strip() for r in reviewers
    ):
        raise DefinitionError(
            f"approve gate {gate!r}: reviewers={reviewers!r} must be a list of non-empty "
            "names, e.g. reviewers=['alice', 'bob']"
        )
    return tuple(r.strip() for r in reviewers)


def rejoins(spec: GraphSpec, first: str, second: str) -> bool:
    """Whether runs from ``first`` and from ``second`` can reach a common node (not an end)."""
    graph = to_networkx(spec)
    ends = {END, FAIL}

    def reach(start: str) -> set[str]:
        return set() if start in ends else ({start} | nx.descendants(graph, start)) - ends

    return bool(reach(first) & reach(second))


def check_graph(
    spec: GraphSpec, nodes: Mapping[str, RailNode], tools: ToolRegistry, policy: ToolPolicy
) -> None:
    """Raise one DefinitionError listing every problem in the graph, or return.

    Raises:
        DefinitionError: The graph cannot be built as declared.
    """
    problems = _edge_problems(spec, nodes)
    problems += _tool_problems(nodes, tools, policy)
    if not problems:
        problems = _shape_problems(spec, nodes)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        raise DefinitionError(f"graph {spec.name!r} has {len(problems)} {noun}:\n{listing}")


def _known(target: str, nodes: Mapping[str, RailNode]) -> bool:
    return target in nodes or target in (END, FAIL)


def _edge_problems(spec: GraphSpec, nodes: Mapping[str, RailNode]) -> list[str]:
    problems: list[str] = []
    plain_sources: set[str] = set()
    for edge in spec.edges:
        if edge.kind.value not in ("normal", "join"):
            if not _known(edge.target, nodes):
                problems.append(
                    f"{nodes[edge.source].kind.value} {edge.source!r} sends outcome "
                    f"{edge.label!r} to unknown node {edge.target!r}; declare it or fix the name"
                )
            continue
        plain_sources.add(edge.source)
        if edge.source != _START and edge.source not in nodes:
            problems.append(
                f"edge {edge.source!r} -> {edge.target!r} starts at unknown node "
                f"{edge.source!r}; declare it first or fix the name"
            )
        if edge.target == FAIL:
            problems.append(
                f"edge {edge.source!r} -> FAIL: only gate and route outcomes may lead to FAIL; "
                "raise an error from the step, or route to FAIL with g.route(...)"
            )
        elif edge.target == _START or not _known(edge.target, nodes):
            problems.append(
                f"edge {edge.source!r} -> {edge.target!r} ends at unknown node "
                f"{edge.target!r}; declare it with g.step/g.llm/g.tool/... or fix the name"
            )
    if _START not in plain_sources:
        problems.append("the graph has no start; add g.edge(START, 'first_node')")
    for node in nodes.values():
        if isinstance(node, GateNode) and node.id in plain_sources:
            problems.append(
                f"{node.kind.value} {node.id!r} leaves by its outcomes only; remove "
                f"g.edge({node.id!r}, ...) and wire the outcome instead"
            )
        elif not isinstance(node, GateNode) and node.id not in plain_sources:
            problems.append(
                f"node {node.id!r} has no way out; add g.edge({node.id!r}, 'next') "
                f"or g.edge({node.id!r}, END)"
            )
        if isinstance(node, VerifyNode) and node.retry is not None and node.retry not in nodes:
            problems.append(
                f"verify gate {node.id!r} retries unknown node {node.retry!r}; "
                "retry= must name a node of this graph"
            )
    return problems


def _tool_problems(
    nodes: Mapping[str, RailNode], tools: ToolRegistry, policy: ToolPolicy
) -> list[str]:
    problems: list[str] = []
    reviewed = {n.action.id for n in nodes.values() if isinstance(n, ApproveNode) and n.action}
    declared = ", ".join(t.name for t in tools) or "none"
    for node in nodes.values():
        if not isinstance(node, ToolNode):
            continue
        if node.tool not in tools:
            problems.append(
                f"tool node {node.id!r} calls {node.tool!r}, which the graph does not declare "
                f"(declared: {declared}); register it on the graph's ToolRegistry"
            )
            continue
        spec = tools[node.tool]
        rule = policy.describe(spec)
        if rule == PolicyAction.BLOCK.value:
            problems.append(
                f"tool node {node.id!r} calls {node.tool!r}, which the graph's policy blocks; "
                f"remove the node or set ToolPolicy(tools={{{node.tool!r}: 'auto'}})"
            )
        elif policy.may_need_approval(spec) and node.id not in reviewed:
            problems.append(
                f"tool node {node.id!r} calls {node.tool!r} ({spec.tier.value}), which the "
                f"policy says needs approval ({rule}), but no approve gate reviews it; add "
                f"g.approve('approve_{node.id}', action={node.id!r}, approved={node.id!r}, "
                f"rejected=END) before it, or set ToolPolicy(tools={{{node.tool!r}: 'auto'}})"
            )
    return problems


def _shape_problems(spec: GraphSpec, nodes: Mapping[str, RailNode]) -> list[str]:
    graph = to_networkx(spec)
    reachable = nx.descendants(graph, _START) | {_START}
    ends = {END, FAIL} & set(graph.nodes)
    finishing: set[str] = set(ends)
    for end in ends:
        finishing |= nx.ancestors(graph, end)
    problems: list[str] = []
    for node_id in nodes:
        if node_id not in reachable:
            problems.append(
                f"node {node_id!r} is not reachable from the start; connect it with "
                f"g.edge('some_node', {node_id!r}) or remove it"
            )
        elif node_id not in finishing:
            problems.append(
                f"node {node_id!r} has no way to the end: every path from it loops forever; "
                f"add an edge or outcome from the loop to END"
            )
    for node in nodes.values():
        if (
            isinstance(node, VerifyNode)
            and node.retry in nodes
            and node.id in reachable
            and node.id not in nx.descendants(graph, node.retry)
        ):
            problems.append(
                f"verify gate {node.id!r} retries {node.retry!r}, but the run never comes "
                f"back from {node.retry!r} to {node.id!r}; retry a node upstream of the gate"
            )
    return problems
