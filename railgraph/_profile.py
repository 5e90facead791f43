"""A graph's workload profile from its declaration: the run, tools, memory, budget, trace, owner.

The six parts of the Agentic Workload Profiler, read from the spec and the graph's tools and
state model (never from LangGraph's internals): what a reviewer must know about an agent
before it touches production. :mod:`railgraph._profile_runs` adds what stored runs show.
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx
from pydantic import SecretBytes, SecretStr

from railgraph._checks import to_networkx
from railgraph._graph import RailGraph
from railgraph._policy_checks import node_tools
from railgraph._settings import default_secret_words
from railgraph.checkpointers import Redactor
from railgraph.nodes import END, FAIL, INTERNAL_CHANNELS, NodeKind, PolicyAction, ToolTier
from railgraph.vocab import GateOutcome, RunStatus

__all__ = ["design_profile"]

_START = "__start__"
_SECRETS = Redactor(default_secret_words())


def design_profile(graph: RailGraph, ref: str) -> dict[str, Any]:
    """The profile's parts that the declaration decides, as JSON-able data."""
    return {
        "graph": {
            "name": graph.name,
            "ref": ref,
            "signature": graph.signature,
            "description": graph.description,
        },
        "run": _run(graph),
        "tools": _tools(graph),
        "memory": _memory(graph),
        "budget": _budget(graph),
        "trace": _trace(graph),
        "owner": _owner(graph),
    }


def _run(graph: RailGraph) -> dict[str, Any]:
    spec = graph.spec
    kinds = {n.id: n.kind for n in spec.nodes}
    ends = []
    for edge in spec.edges:
        if edge.target not in (END, FAIL):
            continue
        status = RunStatus.COMPLETED
        if edge.target == FAIL:
            status = RunStatus.FAILED
        elif kinds[edge.source] is NodeKind.BUDGET and edge.label == GateOutcome.EXCEEDED:
            status = RunStatus.BUDGET_EXHAUSTED
        elif kinds[edge.source] is NodeKind.APPROVE and edge.label in (
            GateOutcome.REJECTED,
            GateOutcome.EXPIRED,
        ):
            status = RunStatus.REJECTED
        ends.append({"node": edge.source, "outcome": edge.label, "status": status})
    pauses: list[dict[str, Any]] = [
        {
            "gate": n.id,
            "reviews": n.meta.get("tool"),
            "expires_after_s": n.meta.get("expires_after_s"),
        }
        for n in spec.nodes
        if n.kind is NodeKind.APPROVE
    ]
    # An agent parks on each call its policy sends to a person (one request per call).
    pauses += [
        {"gate": agent, "reviews": ", ".join(tools), "expires_after_s": None}
        for agent, tools in _agent_reviews(graph).items()
    ]
    used = {name for _, name in node_tools(graph)}
    pauses += [
        {"unknown_effect": t.name}
        for t in graph.tools
        if t.name in used
        and t.tier.has_effect
        and not t.idempotent
        # a tool the policy blocks never runs, so no crash can leave its outcome unknown
        and graph.policy.describe(t) != PolicyAction.BLOCK
    ]
    plain: dict[str, list[str]] = {}
    joins: dict[str, list[str]] = {}
    for edge in spec.edges:
        if edge.kind.value == "normal" and edge.source != _START:
            plain.setdefault(edge.source, []).append(edge.target)
        elif edge.kind.value == "join":
            joins.setdefault(edge.target, []).append(edge.source)
    return {
        "entry": [e.target for e in spec.edges if e.source == _START],
        "ends": ends,
        "pauses": pauses,
        "parallel": [{"from": s, "branches": t} for s, t in plain.items() if len(t) > 1],
        "joins": [{"into": t, "from": s} for t, s in joins.items()],
        "loops": _loops(graph),
        "resumable": "every node's result is checkpointed before the next starts; a paused "
        "or crashed run resumes where it stopped",
    }


def _loops(graph: RailGraph) -> list[dict[str, Any]]:
    spec = graph.spec
    full = to_networkx(spec)
    order = {n.id: i for i, n in enumerate(spec.nodes)}
    found = []
    for component in nx.strongly_connected_components(full):
        members = sorted(component, key=order.__getitem__)
        if len(members) == 1 and not full.has_edge(members[0], members[0]):
            continue
        bounds = [
            f"verify gate {n.id} retries {n.meta.get('retry')} at most "
            f"{n.meta.get('max_retries')} times"
            for n in spec.nodes
            if n.id in component and n.kind is NodeKind.VERIFY and n.meta.get("retry") in component
        ]
        bounds += [f"budget gate {n}" for n in members if spec.node(n).kind is NodeKind.BUDGET]
        bounds += [
            f"agent {n} takes at most {spec.node(n).meta.get('max_turns')} model turns"
            for n in members
            if spec.node(n).kind is NodeKind.AGENT
        ]
        bounds += [f"{n}: {graph.checks.bounded[n]}" for n in members if n in graph.checks.bounded]
        found.append({"nodes": members, "bounds": bounds or ["the run's step limit only"]})
    return found


