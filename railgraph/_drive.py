"""Driving a run under its lease: what to run next, and where the run stands after.

A mixin of :class:`railgraph.Runner`. A driver holds the run's lease while LangGraph runs
it; it goes on while anything can move the run (tasks a crash stopped, decisions taken),
settles its status with a compare-and-set that also gives the lease up, and looks once more
for decisions that arrived meanwhile. A database fault leaves the run interrupted, not failed.
"""

from __future__ import annotations

import contextlib
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.channels.last_value import LastValue
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Interrupt, StateSnapshot

from railgraph._graph import RailGraph
from railgraph._lease import Heartbeat, fault_of
from railgraph._outcome import DELIVERABLE, ENDED, RunOutcome, RunStatus, ended
from railgraph._queue import register_requests
from railgraph._run_parts import (
    Ending,
    cancel_wins,
    failure_record,
    finish_record,
    pause_record,
    store_ending,
)
from railgraph._served_review import asked_request
from railgraph.checkpointers import ApprovalRecord, Lease, RunRecord, RunStore
from railgraph.errors import RunBusy, RunInterrupted, StoreError
from railgraph.nodes._channels import (
    deliveries_update,
    open_requests,
    requests_of,
)
from railgraph.nodes._state import EVENTS

__all__ = ["Driver"]

_WAIT: Any = object()
"""What `_next` answers when only people can move a run on (or it has ended)."""


def _checkpoint_id(snapshot: StateSnapshot | _Ended | None) -> str | None:
    if not isinstance(snapshot, StateSnapshot):
        return None
    return str((snapshot.config.get("configurable") or {}).get("checkpoint_id"))


@dataclass(frozen=True)
class _Ended:
    """Where a drive that ended the run left it: what settling it reads of a snapshot."""

    values: dict[str, Any]
    interrupts: tuple[Interrupt, ...] = ()


_INTERRUPTED = "__interrupt__"
"""The key under which `ainvoke` returns the interrupts a drive raised, as LangGraph documents."""

_KEPT: tuple[type, ...] = (LastValue, BinaryOperatorAggregate)
"""Channels whose value after the last step is the value of the last checkpoint."""


def _output_is_state(app: CompiledStateGraph[Any, Any, Any, Any]) -> bool:
    """Whether the drive's output values equal the state of its last checkpoint, once
    railgraph's event channel (emptied after every step) is left out."""
    names = [app.output_channels] if isinstance(app.output_channels, str) else app.output_channels
    return all(name == EVENTS or isinstance(app.channels[name], _KEPT) for name in names)


def _ended(app: CompiledStateGraph[Any, Any, Any, Any], output: Any) -> _Ended | None:
    """The run's state if the drive that returned ``output`` left nothing to drive.

    A drive returns when no task is left, or on an interrupt (which its output names).
    Without one, and without an approve gate's parked request (whose decision may have
    arrived meanwhile), there is nothing more to drive: the state is the output, and
    reading the checkpoint back would only say so again.
    """
    if not isinstance(output, Mapping) or _INTERRUPTED in output or not _output_is_state(app):
        return None
    values = {key: value for key, value in output.items() if key != EVENTS}
    if any(entry.open for entry in requests_of(values).values()):
        return None
    return _Ended(values)


def _served(interrupt: Interrupt) -> bool:
    """Whether a served graph's node asked this (its request waits for the server)."""
    return asked_request(interrupt.id, interrupt.value)[2]


