"""The pieces of a run that every driver builds alike: its record, its runtime config, its
events, and how it ends.

The runner drives runs under its own lease; a served graph is driven by LangGraph's server
(see ``railgraph.server``). Both store the same records and events, built here once; what
differs between them (who holds the lease, who names the thread, which kill switch) is a
parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

from railgraph._graph import RailGraph
from railgraph._outcome import failure, short_traceback
from railgraph.checkpointers import ApprovalRecord, Lease, RunRecord, RunStore
from railgraph.errors import BudgetExhausted, InputError, RunCancelled
from railgraph.nodes import PARTIAL_ATTR, RUNTIME_KEY, Runtime
from railgraph.nodes._budget import add_usage
from railgraph.nodes._channels import disposition_of, usage_total
from railgraph.vocab import (
    NodeEventKind,
    RunEventKind,
    RunFailedData,
    RunFinishedData,
    RunStartedData,
    RunStatus,
)

__all__ = [
    "Ending",
    "cancel_wins",
    "failure_record",
    "finish_record",
    "new_event",
    "new_run",
    "pause_reason",
    "pause_record",
    "run_config",
    "store_ending",
    "server_delivers",
]

_FAILURE_EVENTS: dict[RunStatus, RunEventKind] = {
    RunStatus.FAILED: RunEventKind.RUN_FAILED,
    RunStatus.BUDGET_EXHAUSTED: RunEventKind.BUDGET_EXHAUSTED,
    RunStatus.CANCELLED: RunEventKind.CANCEL_SETTLED,
}
"""The run-level event that records how a run that raised ended."""


def new_event(
    kind: RunEventKind | NodeEventKind, at: float, /, *, node: str | None = None, **data: Any
) -> dict[str, Any]:
    """A run event as the store takes it (``data`` is the kind's payload)."""
    return {"kind": kind.value, "node": node, "at": at, "data": data}


def new_run(
    rail: RailGraph,
    *,
    run_id: str,
    ref: str,
    input: dict[str, Any],
    budget: dict[str, Any],
    started_by: str,
    clock: Callable[[], float],
    lease: Lease | None,
    lease_s: float,
) -> tuple[RunRecord, dict[str, Any]]:
    """A new run's record (``running``) and its first event, to store in one transaction.

    Args:
        rail: The graph.
        run_id: The run (and thread) id.
        ref: The reference the graph is stored under.
        input: The author's fields of the input, as JSON.
        budget: The limits in force (the graph's envelope with any override).
        started_by: Who started it.
        clock: Wall clock for the record and the event.
        lease: Whose lease the run is stored under; ``None`` for nobody's.
        lease_s: Seconds the lease lasts.
    """
    now = clock()
    record = RunRecord(
        run_id=run_id,
        graph=ref,
        graph_name=rail.name,
        signature=rail.signature,
        status=RunStatus.RUNNING,
        input=input,
        budget=budget,
        usage={},
        started_by=started_by,
        created_at=now,
        updated_at=now,
        lease_owner=lease.owner if lease else None,
        lease_host=lease.host if lease else None,
        lease_pid=lease.pid if lease else None,
        heartbeat_at=now if lease else None,
        lease_expires_at=now + lease_s if lease else None,
    )
    # The spec rides on the first event; the store keeps it once per graph signature.
    started: RunStartedData = {
        "input": record.input,
        "budget": record.budget,
        "spec": rail.spec_data,
    }
    return record, new_event(RunEventKind.RUN_STARTED, clock(), **started)


def run_config(
    rail: RailGraph,
    run_id: str,
    *,
    budget: Mapping[str, Any] | None,
    store: RunStore,
    clock: Callable[[], float],
    timer: Callable[[], float],
    cancelled: Callable[[], Awaitable[bool]],
    driver: str | None,
    thread_id: str | None,
) -> RunnableConfig:
    """The config that binds a run's :class:`railgraph.nodes.Runtime` to its graph.

    Args:
        rail: The graph.
        run_id: The run.
        budget: The run's stored limits, laid over the graph's envelope; ``None`` for the
            graph's own.
        store: The run store, which is also the tool-effect ledger and the redactor.
        clock: Wall clock for events.
        timer: Monotonic clock for durations.
        cancelled: The run's kill switch.
        driver: The lease owner the ledger's claims are checked against; ``None`` checks
            no lease.
        thread_id: The LangGraph thread to run on; ``None`` where the caller's config names
            it (LangGraph's server does).
    """
    runtime = Runtime(
        run_id=run_id,
        graph=rail.name,
        envelope=rail.budget.override(budget) if budget is not None else rail.budget,
        tools=rail.tools,
        policy=rail.policy,
        prices=rail.prices,
        ledger=store,
        clock=clock,
        timer=timer,
        cancelled=cancelled,
        driver=driver,
        redact=store.redactor.redact,
    )
    steps = runtime.envelope.steps
    thread = {"thread_id": thread_id} if thread_id is not None else {}
    return {
        "configurable": {**thread, RUNTIME_KEY: runtime},
        "recursion_limit": max(200, 2 * steps + 10 if steps is not None else 0),
    }


@dataclass(frozen=True)
class Ending:
    """How a drive ends a run: what to store with the run's last change."""

    status: RunStatus
    """The run's status after the drive."""
    reason: str
    """Why it stands there (empty when it completed)."""
    usage: dict[str, Any]
    """What the run spent, with what a failing node spent before it raised."""
    events: list[dict[str, Any]]
    """The events that record the ending."""


def failure_record(
    error: BaseException, values: Mapping[str, Any], clock: Callable[[], float]
) -> Ending:
    """How a run whose drive raised ``error`` ends, from the state it reached.

    A node that raised carries what it recorded and spent before the error (see
    ``railgraph.nodes.PARTIAL_ATTR``): its events are kept and its spending is added.
    """
    status, reason = failure(error)
    usage = usage_total(values)
    events: list[dict[str, Any]] = []
    partial = getattr(error, PARTIAL_ATTR, None)
    if partial is not None:
        _, node_events, spent = partial
        events.extend(node_events)
        usage = add_usage(usage, spent)
    failed: RunFailedData = {
        "error": reason,
        "error_type": type(error).__name__,
        "traceback": None if status != RunStatus.FAILED else short_traceback(error),
    }
    # A refusal adds what BudgetExhaustedData adds: dimension, used, limit, refused.
    refusal = error.details() if isinstance(error, BudgetExhausted) else {}
    node = partial[0] if partial else None
    events.append(new_event(_FAILURE_EVENTS[status], clock(), node=node, **failed, **refusal))
    return Ending(status, reason, usage, events)


async def cancel_wins(
    store: RunStore, run_id: str, error: BaseException | None
) -> tuple[BaseException | None, RunStatus]:
    """The error a drive ends with, and the status the run must still have to end so.

    The kill switch wins: a run cancelled while it was driven (by a node that made no
    call the kill switch stops, or before its last step) ends cancelled whatever it
    reached, with the reason given when it was cancelled; otherwise the drive's own
    ``error`` (``None`` when it raised none) ends a run that is still ``running``.

    Raises:
        InputError: The run is no longer in the store.
    """
    state = await store.run_state(run_id)
    if state is not None and state.status != RunStatus.CANCELLED:
        return error, RunStatus.RUNNING
    stored = await store.get_run(run_id)
    if stored is None:
        raise InputError(f"no run {run_id!r} in this database; list runs with `railgraph runs`")
    return RunCancelled(stored.error or "cancelled"), RunStatus.CANCELLED


def finish_record(values: Mapping[str, Any], clock: Callable[[], float]) -> Ending:
    """How a run whose graph reached its end ends: as its state's disposition says."""
    disposition = disposition_of(values)
    status = disposition.status or RunStatus.COMPLETED
    reason = disposition.reason or ""
    finished: RunFinishedData = {"status": status.value, "reason": reason}
    return Ending(
        status,
        reason,
        usage_total(values),
        [new_event(RunEventKind.RUN_FINISHED, clock(), **finished)],
    )


def pause_reason(pending: Iterable[ApprovalRecord]) -> str:
    """The reason a paused run stores: each pending request's gate and reason."""
    return "; ".join(f"{p.node}: {p.request.get('reason')}" for p in pending)


def server_delivers(request_ids: Iterable[str]) -> str:
    """Why a paused run whose decided requests wait for LangGraph's server stays paused."""
    ids = list(request_ids)
    which = f"request {ids[0]} is" if len(ids) == 1 else f"requests {', '.join(ids)} are"
    return (
        f"the decision on {which} recorded; the run waits in LangGraph's server, which "
        "delivers it when the thread is resumed there (any answer to its interrupt)"
    )


def pause_record(
    pending: Iterable[ApprovalRecord], values: Mapping[str, Any], decided: Sequence[str] = ()
) -> Ending:
    """How a drive that stopped for people's decisions ends: paused, saying on what.

    ``decided`` names requests of a served graph whose decision is recorded and waits for the
    server to deliver it (see `server_delivers`)."""
    parts = [pause_reason(pending), server_delivers(decided) if decided else ""]
    reason = "; ".join(part for part in parts if part)
    return Ending(RunStatus.PAUSED, reason, usage_total(values), [])


async def store_ending(
    store: RunStore,
    run_id: str,
    owner: str,
    ending: Ending,
    *,
    result: Mapping[str, Any],
    expect: RunStatus = RunStatus.RUNNING,
) -> tuple[bool, RunRecord]:
    """Store how a drive ends the run, as one compare-and-set on ``expect`` under ``owner``'s
    lease (see ``RunStore.finish_drive``); a cancelled run keeps the reason given with the
    cancel."""
    return await store.finish_drive(
        run_id,
        owner,
        expect=expect,
        status=ending.status,
        usage=ending.usage,
        result=result,
        error=None if expect == RunStatus.CANCELLED else ending.reason,
        events=ending.events,
    )
