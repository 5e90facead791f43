"""The designed graph as plain, frozen data with a stable JSON form and a signature.

Diagrams, static checks, graph diffs and the resume guard read the spec, never LangGraph's
internals. Every route declares its targets, so the spec holds every edge a run can take.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from railgraph.errors import InputError
from railgraph.nodes import NodeKind, canonical_json

__all__ = ["EdgeKind", "EdgeSpec", "GraphSpec", "NodeSpec", "node_changes"]


class EdgeKind(StrEnum):
    """How an edge is taken."""

    NORMAL = "normal"
    """Always, after its source finishes."""
    CONDITIONAL = "conditional"
    """When a route picks it."""
    GATE = "gate"
    """When a verify, budget or approve gate takes that outcome."""
    JOIN = "join"
    """When its source and every other source joined into the same target have finished."""


class NodeSpec(BaseModel):
    """One node of the designed graph."""

    model_config = ConfigDict(frozen=True)

    id: str
    """Unique id; ``__start__``, ``__end__`` and ``__fail__`` are the terminals."""
    kind: NodeKind
    """What the node is."""
    label: str
    """Text for diagrams."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific facts: a tool's name, tier and policy, a gate's checks or envelope."""


class EdgeSpec(BaseModel):
    """One edge of the designed graph."""

    model_config = ConfigDict(frozen=True)

    source: str
    """Node the edge leaves."""
    target: str
    """Node the edge enters."""
    kind: EdgeKind = EdgeKind.NORMAL
    """How the edge is taken."""
    label: str | None = None
    """The route label or gate outcome (``pass``, ``exceeded``, ``approved``, …)."""


class GraphSpec(BaseModel):
    """The designed graph: nodes and edges in declaration order."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The graph's name."""
    state: str
    """Name of the state model."""
    nodes: tuple[NodeSpec, ...]
    """Nodes, terminals included."""
    edges: tuple[EdgeSpec, ...]
    """Edges, gate outcomes included."""
    budget: dict[str, int | float] = Field(default_factory=dict)
    """The graph's budget envelope (limits only)."""

    @property
    def signature(self) -> str:
        """Hash of the structure: nodes (id, kind, meta), edges and budget, not labels."""
        structure = {
            "nodes": [[n.id, n.kind.value, n.meta] for n in self.nodes],
            "edges": [[e.source, e.target, e.kind.value, e.label] for e in self.edges],
            "budget": self.budget,
        }
        return hashlib.sha256(canonical_json(structure).encode()).hexdigest()[:16]

    def node(self, node_id: str) -> NodeSpec:
        """The node with ``node_id``.

        Raises:
            KeyError: No such node.
        """
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def changes(self, new: GraphSpec) -> list[str]:
        """What changed from this spec to ``new``, one line each, in a stable order."""
        old_nodes = {n.id: n for n in self.nodes}
        new_nodes = {n.id: n for n in new.nodes}
        lines = [
            f"node {i!r} added ({new_nodes[i].kind.value})" for i in new_nodes if i not in old_nodes
        ]
        lines += [
            f"node {i!r} removed ({n.kind.value})"
            for i, n in old_nodes.items()
            if i not in new_nodes
        ]
        for node_id, node in old_nodes.items():
            other = new_nodes.get(node_id)
            if other is not None:
                lines += [
                    f"node {node_id!r} {field}: {before!r} -> {after!r}"
                    for field, before, after in node_changes(node, other)
                ]

        def key(e: EdgeSpec) -> tuple[str, str, str, str]:
            return (e.source, e.target, e.kind.value, e.label or "")

        old_edges, new_edges = {key(e) for e in self.edges}, {key(e) for e in new.edges}
        lines += [f"edge {_edge(e)} added" for e in sorted(new_edges - old_edges)]
        lines += [f"edge {_edge(e)} removed" for e in sorted(old_edges - new_edges)]
        if self.budget != new.budget:
            lines.append(f"budget {self.budget} -> {new.budget}")
        return lines

    def to_json(self) -> str:
        """Stable JSON (sorted keys, two-space indent) with the signature included."""
        data = self.model_dump(mode="json")
        data["signature"] = self.signature
        return canonical_json_pretty(data)

    @classmethod
    def from_json(cls, text: str) -> GraphSpec:
        """Read a spec saved with :meth:`to_json`.

        Raises:
            InputError: The text is not a railgraph spec.
        """
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise InputError(
                f"not a railgraph spec ({exc.error_count()} problems, first: "
                f"{exc.errors()[0]['msg']}); write one with `railgraph spec REF > FILE`"
            ) from None


def node_changes(old: NodeSpec, new: NodeSpec) -> list[tuple[str, Any, Any]]:
    """How one node differs between two versions, as (field, before, after) in a stable order.

    ``kind`` comes first; a dict in the meta (a budget's envelope or needs) is compared key by
    key, so a moved limit reads ``envelope.tool_calls``, not the whole dict.
    """
    found: list[tuple[str, Any, Any]] = []
    if old.kind is not new.kind:
        found.append(("kind", old.kind.value, new.kind.value))
    for field in sorted(set(old.meta) | set(new.meta)):
        before, after = old.meta.get(field), new.meta.get(field)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            for sub in sorted(set(before) | set(after)):
                if before.get(sub) != after.get(sub):
                    found.append((f"{field}.{sub}", before.get(sub), after.get(sub)))
        else:
            found.append((field, before, after))
    return found


def _edge(key: tuple[str, str, str, str]) -> str:
    source, target, kind, label = key
    return (
        f"{source} -> {target}"
        + (f" [{label}]" if label else "")
        + (f" ({kind})" if kind != "normal" else "")
    )


def canonical_json_pretty(data: Any) -> str:
    """Deterministic, readable JSON for files that people diff."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
