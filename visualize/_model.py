"""The diagram model: what every renderer draws, with nothing of DOT or Mermaid in it.

Extractors (the designed graph, a run, many runs, a diff) build a :class:`Diagram`; the DOT
and Mermaid renderers turn it into text. Each node and edge carries its kind and, for an
overlay, whether it was taken, how often and in what order, where the run stopped, or how it
changed between two versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from railgraph._spec import EdgeKind
from railgraph.vocab import NodeKind

__all__ = [
    "Change",
    "Diagram",
    "DiagramEdge",
    "DiagramNode",
    "Emphasis",
    "Mode",
    "StopStatus",
    "ToolChip",
]


class Mode(StrEnum):
    """What a diagram shows."""

    DESIGN = "design"
    """The designed graph alone."""
    RUN = "run"
    """One run's path on the designed graph."""
    TRAFFIC = "traffic"
    """Many runs' traffic on the designed graph."""
    DIFF = "diff"
    """Two versions of a graph in one picture."""


class Emphasis(StrEnum):
    """How strongly a node or edge is drawn in an overlay."""

    NORMAL = "normal"
    """As designed (no overlay)."""
    TAKEN = "taken"
    """The run went there: drawn bold."""
    FADED = "faded"
    """Not taken: drawn pale, but still readable."""


class StopStatus(StrEnum):
    """Why a run stopped at, or was turned by, a node; each is drawn distinctly."""

    FAILED = "failed"
    REJECTED = "rejected"
    BUDGET_EXHAUSTED = "budget_exhausted"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Change(StrEnum):
    """How a node or edge differs between two versions of a graph."""

    SAME = "same"
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class ToolChip:
    """One tool of an agent node, drawn inside it: coloured by tier, with its policy."""

    name: str
    """The tool's name."""
    tier: str
    """Its risk tier; picks the chip's colour."""
    policy: str
    """What the graph's policy says of it: auto, approve, block or conditional."""
    rule: str | None = None
    """A conditional policy's rule in words (``approve if amount > 100, else auto``)."""
    notes: tuple[str, ...] = ()
    """Overlay lines: calls made, decisions and who took them, verdicts."""
    emphasis: Emphasis = Emphasis.NORMAL
    """Called in the run (taken), not called (faded), or as designed."""


@dataclass(frozen=True)
class DiagramNode:
    """One node as drawn."""

    id: str
    """The spec's node id."""
    kind: NodeKind
    """What the node is; picks its shape and colour."""
    title: str
    """The first, bold line of the label."""
    details: tuple[str, ...] = ()
    """Smaller lines under the title: a tool's tier and policy, a budget's envelope, …"""
    tier: str | None = None
    """A tool's risk tier (``read`` … ``irreversible``); picks a tool's colour."""
    failure_terminal: bool = False
    """True for the ``__fail__`` terminal."""
    emphasis: Emphasis = Emphasis.NORMAL
    """Taken, faded or as designed."""
    stop: StopStatus | None = None
    """Where a run failed, was rejected, ran out of budget, is paused or was cancelled."""
    notes: tuple[str, ...] = ()
    """Overlay lines: visits, duration and cost; a decision and its reviewer; rates."""
    change: Change = Change.SAME
    """How the node differs in a diff."""
    tools: tuple[ToolChip, ...] = ()
    """An agent node's tools."""


@dataclass(frozen=True)
class DiagramEdge:
    """One edge as drawn."""

    source: str
    """The node it leaves."""
    target: str
    """The node it enters."""
    kind: EdgeKind
    """Normal, conditional (a route's label) or a gate outcome."""
    label: str | None = None
    """The route label or gate outcome."""
    note: str | None = None
    """A small remark after the label, such as a retry edge's bound (``≤1x``)."""
    emphasis: Emphasis = Emphasis.NORMAL
    """Taken, faded or as designed."""
    steps: tuple[int, ...] = ()
    """For a run: the hop numbers at which the edge was taken, in order."""
    count: int = 0
    """For a run or traffic: how many times the edge was taken."""
    weight: float = 0.0
    """For traffic: ``count`` relative to the busiest edge, 0 to 1."""
    change: Change = Change.SAME
    """How the edge differs in a diff."""


@dataclass(frozen=True)
class Diagram:
    """A whole picture: title, nodes and edges in the spec's order."""

    name: str
    """The graph's name (also the DOT graph's id)."""
    mode: Mode
    """What the diagram shows."""
    title: str
    """The headline, such as ``refund — run T-1001: completed``."""
    subtitle: tuple[str, ...]
    """Smaller lines under the title: spend, counts, what changed."""
    nodes: tuple[DiagramNode, ...]
    """Nodes in the spec's order (a diff appends removed ones)."""
    edges: tuple[DiagramEdge, ...]
    """Edges in the spec's order (a diff appends removed ones)."""

    def node(self, node_id: str) -> DiagramNode:
        """The node with ``node_id``.

        Raises:
            KeyError: No such node.
        """
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)
