"""How a served graph asks a person: through the review queue, with Agent Inbox's interrupt.

A served run waits on two kinds of question, asked alike: an approve gate's parked request,
which the deferred settle node asks, and an effect a crash left unknown, which the tool node
that found it asks through its runtime's ``ask`` (see :meth:`Asking.bound`). Either way the
request is in the review queue and the run is ``paused`` while the thread waits on
``interrupt([human_interrupt(...)])``; the answer is checked by the queue's rules (a refused
one is asked again with the reason, and nothing is recorded), a valid one is recorded once,
and the run takes its lease back before the decision goes on. A decision recorded first
(elsewhere, or by this node before a crash) is the one that goes on.

The node that asks runs again from its first line on resume: everything before
``interrupt()`` is idempotent (a known request is not registered or announced again, a
paused run is not paused again), and it acts only after a valid answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

# The namespace of the task a node runs in: stable across the task's re-runs on resume.
from langgraph._internal._constants import CONFIG_KEY_CHECKPOINT_NS
from langgraph.types import interrupt
from pydantic import BaseModel

from railgraph._decisions import checked_decision, record_decision
from railgraph._graph import RailGraph
from railgraph._outcome import DELIVERABLE
from railgraph._queue import register_requests
from railgraph._run_parts import pause_record, store_ending
from railgraph._served_db import DATABASES
from railgraph._served_review import decision_of, human_interrupt
from railgraph.checkpointers import ApprovalRecord, Lease, RunRecord, RunStore
from railgraph.errors import DecisionError, InputError, RunCancelled
from railgraph.nodes import Decision, ReviewRequest
from railgraph.nodes._channels import open_requests
from railgraph.nodes._nonfinite import exact_json
from railgraph.nodes._runtime import RUNTIME_KEY, Runtime, canonical_json, runtime_from_config
from railgraph.vocab import ApprovalStatus, RunStatus

__all__ = ["Asking", "identity_of"]


@dataclass(frozen=True)
class Asking:
    """How one served graph asks its questions (see the module's docstring)."""

    rail: RailGraph
    """The graph served."""
    db: str
    """Its database (a key of ``DATABASES``)."""
    lease: Lease
    """The lease a served run is held under while the server drives it."""
    lease_s: float
    """Seconds that lease lasts."""
    clock: Callable[[], float]
    """Wall clock for requests and decisions."""

    async def answer(
        self, store: RunStore, approval: ApprovalRecord, record: RunRecord, config: RunnableConfig
    ) -> dict[str, Any]:
        """Ask about a request in the queue until a valid answer comes; record it once and
        take the run's lease back.

        Returns:
            The decision to deliver, as stored: the one recorded first, if another was.

        Raises:
            DecisionError: The request was closed meanwhile without a decision to deliver
                (the run was cancelled while it waited).
            RunCancelled: The run ended meanwhile; the decision is recorded, not delivered.
        """
        review = ReviewRequest.model_validate(approval.request)
        refused: str | None = None
        while True:
            reply = interrupt([human_interrupt(approval, refused)])
            try:
                decision = decision_of(reply, review, identity_of(config))
                decision = checked_decision(
                    decision, review, self.rail, record, approval.request_id
                )
                break
            except DecisionError as exc:
                refused = str(exc)  # asked again, with the reason; nothing was recorded
        chosen = await self._record(store, approval, review, decision)
        claim = await store.acquire_lease(record.run_id, self.lease, ttl=self.lease_s)
        if not claim.granted:
            raise RunCancelled(
                f"run {record.run_id} is {claim.record.status}, so the decision on request "
                f"{approval.request_id} is recorded but not delivered"
            )
        return chosen

    async def _record(
        self, store: RunStore, approval: ApprovalRecord, review: ReviewRequest, decision: Decision
    ) -> dict[str, Any]:
        """Record the decision once; what to deliver (the one recorded first, if another
        was: a decision taken elsewhere, or this one before a crash)."""
        try:
            return await record_decision(store, approval.request_id, decision, review, self.clock)
        except DecisionError:
            known = await store.get_approval(approval.request_id)
            if known is None or known.status not in DELIVERABLE or known.decision is None:
                raise
            return known.decision

    def bound(self, state: BaseModel, config: RunnableConfig) -> RunnableConfig:
        """The config a declared node runs with: its runtime asks through :meth:`unknown`,
        about the state the node started from."""
        configurable = config.get("configurable") or {}
        runtime = configurable.get(RUNTIME_KEY)
        if not isinstance(runtime, Runtime):
            return config  # the node says what is missing

        async def ask(request: ReviewRequest, name: str) -> Decision:
            return await self.unknown(state, config, request, name)

        asking = dataclasses.replace(runtime, ask=ask)
        return {**config, "configurable": {**configurable, RUNTIME_KEY: asking}}

    async def unknown(
        self, state: BaseModel, config: RunnableConfig, request: ReviewRequest, name: str
    ) -> Decision:
        """Ask a person a question a node raises itself (an effect a crash left unknown),
        as the runner's settle would register it, and return the decision to act on.

        The request's id is derived from the node's task and ``name``: the same on every
        re-run of the task, another for a later attempt of the node.
        """
        runtime = runtime_from_config(config)
        store = (await DATABASES.get(self.db)).store
        run_id = runtime.run_id
        task = (config.get("configurable") or {}).get(CONFIG_KEY_CHECKPOINT_NS, "")
        request_id = hashlib.sha256(canonical_json([run_id, task, name]).encode()).hexdigest()
        request_id = request_id[:32]
        record = await store.get_run(run_id)
        if record is None:
            raise InputError(f"no railgraph run {run_id!r}: the thread was not started here")
        approval = await store.get_approval(request_id)
        if approval is None or approval.status == ApprovalStatus.PENDING:
            now = await store.run_state(run_id)
            if now is not None and (now.status, now.lease_owner) == (
                RunStatus.CANCELLED,
                self.lease.owner,
            ):
                # Cancelled while this drive ran: as under the runner, the kill switch wins
                # and nothing is asked (the node's failure ends the run cancelled).
                raise RunCancelled(f"run {run_id} was cancelled, so nobody was asked")
            values = dict(state)
            pending = await register_requests(
                store,
                record,
                self.rail.name,
                [(request_id, exact_json(request)), *open_requests(values)],
                clock=self.clock,
                announce={request_id},
            )
            # A compare-and-set on `running`: the re-run on resume finds the run paused.
            await store_ending(
                store,
                run_id,
                self.lease.owner,
                pause_record(pending, values),
                result=self.rail.user_values(values),
            )
            approval = await store.get_approval(request_id)
            assert approval is not None
        return Decision.model_validate(await self.answer(store, approval, record, config))


def identity_of(config: RunnableConfig) -> str | None:
    """The user LangGraph's server authenticated for this request, if any."""
    user = (config.get("configurable") or {}).get("langgraph_auth_user_id")
    return user if isinstance(user, str) and user.strip() else None