def _tools(graph: RailGraph) -> list[dict[str, Any]]:
    called: dict[str, list[str]] = {}
    for node, name in node_tools(graph):
        called.setdefault(name, []).append(node)
    reviewed: dict[str, list[str]] = {}
    for n in graph.spec.nodes:
        if n.kind is NodeKind.APPROVE and n.meta.get("tool"):
            reviewed.setdefault(n.meta["tool"], []).append(n.id)
    for agent, tools in _agent_reviews(graph).items():
        for name in tools:
            reviewed.setdefault(name, []).append(agent)
    return [
        {
            "name": t.name,
            "tier": t.tier.value,
            "policy": graph.policy.describe(t),
            "approval": reviewed.get(t.name, []),
            "idempotent": t.idempotent,
            "ledgered": t.tier.has_effect,
            "reversible": t.tier is not ToolTier.IRREVERSIBLE,
            "retries": t.retries,
            "timeout_s": t.timeout_s,
            "called_by": called.get(t.name, []),
            "description": t.description.splitlines()[0] if t.description else "",
        }
        for t in graph.tools
    ]


def _agent_reviews(graph: RailGraph) -> dict[str, list[str]]:
    """For each agent node, the tools whose calls its policy may send to a person."""
    found: dict[str, list[str]] = {}
    for n in graph.spec.nodes:
        if n.kind is not NodeKind.AGENT:
            continue
        for tool in n.meta.get("tools") or ():
            name = tool["name"]
            if name in graph.tools and graph.policy.may_need_approval(graph.tools[name]):
                found.setdefault(n.id, []).append(name)
    return found


def _memory(graph: RailGraph) -> dict[str, Any]:
    fields = []
    for name, info in graph.state.model_fields.items():
        annotation = info.annotation
        secret = _SECRETS.is_secret_key(name) or _is_secret(annotation)
        fields.append(
            {
                "field": name,
                "type": _type_name(annotation),
                "checkpointed": True,
                "secret": secret,
            }
        )
    return {
        "state": fields,
        "railgraph_channels": sorted(INTERNAL_CHANNELS),
        "durable": [
            "state after every step (checkpoints)",
            "the run record: input, status, usage, result",
            "run events: node visits, tool calls with arguments and results, verdicts, "
            "budget checks, review requests and decisions",
            "review requests and decisions with the reviewer",
            "the tool-effect ledger: arguments and results of calls with effects",
        ],
        "task_only": ["each node's context: what it spent and the feedback it was given"],
        "never_stored": [
            "chat models, tool functions and their clients (the runtime, passed in config)",
            "secret-named keys in exported spans (replaced by [redacted])",
        ],
    }


def _type_name(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return re.sub(r"\b[\w]+\.", "", text)  # railgraph.graphs.refund.Ticket -> Ticket


def _is_secret(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(_is_secret(a) for a in getattr(annotation, "__args__", ()) or ())


def _budget(graph: RailGraph) -> dict[str, Any]:
    return {
        "envelope": graph.budget.limits(),
        "reservations": [
            {"gate": n.id, "needs": n.meta.get("needs", {})}
            for n in graph.spec.nodes
            if n.kind is NodeKind.BUDGET
        ],
        "enforced": "at every step, model call and tool call, and at each budget gate",
    }


def _trace(graph: RailGraph) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for node in graph.spec.nodes:
        if node.kind is NodeKind.LLM:
            records.append(
                {
                    "node": node.id,
                    "action": f"model {node.meta.get('model')}",
                    "records": "llm_call: model, input and output tokens, cost, latency "
                    "(span chat {model})",
                }
            )
        elif node.kind is NodeKind.AGENT:
            records.append(
                {
                    "node": node.id,
                    "action": f"agent loop, model {node.meta.get('model')}",
                    "records": "agent_turn: the turn's tool calls; llm_call per turn (span chat "
                    "{model}); agent_call per call the model chose: arguments, status, decision "
                    "and reviewer, rule, arguments that ran (span events)",
                }
            )
        elif node.kind is NodeKind.APPROVE:
            records.append(
                {
                    "node": node.id,
                    "action": "review"
                    + (f" of {node.meta['tool']}" if node.meta.get("tool") else ""),
                    "records": "approval_requested: action, arguments, tier, policy, reason, "
                    "spend; approval_decided: decision, reviewer, reason, edited arguments "
                    "(span events)",
                }
            )
    for caller, name in node_tools(graph):
        if name not in graph.tools or not graph.tools[name].tier.has_effect:
            continue
        tool = graph.tools[name]
        records.append(
            {
                "node": caller,
                "action": f"{tool.tier.value} tool {name}",
                "records": "tool_call: arguments, result or error, status, attempt, latency, "
                "idempotency key; ledger: started, completed or failed "
                "(span execute_tool {tool}, executed or replayed)",
            }
        )
    return records


def _owner(graph: RailGraph) -> dict[str, Any]:
    return {
        "owner": graph.owner,
        "reviewers": [
            {
                "gate": n.id,
                "reviewers": n.meta.get("reviewers") or [],
                "self_approval": bool(getattr(graph.nodes.get(n.id), "allow_self_approval", True)),
            }
            for n in graph.spec.nodes
            if n.kind is NodeKind.APPROVE
        ],
    }
