"""The enums of tools: tiers and policy actions (node kinds live in :mod:`railgraph.vocab`)."""

from __future__ import annotations

from enum import StrEnum

from railgraph.vocab import NodeKind

__all__ = ["NodeKind", "PolicyAction", "ToolTier"]


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