class Driver(ABC):
    """Drives runs whose lease the runner holds."""

    store: RunStore
    clock: Callable[[], float]
    lease: Lease
    lease_s: float
    heartbeat_s: float

    @abstractmethod
    def _app(self, graph: RailGraph) -> CompiledStateGraph[Any, Any, Any, Any]: ...

    @abstractmethod
    def _config(self, graph: RailGraph, record: RunRecord) -> RunnableConfig: ...

    @abstractmethod
    async def _record(self, run_id: str) -> RunRecord: ...

    async def _hold(self, rail: RailGraph, record: RunRecord, first: Any) -> RunOutcome:
        """Drive a run whose lease this runner holds, give the lease up, and go on while
        decisions arrived for it meanwhile that nobody else will deliver."""
        while True:
            outcome, waiting = await self._leased(rail, record, first)
            first = None
            if outcome.status != RunStatus.PAUSED or not await self._decided(
                record.run_id, waiting
            ):
                return outcome
            # A decision recorded while this runner held the lease: its decider was
            # refused the lease, so delivering it falls to us (checked after release,
            # so that no decision falls between two drivers).
            claim = await self.store.acquire_lease(record.run_id, self.lease, ttl=self.lease_s)
            if not claim.granted:
                return outcome if claim.record.status not in ENDED else ended(claim.record)
            record = claim.record

    async def _decided(self, run_id: str, waiting: set[str]) -> bool:
        """Whether any request the run waits for has been decided (and not yet delivered)."""
        decided = await self.store.list_approvals(run_id=run_id, status=None)
        return any(a.request_id in waiting and a.status in DELIVERABLE for a in decided)

    async def _leased(
        self, rail: RailGraph, record: RunRecord, first: Any
    ) -> tuple[RunOutcome, set[str]]:
        """Drive the run until only people can move it on, settle it and give the lease up.

        Returns:
            Where the run stands, and the ids of the requests it waits for.
        """
        app = self._app(rail)
        config = self._config(rail, record)
        renew = functools.partial(
            self.store.renew_lease, record.run_id, self.lease.owner, ttl=self.lease_s
        )
        try:
            async with Heartbeat(renew, self.heartbeat_s):
                error: BaseException | None = None
                payload: Any = first
                snapshot: StateSnapshot | _Ended | None = None
                if payload is None:
                    payload, snapshot = await self._next(rail, record, None)
                last: str | None = None
                while payload is not _WAIT:
                    try:
                        output = await app.ainvoke(payload, config, durability="sync")
                        # A tool node's completed effect commits with the node's writes.
                        self.store.raise_unrecorded(record.run_id)
                    except Exception as exc:
                        error = exc
                        break
                    last = _checkpoint_id(snapshot) if payload is None else None
                    if (finished := _ended(app, output)) is not None:
                        payload, snapshot = _WAIT, finished
                    else:
                        payload, snapshot = await self._next(rail, record, last)
                if error is not None and (fault := fault_of(error)) is not None:
                    raise await self._interrupted(record, fault) from error
                if error is not None or snapshot is None:
                    snapshot = await app.aget_state(config)
                outcome = await self._settle(rail, record, snapshot, error)
                # The requests this runner delivers; a served graph's, only the server.
                waiting = {i.id for i in snapshot.interrupts if not _served(i)}
                waiting.update(request_id for request_id, _ in open_requests(snapshot.values))
                return outcome, waiting
        except RunInterrupted:
            raise
        except Exception as exc:
            fault = fault_of(exc)
            if fault is None:
                # Not the run's doing either (a bug, or a stored value that will not load):
                # say why it stopped and let the next driver in at once.
                text = (
                    f"run {record.run_id} could not go on: {exc}; fix the cause, then run "
                    f"`railgraph resume {record.run_id}`"
                )
                with contextlib.suppress(StoreError):
                    await self.store.release_lease(record.run_id, self.lease.owner, error=text)
                raise
            raise await self._interrupted(record, fault) from exc
        finally:
            self.store.forget_unrecorded(record.run_id)

    async def _interrupted(self, record: RunRecord, fault: str) -> RunInterrupted:
        """Leave a run a database fault stopped resumable: `running`, with the reason, and
        nobody's lease (if the database lets us write that much)."""
        text = (
            f"run {record.run_id} was interrupted by a database fault ({fault}); it has not "
            "failed and nothing is lost: free disk space or fix the disk, then run "
            f"`railgraph resume {record.run_id}`"
        )
        with contextlib.suppress(StoreError):
            await self.store.release_lease(record.run_id, self.lease.owner, error=text)
        return RunInterrupted(text, run_id=record.run_id)

    async def _next(
        self, rail: RailGraph, record: RunRecord, last: str | None
    ) -> tuple[Any, StateSnapshot]:
        """What to drive the run with next, or `_WAIT` when only people can move it on.

        ``last`` is the checkpoint a ``None`` drive started from: if the run has not
        moved past it, driving it again would do nothing more.
        """
        snapshot = await self._app(rail).aget_state(self._config(rail, record))
        if snapshot.created_at is None:
            # The process died before LangGraph saved the input: start again from it.
            return record.input, snapshot
        answers: dict[str, Any] = {}
        for interrupt in snapshot.interrupts:
            if _served(interrupt):
                continue  # answered by the server only (see `asked_request`)
            approval = await self.store.get_approval(interrupt.id)
            if approval is not None and approval.status in DELIVERABLE:
                answers[interrupt.id] = approval.decision
        if answers:
            return Command(resume=answers), snapshot
        # Tasks of a step that a crash stopped (some may have saved their writes) go on
        # by themselves, whatever other branches wait for; a task waiting for an answer
        # does not move until it has one.
        asking = {task.name for task in snapshot.tasks if task.interrupts}
        if (
            snapshot.tasks
            and (not asking or any(name not in asking for name in snapshot.next))
            and _checkpoint_id(snapshot) != last
        ):
            return None, snapshot
        deliveries: dict[str, tuple[str, Any]] = {}
        targets: set[str] = set()
        for key, entry in requests_of(snapshot.values).items():
            if entry.open and entry.request_id is not None:
                approval = await self.store.get_approval(entry.request_id)
                if approval is not None and approval.status in DELIVERABLE:
                    deliveries[key] = (entry.request_id, approval.decision)
                    # An agent keys one request per call; the entry names the agent to run.
                    targets.add(entry.target(key))
        if deliveries:
            # Each decided gate runs again with its decision; other branches stay parked.
            update = deliveries_update(deliveries)
            return Command(update=update, goto=sorted(targets)), snapshot
        return _WAIT, snapshot

    async def _settle(
        self,
        rail: RailGraph,
        record: RunRecord,
        snapshot: StateSnapshot | _Ended,
        error: BaseException | None,
    ) -> RunOutcome:
        if isinstance(error, RunBusy):
            return ended(await self._record(record.run_id))  # another driver took over
        values: dict[str, Any] = dict(snapshot.values)
        error, expect = await cancel_wins(self.store, record.run_id, error)
        result = rail.user_values(values)
        pending: list[ApprovalRecord] = []
        ending: Ending
        opened = open_requests(values)
        if error is not None:
            ending = failure_record(error, values, self.clock)
        elif snapshot.interrupts or opened:
            asked = [asked_request(i.id, i.value) for i in snapshot.interrupts]
            pending = await register_requests(
                self.store,
                record,
                rail.name,
                [(i, request) for i, request, _ in asked] + opened,
                clock=self.clock,
                announce={i for i, _, served in asked if not served},
            )
            still = {p.request_id for p in pending}
            decided = [i for i, _, served in asked if served and i not in still]
            ending = pause_record(pending, values, decided)
        else:
            ending = finish_record(values, self.clock)
        changed, after = await store_ending(
            self.store, record.run_id, self.lease.owner, ending, result=result, expect=expect
        )
        if not changed:
            # A cancel committed after we looked: it stands, and says what happened.
            return ended(after)
        return RunOutcome(
            record.run_id, ending.status, result, ending.usage, after.error or None, pending
        )
