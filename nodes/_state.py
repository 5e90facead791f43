"""The channels railgraph keeps beside the author's state, and their reducers.

They hold what must survive a resume (usage, retry counts, approvals, route outcomes) in
checkpointed state rather than in memory; all values are plain JSON-able data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from langgraph.channels.topic import Topic
from pydantic import BaseModel, Field, ValidationError

from railgraph.errors import RunError
from railgraph.nodes._budget import add_usage

__all__ = [
    "APPROVALS",
    "ATTEMPTS",
    "BRANCH",
    "DECISIONS",
    "PARKED",
    "REQUESTS",
    "EVENTS",
    "FEEDBACK",
    "INTERNAL_CHANNELS",
    "STATUS",
    "USAGE",
    "author_fields",
    "checked_update",
    "internal_fields",
    "merge",
]

EVENTS = "rg_events"
"""Events of the last step; the checkpointer moves them into the run store."""
USAGE = "rg_usage"
"""Running totals of the budget dimensions."""
BRANCH = "rg_branch"
"""Outcome taken by each route and gate, read by the conditional edges after it."""
ATTEMPTS = "rg_attempts"
"""Retries used by each verify gate since it last passed."""
FEEDBACK = "rg_feedback"
"""Verification failures handed to the node being retried, and kept by a failed gate."""
APPROVALS = "rg_approvals"
"""Approved (possibly edited) calls, by the tool node they authorise."""
STATUS = "rg_status"
"""How the run ends if it reaches the end: ``{"status": ..., "reason": ..., "node": ...}``."""
REQUESTS = "rg_requests"
"""Review requests of approve gates by gate: ``{"seq", "open", "request_id", "request"}``."""
DECISIONS = "rg_decisions"
"""Decisions delivered to approve gates, by gate, until the gate consumes them."""
PARKED = "__parked__"
"""Branch outcome of an approve gate waiting for a person: its branch takes no edge."""

INTERNAL_CHANNELS = (
    EVENTS,
    USAGE,
    BRANCH,
    ATTEMPTS,
    FEEDBACK,
    APPROVALS,
    STATUS,
    REQUESTS,
    DECISIONS,
)


def merge(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """Reducer for keyed channels: a write replaces the keys it names and keeps the rest."""
    return {**left, **right}


def internal_fields() -> dict[str, Any]:
    """Field definitions for ``pydantic.create_model`` that add railgraph's channels."""
    return {
        EVENTS: (
            Annotated[list[dict[str, Any]], Topic(dict, accumulate=False)],
            Field(default_factory=list),
        ),
        USAGE: (Annotated[dict[str, float], add_usage], Field(default_factory=dict)),
        BRANCH: (Annotated[dict[str, str], merge], Field(default_factory=dict)),
        ATTEMPTS: (Annotated[dict[str, int], merge], Field(default_factory=dict)),
        FEEDBACK: (Annotated[dict[str, list[dict[str, Any]]], merge], Field(default_factory=dict)),
        APPROVALS: (Annotated[dict[str, dict[str, Any]], merge], Field(default_factory=dict)),
        STATUS: (Annotated[dict[str, Any], merge], Field(default_factory=dict)),
        REQUESTS: (Annotated[dict[str, dict[str, Any]], merge], Field(default_factory=dict)),
        DECISIONS: (Annotated[dict[str, Any], merge], Field(default_factory=dict)),
    }


def author_fields(model: type[BaseModel]) -> list[str]:
    """The fields of the author's state in ``model`` (railgraph's channels left out)."""
    return [name for name in model.model_fields if name not in INTERNAL_CHANNELS]


def checked_update(node: str, state: BaseModel, update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` if the state it leads to is valid, else an error naming node and field.

    LangGraph stores a node's update as it is and builds the state model from it only when
    the next node runs: a wrong type would be stored and break the run later, far from its
    cause, and a key that is no field of the state would be dropped silently.

    Raises:
        RunError: The update names a field the state does not declare, or gives a field a
            value the state model refuses.
    """
    written = {key: value for key, value in update.items() if key not in INTERNAL_CHANNELS}
    if not written:
        return dict(update)
    model = type(state)
    # `written` holds no internal channel, so what the model does not declare is unknown.
    unknown = sorted(written.keys() - model.model_fields.keys())
    name = model.__name__
    if unknown:
        fields = author_fields(model)
        listed = ", ".join(map(repr, unknown))
        raise RunError(
            f"node {node!r} returned {listed}, which {name} does not declare (its fields: "
            f"{', '.join(fields)}); add the field to {name} or fix what the node returns"
        )
    # The state as the next node will see it, validated as LangGraph will build it (a
    # reducer's field is checked on the value the node adds).
    current = {field: getattr(state, field) for field in model.model_fields}
    try:
        model.model_validate({**current, **written})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(state)'}: {e['msg']} "
            f"(got {type(e.get('input')).__name__})"
            for e in exc.errors()
        )
        raise RunError(
            f"node {node!r} returned a value {name} refuses: {problems}; return values of "
            f"the types {name} declares"
        ) from None
    return dict(update)
