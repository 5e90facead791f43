"""Policy checks for CI (``railgraph check``): what a team must decide on purpose.

``build()`` refuses graphs that cannot run as declared. These rules flag graphs that run but
leave a production decision unmade; each violation names the node and the fix, and a team
records its decision, with the reason, in the graph's :class:`GraphChecks`.

Rules:

- ``approval-before-effect``: an external or irreversible call runs only after an approval,
  or under a policy that allows it by name (``ToolPolicy(tools={...})``, tiers set
  explicitly, or ``GraphChecks.allow_auto``).
- ``bounded-loops``: every cycle passes a budget gate or a verify gate's bounded retry, or
  its bound is declared (``GraphChecks.bounded``).
- ``idempotent-writes``: a tool with effects that retries is idempotent; otherwise a retry
  after a timeout can repeat an effect that happened (without retries the ledger guards it).
- ``reachable-tools``: every declared tool is called by a node the run can reach.
- ``approval-expiry``: every approve gate expires, or says why it need not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import networkx as nx

from railgraph._checks import to_networkx
from railgraph._graph import RailGraph
from railgraph.nodes import NodeKind, PolicyAction, ToolSpec, ToolTier
from railgraph.vocab import GateOutcome

__all__ = ["RULES", "Violation", "check_policies", "node_tools"]

RULES: dict[str, str] = {
    "approval-before-effect": "external and irreversible calls run after an approval or "
    "under an explicit policy",
    "bounded-loops": "every loop passes a budget gate or a bounded retry, or declares its bound",
    "idempotent-writes": "tools with effects that retry are idempotent",
    "reachable-tools": "every declared tool is called by a reachable node",
    "approval-expiry": "every approve gate expires or says why not",
}
"""Rule id to what it asks, in the order they run."""

_START = "__start__"


@dataclass(frozen=True)
class Violation:
    """One broken rule, where, and how to fix it."""

    rule: str
    """The rule's id (a key of :data:`RULES`, or ``checks-config``)."""
    node: str | None
    """The node (or tool) it concerns."""
    message: str
    """What is wrong."""
    fix: str
    """What to change."""

    def to_json(self) -> dict[str, str | None]:
        return {"rule": self.rule, "node": self.node, "message": self.message, "fix": self.fix}


def node_tools(graph: RailGraph) -> Iterator[tuple[str, str]]:
    """(node, tool) for each tool a node may call: a tool node's tool, an agent's tools."""
    for node in graph.spec.nodes:
        if isinstance(node.meta.get("tool"), str) and node.kind is NodeKind.TOOL:
            yield node.id, node.meta["tool"]
        for tool in node.meta.get("tools") or ():
            # An agent's spec lists its tools as {"name", "tier", "policy", ...}.
            name = tool.get("name") if isinstance(tool, dict) else tool
            if isinstance(name, str):
                yield node.id, name


def check_policies(graph: RailGraph) -> list[Violation]:
    """Every violation of the rules not skipped by the graph's checks config, in rule order."""
    found = _config_problems(graph)
    skip = graph.checks.skip
    if "approval-before-effect" not in skip:
        found += _unapproved_effects(graph)
    if "bounded-loops" not in skip:
        found += _unbounded_loops(graph)
    if "idempotent-writes" not in skip:
        found += _retried_effects(graph)
    if "reachable-tools" not in skip:
        found += _unreachable_tools(graph)
    if "approval-expiry" not in skip:
        found += _endless_approvals(graph)
    return found


def _config_problems(graph: RailGraph) -> list[Violation]:
    checks = graph.checks
    nodes = {n.id for n in graph.spec.nodes}
    tools = {t.name for t in graph.tools}
    gates = {n.id for n in graph.spec.nodes if n.kind is NodeKind.APPROVE}
    stale = [("allow_auto", name, "tool") for name in checks.allow_auto if name not in tools]
    stale += [("bounded", name, "node") for name in checks.bounded if name not in nodes]
    stale += [
        ("never_expires", name, "approve gate")
        for name in checks.never_expires
        if name not in gates
    ]
    stale += [("unused_tools", name, "tool") for name in checks.unused_tools if name not in tools]
    stale += [("skip", name, "rule") for name in checks.skip if name not in RULES]
    return [
        Violation(
            "checks-config",
            name,
            f"checks={field} names {name!r}, which is not a {what} of graph {graph.name!r}",
            f"remove {name!r} from GraphChecks({field}=...) or fix the name"
            + (f" (rules: {', '.join(RULES)})" if field == "skip" else ""),
        )
        for field, name, what in stale
    ]


def _explicitly_allowed(graph: RailGraph, tool: ToolSpec) -> bool:
    if tool.name in graph.checks.allow_auto or tool.name in graph.policy.tools:
        return True
    return "tiers" in graph.policy.model_fields_set and tool.tier in graph.policy.tiers


