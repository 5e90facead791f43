"""The run store's records: frozen pydantic models with a stable JSON form.

Each builds its validator on first use (``defer_build``), not on import: a command that
reads runs builds the record types it reads, not all of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from railgraph.vocab import ApprovalStatus, EffectStatus, RunStatus

__all__ = [
    "ApprovalRecord",
    "ApprovalStatus",
    "EffectRecord",
    "EffectStatus",
    "EventRecord",
    "RunRecord",
    "RunStatus",
]


class RunRecord(BaseModel):
    """One execution of a graph on one LangGraph thread (`run_id` is the thread id)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    run_id: str
    """The run's id, which is also its LangGraph `thread_id`."""
    graph: str
    """The graph's import reference, such as `"railgraph.graphs.refund:graph"`."""
    graph_name: str
    """The graph's short name."""
    signature: str
    """The hash of the graph's structure when the run started."""
    status: RunStatus
    """Where the run stands."""
    input: dict[str, Any]
    """The input the run started with."""
    budget: dict[str, Any]
    """The run's budget envelope."""
    usage: dict[str, Any]
    """What the run has spent so far."""
    result: dict[str, Any] | None = None
    """The final (or partial) result, once there is one."""
    error: str | None = None
    """Why the run failed, when it did."""
    started_by: str | None = None
    """Who started the run."""
    created_at: float
    """When the run was created, in unix seconds."""
    updated_at: float
    """When the record last changed, in unix seconds."""
    lease_owner: str | None = None
    """Who drives the run now (a runner's id); `None` when nobody does."""
    lease_host: str | None = None
    """The host the driving process runs on."""
    lease_pid: int | None = None
    """The driving process's id on `lease_host`."""
    heartbeat_at: float | None = None
    """When the driver last renewed its lease, in unix seconds."""
    lease_expires_at: float | None = None
    """When the lease lapses unless renewed, in unix seconds."""


class EventRecord(BaseModel):
    """One entry of a run's trace: a node started or finished, a tool call, a verdict, ..."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    run_id: str
    """The run the event belongs to."""
    seq: int
    """Assigned by the store, increasing within a run; gives the events' order."""
    kind: str
    """What happened, such as `"node_finished"`: a :class:`~railgraph.vocab.RunEventKind` or
    :class:`~railgraph.vocab.NodeEventKind` value (read it with
    :func:`~railgraph.vocab.event_kind`; kinds of newer releases stay readable)."""
    node: str | None
    """The node it happened in, if any."""
    at: float
    """When it happened, in unix seconds."""
    data: dict[str, Any]
    """The details, as plain JSON values."""


class ApprovalRecord(BaseModel):
    """A structured review request raised by an approve gate, and its decision."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    request_id: str
    """The request's id."""
    run_id: str
    """The paused run."""
    graph: str
    """The graph the run belongs to."""
    node: str
    """The approve node that asked."""
    status: ApprovalStatus
    """Where the request stands."""
    request: dict[str, Any]
    """What is to be reviewed: action, arguments, risk tier, reason, spend so far."""
    created_at: float
    """When the request was raised, in unix seconds."""
    expires_at: float | None = None
    """When the request lapses, in unix seconds, if it does."""
    decision: dict[str, Any] | None = None
    """The decision taken (such as edited arguments or a rejection reason)."""
    decided_by: str | None = None
    """Who decided."""
    decided_at: float | None = None
    """When it was decided, in unix seconds."""


class EffectRecord(BaseModel):
    """One side effect in the tool-effect ledger, keyed by its idempotency key."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    idempotency_key: str
    """Derived from run, node and arguments; the same call always has the same key."""
    run_id: str
    """The run that made the call."""
    node: str
    """The node that made the call."""
    tool: str
    """The tool called."""
    args: dict[str, Any]
    """The call's arguments."""
    status: EffectStatus
    """Where the effect stands."""
    result: Any | None = None
    """The tool's result, once completed."""
    error: str | None = None
    """Why it failed, when it did."""
    started_at: float
    """When the call started, in unix seconds."""
    finished_at: float | None = None
    """When it completed or failed, in unix seconds."""
    resent_task: str | None = None
    """For an effect sent again on a person's approval (its outcome was unknown): the node
    task (LangGraph checkpoint namespace) whose question was approved; ``None`` if never."""
    resent_question: int | None = None
    """The number of that question within the task (1 for the first): each approval sends
    the call once, so a re-send whose outcome is unknown again is asked about again."""
