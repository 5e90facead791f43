"""The review queue's operations on a runner: list, decide, expire and cancel.

A mixin of :class:`railgraph.Runner`, kept apart from starting and driving runs.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

from railgraph._decisions import checked_decision, parse_decision, record_decision
from railgraph._graph import RailGraph
from railgraph._identity import os_host, os_user
from railgraph._lease import busy_message
from railgraph._outcome import ENDED, RunOutcome, ended
from railgraph._report import path_of
from railgraph._run_parts import new_event
from railgraph.checkpointers import (
    ApprovalRecord,
    EffectRecord,
    RunRecord,
    RunStore,
    lease_live,
)
from railgraph.errors import DecisionError, RunBusy
from railgraph.nodes import Decision, ReviewRequest
from railgraph.nodes._channels import open_requests
from railgraph.vocab import (
    ApprovalRequestedData,
    ApprovalStatus,
    DecisionKind,
    NodeEventKind,
    RunStatus,
    shown,
)

__all__ = ["ReviewQueue", "open_requests", "register_requests"]

_POLL_S = 0.05
"""Seconds between a waiting decider's looks at a run another process drives."""


class ReviewQueue(ABC):
    """Pending review requests across runs, and the decisions that resume them."""

    store: RunStore
    clock: Callable[[], float]
    decision_wait_s: float

    @abstractmethod
    async def resume(self, run_id: str, *, allow_changed_graph: bool = False) -> RunOutcome:
        """Continue a run with the decisions taken on its requests."""

    @abstractmethod
    async def _record(self, run_id: str) -> RunRecord: ...

    @abstractmethod
    def _graph_of(self, record: RunRecord) -> RailGraph: ...

    @abstractmethod
    async def _check_signature(self, record: RunRecord, rail: RailGraph, allow: bool) -> None: ...

    async def decide(
        self,
        run_id: str,
        decision: Decision,
        *,
        request_id: str | None = None,
        allow_changed_graph: bool = False,
        deliver: bool = True,
    ) -> RunOutcome:
        """Record a reviewer's decision on a paused run's request and resume the run.

        The decision is recorded first (once: a compare-and-set on the request). If another
        process drives the run, that process delivers it; this call waits up to
        ``decision_wait_s`` for the run to move on, then says the decision is recorded.
        With ``deliver=False`` it only records the decision: a worker delivers it
        (``railgraph worker``), as does any later resume.

        Raises:
            DecisionError: The run is not paused, the request is unknown or already decided,
                the reviewer may not decide it, an edit does not fit the tool's input schema,
                or an observed result does not fit its output schema. The request stays
                pending.

        The decision is stored with the operating-system user and host that made it, beside
        the name the reviewer gave.
        """
        await self.expire(run_id=run_id)
        record = await self._record(run_id)
        request = await self._choose_request(record, request_id)
        rail = self._graph_of(record)
        await self._check_signature(record, rail, allow_changed_graph)
        review = ReviewRequest.model_validate(request.request)
        checked = checked_decision(decision, review, rail, record, request.request_id)
        await record_decision(self.store, request.request_id, checked, review, self.clock)
        if not deliver:
            return RunOutcome(
                run_id,
                record.status,
                record.result or {},
                record.usage,
                f"the decision on request {request.request_id} is recorded; a worker delivers it",
            )
        return await self._deliver(run_id, allow_changed_graph=allow_changed_graph)

    async def _deliver(self, run_id: str, *, allow_changed_graph: bool = False) -> RunOutcome:
        """Bring a recorded decision to its run.

        The decider takes the run's lease and resumes it. If another process drives the
        run, that driver delivers every decided request before it gives its lease up (and
        looks again after, so none is missed); the decider waits for it, up to
        ``decision_wait_s``, then reports that the decision is recorded and will be
        delivered.
        """
        # Counted in looks, not read from a clock: an injected clock that stands still
        # must not make a decider wait for ever.
        looks = int(self.decision_wait_s / _POLL_S)
        while True:
            try:
                return await self.resume(run_id, allow_changed_graph=allow_changed_graph)
            except RunBusy:
                looks -= 1
                if looks < 0:
                    record = await self._record(run_id)
                    if record.status in ENDED:
                        return ended(record)
                    return RunOutcome(
                        run_id,
                        record.status,
                        record.result or {},
                        record.usage,
                        "the decision is recorded and will be delivered by the process that "
                        f"drives the run now: {busy_message(record)}",
                    )
                await asyncio.sleep(_POLL_S)
            except DecisionError:
                record = await self._record(run_id)
                if record.status not in ENDED:
                    raise
                # The run ended (a cancel, another decision) before it could take this one.
                return ended(record)

    async def approve(
        self,
        run_id: str,
        *,
        by: str,
        edit: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        deliver: bool = True,
    ) -> RunOutcome:
        """Approve a paused run's request as proposed, or with ``edit`` merged into its args.

        ``deliver=False`` only records the decision, as in :meth:`decide`."""
        decision = parse_decision(
            {
                "decision": DecisionKind.EDIT if edit else DecisionKind.APPROVE,
                "by": by,
                "args": dict(edit or {}) or None,
            }
        )
        return await self.decide(run_id, decision, request_id=request_id, deliver=deliver)

    async def happened(
        self,
        run_id: str,
        *,
        by: str,
        result: Mapping[str, Any],
        reason: str | None = None,
        request_id: str | None = None,
        deliver: bool = True,
    ) -> RunOutcome:
        """Answer a request about an effect a crash left unknown: it did happen.

        ``result`` is what the target system shows, in the tool's output schema (checked
        strictly). The ledger records the effect as completed with it and the run goes on
        as if the call had returned it; the call is not sent again.
        """
        decision = parse_decision(
            {"decision": DecisionKind.HAPPENED, "by": by, "result": dict(result), "reason": reason}
        )
        return await self.decide(run_id, decision, request_id=request_id, deliver=deliver)

    async def reject(
        self,
        run_id: str,
        *,
        by: str,
        reason: str,
        request_id: str | None = None,
        deliver: bool = True,
    ) -> RunOutcome:
        """Reject a paused run's request; the run takes the gate's ``rejected`` outcome.

        ``deliver=False`` only records the decision, as in :meth:`decide`."""
        decision = parse_decision({"decision": DecisionKind.REJECT, "by": by, "reason": reason})
        return await self.decide(run_id, decision, request_id=request_id, deliver=deliver)

    async def cancel(self, run_id: str, *, by: str, reason: str) -> RunOutcome:
        """Stop a run for good: it ends ``cancelled`` and calls no further tool.

        A compare-and-set: a run that completed first stays completed (and the cancel
        says so). Effects whose outcome the ledger does not know are named in the
        run's reason and in its trace: they may have happened.

        Raises:
            DecisionError: The run has already ended.
        """
        await self._record(run_id)
        changed, after, _unknown = await self.store.cancel_run(
            run_id, by=by, reason=reason, at=self.clock()
        )
        if not changed:
            why = f" ({after.error})" if after.error else ""
            raise DecisionError(
                f"run {run_id} is {after.status}{why}; only running or paused runs can be "
                "cancelled, so the cancel changed nothing"
            )
        return RunOutcome(run_id, RunStatus.CANCELLED, after.result or {}, after.usage, after.error)

    async def pending(
        self, *, graph: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[ApprovalRecord]:
        """Review requests waiting for a decision, oldest first, across all runs.

        ``graph`` filters by a graph's reference (``railgraph.graphs.refund:graph``) or name
        (``refund``). ``limit`` and ``after`` (the id of the last request of the previous
        page) read one page at the database.

        Requests past their expiry are expired first (their runs take the timeout outcome).
        """
        await self.expire()
        return await self.store.list_approvals(
            status=ApprovalStatus.PENDING, graph=graph, limit=limit, after=after
        )

    async def unknown_effects(self) -> list[EffectRecord]:
        """Effects of ended runs (cancelled ones, mostly) that may have happened: a crash
        came between the effect and its record, and the run ended before anyone checked."""
        return await self.store.list_unknown_effects()

    async def expire(self, *, run_id: str | None = None) -> list[RunOutcome]:
        """Expire pending requests past their expiry and resume their runs.

        Each such request takes its gate's timeout outcome (``expired`` if the gate wires
        one, else ``rejected``). Returns the outcomes of the runs resumed.
        """
        now = self.clock()
        due: dict[str, list[ApprovalRecord]] = {}
        for approval in await self.store.list_expired(now, run_id=run_id):
            due.setdefault(approval.run_id, []).append(approval)
        outcomes = []
        for due_run, approvals in due.items():
            for approval in approvals:
                waited = approval.expires_at - approval.created_at if approval.expires_at else 0
                decision = Decision(
                    decision=DecisionKind.EXPIRE,
                    by="railgraph",
                    reason=f"no decision within {waited:g} s",
                    at=now,
                    os_user=os_user(),
                    host=os_host(),
                )
                try:
                    await self.store.decide_approval(
                        approval.request_id,
                        status=ApprovalStatus.EXPIRED,
                        decision=decision.model_dump(mode="json"),
                        decided_by="railgraph",
                    )
                except DecisionError:
                    continue  # decided by someone else meanwhile
            try:
                outcomes.append(await self.resume(due_run))
            except RunBusy:
                continue  # its driver delivers the expiry before it lets go
        return outcomes

    async def _choose_request(self, record: RunRecord, request_id: str | None) -> ApprovalRecord:
        if request_id is not None:
            approval = await self.store.get_approval(request_id)
            if approval is None or approval.run_id != record.run_id:
                raise DecisionError(
                    f"run {record.run_id} has no review request {request_id!r}; "
                    "list them with `railgraph pending`"
                )
            if approval.status != ApprovalStatus.PENDING:
                raise DecisionError(
                    f"request {request_id} was already {approval.status} by "
                    f"{approval.decided_by}" + self._undelivered_hint(record, approval)
                )
            return approval
        pending = await self.store.list_approvals(
            run_id=record.run_id, status=ApprovalStatus.PENDING
        )
        if len(pending) == 1:
            return pending[0]
        if not pending:
            decided = await self.store.list_approvals(run_id=record.run_id, status=None)
            last = (
                f"; its last request was {decided[-1].status} by {decided[-1].decided_by}"
                + self._undelivered_hint(record, decided[-1])
                if decided
                else ""
            )
            raise DecisionError(
                f"run {record.run_id} is {record.status} and has no pending request{last}"
            )
        ids = ", ".join(p.request_id for p in pending)
        raise DecisionError(
            f"run {record.run_id} has {len(pending)} pending requests ({ids}); "
            "choose one with --request ID"
        )

    def _undelivered_hint(self, record: RunRecord, approval: ApprovalRecord) -> str:
        """What to do when a decided request's run is not moving: a crash stopped it."""
        if record.status == RunStatus.RUNNING and lease_live(record, self.clock()):
            return f"; {busy_message(record)}"
        # Paused since before the decision: the decider stopped before delivering it.
        late = record.status == RunStatus.PAUSED and (approval.decided_at or 0) >= record.updated_at
        if record.status != RunStatus.RUNNING and not late:
            return ""
        return (
            f"; run {record.run_id} was interrupted before it went on — run "
            f"`railgraph resume {record.run_id}` to continue it"
        )


async def register_requests(
    store: RunStore,
    record: RunRecord,
    graph_name: str,
    requests: Iterable[tuple[str, dict[str, Any]]],
    *,
    clock: Callable[[], float],
    announce: Set[str] = frozenset(),
) -> list[ApprovalRecord]:
    """Store a run's open review requests in the queue (once each) and list those pending.

    Idempotent: a request the queue knows is not stored again. ``requests`` are
    (request id, request) pairs; ``announce`` names requests raised by ``interrupt()``
    (unknown effects), whose ``approval_requested`` event is recorded here: approve gates
    record their own with their state.
    """
    out: list[ApprovalRecord] = []
    path: list[str] | None = None
    for request_id, value in requests:
        known = await store.get_approval(request_id)
        if known is not None:
            if known.status == ApprovalStatus.PENDING:
                out.append(known)
            continue
        if path is None:
            path = path_of(await store.list_events(record.run_id))
        now = clock()
        expires = value.get("expires_after_s")
        approval = ApprovalRecord(
            request_id=request_id,
            run_id=record.run_id,
            graph=record.graph,
            node=value.get("gate", "?"),
            status=ApprovalStatus.PENDING,
            # For people: numbers that are not finite as their JSON strings, never null.
            request={**shown(value), "run_id": record.run_id, "graph": graph_name, "path": path},
            created_at=now,
            expires_at=now + expires if expires else None,
        )
        await store.add_approval(approval)
        if request_id in announce:
            asked: ApprovalRequestedData = {"request_id": request_id, "request": value}
            event = new_event(
                NodeEventKind.APPROVAL_REQUESTED, clock(), node=approval.node, **asked
            )
            await store.append_events(record.run_id, [event])
        out.append(approval)
    return out
