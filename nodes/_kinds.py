"""The enums every layer switches on: node kinds, tool tiers and policy actions."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["NodeKind", "PolicyAction", "ToolTier"]


class NodeKind(StrEnum):
    """What a node is; the builder, the checks and the diagrams all switch on it."""

    START = "start"
    END = "end"
    STEP = "step"
    LLM = "llm"
    TOOL = "tool"
    ROUTE = "route"
    VERIFY = "verify"
    BUDGET = "budget"
    APPROVE = "approve"
    AGENT = "agent"


class ToolTier(StrEnum):
    """How much a tool can change the world, from harmless to impossible to undo."""

    READ = "read"
    WRITE = "write"
    EXTERNAL = "external"
    IRREVERSIBLE = "irreversible"

    @property
    def has_effect(self) -> bool:
        """True for tiers whose calls change something and so go through the effect ledger."""
        return self is not ToolTier.READ


class PolicyAction(StrEnum):
    """What a graph's policy lets a tool call do."""

    AUTO = "auto"
    """Call it without asking anyone."""
    APPROVE = "approve"
    """Call it only after a person approved this exact call at an approve gate."""
    BLOCK = "block"
    """Never call it."""
