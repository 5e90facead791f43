"""What a team decided, per graph, for the policy checks of ``railgraph check``.

``build()`` refuses what is certainly wrong; ``railgraph check`` also flags what a team must
decide on purpose. Each decision is written down here, with the reason, in the graph's
declaration, so that a reviewer reads it next to the graph::

    GraphBuilder(
        "refund",
        RefundState,
        owner="payments-team",
        checks=GraphChecks(
            never_expires={"escalate": "a person must look at every bad invoice"},
        ),
    )
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from railgraph.errors import DefinitionError

__all__ = ["GraphChecks"]


class GraphChecks(BaseModel):
    """Decisions for ``railgraph check``: each maps a tool, node or rule to the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_auto: dict[str, str] = {}
    """External or irreversible tools that may run without a person, and why."""
    bounded: dict[str, str] = {}
    """Nodes on a loop without a budget gate, and what bounds the loop."""
    never_expires: dict[str, str] = {}
    """Approve gates whose requests may wait forever, and why."""
    unused_tools: dict[str, str] = {}
    """Declared tools no tool node calls (a step calls them, say), and where they are used."""
    skip: dict[str, str] = {}
    """Rules that do not apply to this graph, by id, and why."""

    @field_validator("*")
    @classmethod
    def _reasons(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [key for key, why in value.items() if not why.strip()]
        if blank:
            raise ValueError(
                f"give a reason for {', '.join(map(repr, blank))}, not an empty string"
            )
        return value

    @classmethod
    def of(cls, value: GraphChecks | Mapping[str, Any] | None) -> GraphChecks:
        """The checks config from a model, a plain mapping or nothing.

        Raises:
            DefinitionError: The mapping is not a checks config.
        """
        if isinstance(value, GraphChecks):
            return value
        try:
            return cls.model_validate(dict(value or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'checks'}: {e['msg']}" for e in exc.errors()
            )
            fields = ", ".join(cls.model_fields)
            raise DefinitionError(
                f"checks= is not a checks config ({problems}); its keys are {fields}, each "
                "mapping a name to the reason"
            ) from None
