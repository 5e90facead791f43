"""A typed view of the channels ``nodes`` keeps beside the author's state.

The channels hold plain JSON-able dicts (they are checkpointed, and rows written by older
releases must still load); this module is the one place that knows their shape. Gates write
through it, and the runner reads a run's open review requests, its disposition and its usage
through it instead of parsing the dicts itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from railgraph.nodes._nonfinite import exact_json
from railgraph.nodes._state import DECISIONS, REQUESTS, STATUS, USAGE
from railgraph.vocab import RunStatus

__all__ = [
    "Disposition",
    "RequestEntry",
    "consumed",
    "delivered",
    "deliveries_update",
    "disposition_of",
    "open_requests",
    "request_entry",
    "requests_of",
    "usage_total",
]


class RequestEntry(BaseModel):
    """An approve gate's review request in the ``REQUESTS`` channel."""

    model_config = ConfigDict(frozen=True)

    seq: int = 0
    """How many requests the gate has raised in this run (the id of the next derives from it)."""
    open: bool = False
    """Whether the gate's branch is parked on this request."""
    request_id: str | None = None
    """The request's id, once raised."""
    request: dict[str, Any] = Field(default_factory=dict)
    """The review request, as JSON data."""
    node: str | None = None
    """The node that runs again with the decision, when it is not the entry's key: an agent
    keys one request per call (``agent#call_id``) and takes every decision itself."""

    def target(self, key: str) -> str:
        """The node a decision on this entry (kept under ``key``) is delivered to."""
        return self.node or key

    def raised(self, request_id: str, request: dict[str, Any]) -> RequestEntry:
        """The next request of the gate, open."""
        return RequestEntry(seq=self.seq + 1, open=True, request_id=request_id, request=request)

    def closed(self) -> RequestEntry:
        """This request, answered."""
        return self.model_copy(update={"open": False})

    def channel_value(self) -> dict[str, Any]:
        """The entry as the channel stores it (numbers that are not finite kept exactly)."""
        return exact_json(self)


class Disposition(BaseModel):
    """How the run ends if it reaches the end (the ``STATUS`` channel); unset: completed."""

    model_config = ConfigDict(frozen=True)

    status: RunStatus | None = None
    """The run's final status, when a node set one."""
    reason: str | None = None
    """Why."""
    node: str | None = None
    """The node that set it."""

    def channel_value(self) -> dict[str, Any]:
        """The disposition as the channel stores it (plain strings, never enum members)."""
        return self.model_dump(mode="json")


def request_entry(state: Any, gate: str) -> RequestEntry:
    """The gate's entry in the ``REQUESTS`` channel of ``state`` (empty if it has none)."""
    entry = getattr(state, REQUESTS).get(gate)
    return RequestEntry.model_validate(entry) if entry else RequestEntry()


def requests_of(values: Mapping[str, Any]) -> dict[str, RequestEntry]:
    """Every gate's entry in the ``REQUESTS`` channel of a snapshot's values."""
    entries: Mapping[str, Any] = values.get(REQUESTS) or {}
    return {gate: RequestEntry.model_validate(e) for gate, e in entries.items() if e}


def open_requests(values: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Requests of approve gates whose branch is parked, as (request id, request)."""
    return [
        (entry.request_id, entry.request)
        for entry in requests_of(values).values()
        if entry.open and entry.request_id is not None
    ]


def deliveries_update(decisions: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """The state update that hands each request entry (by its key: a gate's id, or an
    agent's ``agent#call_id``) its decision: (request id, decision)."""
    return {
        DECISIONS: {
            gate: {"request_id": request_id, "decision": decision}
            for gate, (request_id, decision) in decisions.items()
        }
    }


def delivered(state: Any, gate: str) -> tuple[str, Any] | None:
    """The decision handed to ``gate`` and not yet consumed: (request id, decision)."""
    delivery = getattr(state, DECISIONS).get(gate)
    if not delivery:
        return None
    return str(delivery["request_id"]), delivery["decision"]


def consumed(gate: str) -> dict[str, Any]:
    """The ``DECISIONS`` channel value with ``gate``'s delivery consumed."""
    return {gate: None}


def disposition_of(values: Mapping[str, Any]) -> Disposition:
    """How a run whose graph reached its end ends, from a snapshot's values."""
    return Disposition.model_validate(values.get(STATUS) or {})


def usage_total(values: Mapping[str, Any]) -> dict[str, float]:
    """The run's running totals of the budget dimensions, from a snapshot's values."""
    return dict(values.get(USAGE) or {})