def _unapproved_effects(graph: RailGraph) -> list[Violation]:
    found: list[Violation] = []
    for node, name in node_tools(graph):
        if name not in graph.tools:
            continue
        tool = graph.tools[name]
        if tool.tier not in (ToolTier.EXTERNAL, ToolTier.IRREVERSIBLE):
            continue
        rule = graph.policy.describe(tool)
        # "approve" calls are refused at run time without a reviewed decision.
        if rule in (PolicyAction.BLOCK.value, PolicyAction.APPROVE.value):
            continue
        if not _reached_unreviewed(graph, node):
            continue
        if _explicitly_allowed(graph, tool):
            continue
        found.append(
            Violation(
                "approval-before-effect",
                node,
                f"node {node!r} calls {tool.tier.value} tool {name!r} without a person's "
                f"approval on some path, and only the default policy for the "
                f"{tool.tier.value} tier ({rule}) allows that",
                f"put an approve gate before it (g.approve('approve_{node}', action={node!r}, "
                f"approved={node!r}, ...)), or allow it on purpose: "
                f"ToolPolicy(tools={{{name!r}: 'auto'}}) or "
                f"checks=GraphChecks(allow_auto={{{name!r}: 'why'}})",
            )
        )
    return found


def _reached_unreviewed(graph: RailGraph, node: str) -> bool:
    """Whether some path reaches ``node`` without an approve gate approving its call."""
    paths = to_networkx(graph.spec)
    for edge in graph.spec.edges:
        source = graph.spec.node(edge.source)
        if edge.label == GateOutcome.APPROVED and source.meta.get("action") == node:
            paths.remove_edges_from(
                [(edge.source, edge.target, k) for k in list(paths[edge.source][edge.target])]
            )
    return node in nx.descendants(paths, _START)


def _unbounded_loops(graph: RailGraph) -> list[Violation]:
    loops = to_networkx(graph.spec)
    kinds = {n.id: n.kind for n in graph.spec.nodes}
    for edge in graph.spec.edges:
        retry = edge.label == GateOutcome.RETRY and kinds[edge.source] is NodeKind.VERIFY
        # An agent's own loop ends after max_turns model turns: a declared bound too.
        turns = edge.label == GateOutcome.CONTINUE and kinds[edge.source] is NodeKind.AGENT
        if retry or turns:
            # A verify gate's retry runs at most max_retries times: a declared bound.
            loops.remove_edges_from(
                [(edge.source, edge.target, k) for k in list(loops[edge.source][edge.target])]
            )
    loops.remove_nodes_from(
        [n for n, kind in kinds.items() if kind is NodeKind.BUDGET]
        + [n for n in graph.checks.bounded if n in loops]
    )
    order = {n.id: i for i, n in enumerate(graph.spec.nodes)}
    found: list[Violation] = []
    for component in nx.strongly_connected_components(loops):
        members = sorted(component, key=order.__getitem__)
        if len(members) == 1 and not loops.has_edge(members[0], members[0]):
            continue
        head = members[0]
        found.append(
            Violation(
                "bounded-loops",
                head,
                f"the loop through {', '.join(map(repr, members))} passes no budget gate and "
                "declares no bound; only the run's step limit stops it",
                f"add a budget gate in the loop (g.budget('loop_budget', within=..., "
                f"exceeded=END)), or declare its bound: "
                f"checks=GraphChecks(bounded={{{head!r}: 'what bounds it'}})",
            )
        )
    return found


def _retried_effects(graph: RailGraph) -> list[Violation]:
    used = {name for _, name in node_tools(graph)}
    return [
        Violation(
            "idempotent-writes",
            tool.name,
            f"tool {tool.name!r} ({tool.tier.value}) retries up to {tool.retries} times but is "
            "not idempotent: a retry after a timeout can repeat an effect that happened",
            "pass call.idempotency_key to the system it changes and register it with "
            "idempotent=True, or set retries=0 (the ledger then puts an unknown outcome to "
            "a person)",
        )
        for tool in graph.tools
        if tool.name in used and tool.tier.has_effect and tool.retries > 0 and not tool.idempotent
    ]


def _unreachable_tools(graph: RailGraph) -> list[Violation]:
    reachable = nx.descendants(to_networkx(graph.spec), _START)
    called = {name for node, name in node_tools(graph) if node in reachable}
    return [
        Violation(
            "reachable-tools",
            tool.name,
            f"tool {tool.name!r} ({tool.tier.value}) is declared but no node the run can "
            "reach calls it; a graph should hold only the tools it uses",
            f"remove it from the graph's ToolRegistry, or say where it is used: "
            f"checks=GraphChecks(unused_tools={{{tool.name!r}: 'called by step ...'}})",
        )
        for tool in graph.tools
        if tool.name not in called and tool.name not in graph.checks.unused_tools
    ]


def _endless_approvals(graph: RailGraph) -> list[Violation]:
    return [
        Violation(
            "approval-expiry",
            node.id,
            f"approve gate {node.id!r} never expires: its run can wait for a person forever",
            f"pass expires_after_s=... (and expired=... for a timeout path) to "
            f"g.approve({node.id!r}, ...), or say why not: "
            f"checks=GraphChecks(never_expires={{{node.id!r}: 'why'}})",
        )
        for node in graph.spec.nodes
        if node.kind is NodeKind.APPROVE
        and node.meta.get("expires_after_s") is None
        and node.id not in graph.checks.never_expires
    ]
