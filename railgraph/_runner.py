"""Start, resume, decide and cancel runs; every run is one LangGraph thread on one database."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from checkpointers import ApprovalRecord, Redactor, RunRecord, RunStore, SqliteCheckpointer
from nodes import (
    PARTIAL_ATTR,
    RUNTIME_KEY,
    Runtime,
)
from nodes._budget import add_usage
from nodes._state import DECISIONS, EVENTS, REQUESTS, STATUS, USAGE
from railgraph._graph import RailGraph
from railgraph._identity import starter
from railgraph._outcome import ENDED, RunOutcome, RunStatus, failure, short_traceback
from railgraph._queue import ReviewQueue, open_requests
from railgraph._settings import (
    default_db_path,
    default_secret_words,
    default_synchronous,
    load_graph,
    ref_of,
)
from railgraph._spec import GraphSpec
from railgraph.errors import (
    BudgetExhausted,
    DecisionError,
    InputError,
    RunCancelled,
)

__all__ = ["RunOutcome", "Runner"]


class Runner(ReviewQueue):
    """Runs railgraph graphs durably on one SQLite database.

    Example:
        >>> async def main() -> None:  # doctest: +SKIP
        ...     async with Runner.open(".railgraph/railgraph.db") as runner:
        ...         outcome = await runner.start("graphs.refund:graph", {"ticket_id": "T-1001"})
    """

    def __init__(
        self,
        saver: SqliteCheckpointer,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.saver = saver
        self.store: RunStore = saver.store
        self.clock = clock
        self.timer = timer
        self._graphs: dict[str, RailGraph] = {}
        self._started: dict[str, RailGraph] = {}
        self._compiled: dict[int, CompiledStateGraph[Any, Any, Any, Any]] = {}

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        db: str | Path | None = None,
        *,
        synchronous: Literal["NORMAL", "FULL"] | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        read_only: bool = False,
        redact: Iterable[str] | None = None,
    ) -> AsyncIterator[Runner]:
        """Open the database and yield a runner on it.

        Args:
            db: The database file; ``$RAILGRAPH_DB`` or ``.railgraph/railgraph.db`` if unset.
            synchronous: ``"NORMAL"`` survives a process crash, ``"FULL"`` also a power loss;
                ``$RAILGRAPH_SYNCHRONOUS`` or NORMAL if unset.
            clock: Wall clock for events and records (inject one in tests).
            timer: Monotonic clock for durations.
            read_only: Open an existing database without creating, migrating or changing
                anything (for listing and showing runs); every write then fails.
            redact: Key words that name secrets, redacted from events, review requests
                and the ledger's arguments (see ``checkpointers.Redactor``);
                ``$RAILGRAPH_REDACT`` or railgraph's list if unset.
        """
        async with AsyncExitStack() as stack:
            saver = await stack.enter_async_context(
                SqliteCheckpointer.from_path(
                    db if db is not None else default_db_path(),
                    synchronous=synchronous or default_synchronous(),
                    event_channel=EVENTS,
                    clock=clock,
                    read_only=read_only,
                    redactor=Redactor(redact if redact is not None else default_secret_words()),
                )
            )
            yield cls(saver, clock=clock, timer=timer)

    # -- graphs ------------------------------------------------------------------------------

    def graph(self, ref: str | RailGraph) -> tuple[str, RailGraph]:
        """Resolve a graph and the reference under which its runs are stored."""
        if isinstance(ref, RailGraph):
            key = ref_of(ref) or f"{ref.module or '__main__'}:{ref.name}"
            self._graphs[key] = ref
            return key, ref
        if ref not in self._graphs:
            self._graphs[ref] = load_graph(ref)
        return ref, self._graphs[ref]

    def register(self, ref: str, graph: RailGraph) -> None:
        """Use ``graph`` for runs stored under ``ref`` in this runner.

        For a graph built by a factory with local parts (a test double of a system, another
        model) that stands for an importable reference.
        """
        self._graphs[ref] = graph

    def _graph_of(self, record: RunRecord) -> RailGraph:
        # The object that started a run in this process wins over a later graph registered
        # under the same reference (two graphs built by one factory share a name).
        started = self._started.get(record.run_id)
        return started if started is not None else self.graph(record.graph)[1]

    def _app(self, graph: RailGraph) -> CompiledStateGraph[Any, Any, Any, Any]:
        app = self._compiled.get(id(graph))
        if app is None:
            app = self._compiled[id(graph)] = graph.compile(self.saver)
        return app

    def _config(self, graph: RailGraph, record: RunRecord) -> RunnableConfig:
        runtime = Runtime(
            run_id=record.run_id,
            graph=graph.name,
            envelope=graph.budget.override(record.budget),
            tools=graph.tools,
            policy=graph.policy,
            prices=graph.prices,
            ledger=self.store,
            clock=self.clock,
            timer=self.timer,
            cancelled=functools.partial(self._is_cancelled, record.run_id),
            redact=self.store.redactor.redact,
        )
        steps = runtime.envelope.steps
        return {
            "configurable": {"thread_id": record.run_id, RUNTIME_KEY: runtime},
            "recursion_limit": max(200, 2 * steps + 10 if steps is not None else 0),
        }

    async def _is_cancelled(self, run_id: str) -> bool:
        record = await self.store.get_run(run_id)
        return record is not None and record.status == "cancelled"

    # -- starting and resuming ---------------------------------------------------------------

    async def start(
        self,
        graph: str | RailGraph,
        input: Mapping[str, Any],
        *,
        budget: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        started_by: str | None = None,
    ) -> RunOutcome:
        """Start a run and drive it until it pauses or ends.

        Raises:
            InputError: The input does not fit the graph's state model (or names fields it
                does not declare), ``started_by`` is blank, or a budget override is
                malformed; nothing is stored then.

        ``started_by`` defaults to the operating-system user running this process.
        """
        ref, rail = self.graph(graph)
        state = rail.validate_input(input)
        started_by = starter(started_by)
        overrides = dict(budget or {})
        envelope = rail.budget.override(overrides)
        now = self.clock()
        record = RunRecord(
            run_id=run_id or uuid.uuid4().hex[:12],
            graph=ref,
            graph_name=rail.name,
            signature=rail.signature,
            status="running",
            input=state.model_dump(mode="json"),
            budget=envelope.limits(),
            usage={},
            started_by=started_by,
            created_at=now,
            updated_at=now,
        )
        await self.store.create_run(record)
        self._started[record.run_id] = rail
        await self._event(
            record.run_id,
            "run_started",
            input=record.input,
            budget=record.budget,
            spec=rail.spec.model_dump(mode="json"),
        )
        return await self._drive(rail, record, state.model_dump())

    async def resume(self, run_id: str, *, allow_changed_graph: bool = False) -> RunOutcome:
        """Continue a run: with the decisions taken on its requests, or after a crash.

        Nothing that finished before is run again: LangGraph restarts from the last saved
        step and keeps the writes of tasks that finished in it; tool effects that completed
        are replayed from the ledger.
        """
        record = await self._record(run_id)
        if record.status in ENDED:
            raise DecisionError(f"run {run_id} is {record.status}; there is nothing to resume")
        rail = self._graph_of(record)
        await self._check_signature(record, rail, allow_changed_graph)
        snapshot = await self._app(rail).aget_state(self._config(rail, record))
        if snapshot.created_at is None:
            # The process died before LangGraph saved the input: start again from it.
            return await self._drive(rail, record, record.input)
        answers: dict[str, Any] = {}
        for interrupt in snapshot.interrupts:
            approval = await self.store.get_approval(interrupt.id)
            if approval is not None and approval.decision is not None:
                answers[interrupt.id] = approval.decision
        if answers:
            return await self._drive(rail, record, Command(resume=answers))
        deliveries: dict[str, Any] = {}
        for gate, entry in (snapshot.values.get(REQUESTS) or {}).items():
            if entry and entry.get("open"):
                approval = await self.store.get_approval(entry["request_id"])
                if approval is not None and approval.decision is not None:
                    deliveries[gate] = {
                        "request_id": entry["request_id"],
                        "decision": approval.decision,
                    }
        if deliveries:
            # Each decided gate runs again with its decision; other branches stay parked.
            goto = Command(update={DECISIONS: deliveries}, goto=sorted(deliveries))
            return await self._drive(rail, record, goto)
        if snapshot.interrupts or open_requests(snapshot.values):
            return await self._settle(rail, record, None)  # still waiting for people
        return await self._drive(rail, record, None)  # a crash stopped it mid-way

    # -- internals ---------------------------------------------------------------------------

    async def _record(self, run_id: str) -> RunRecord:
        record = await self.store.get_run(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in this database; list runs with `railgraph runs`")
        return record

    async def _check_signature(self, record: RunRecord, rail: RailGraph, allow: bool) -> None:
        if rail.signature == record.signature or allow:
            return
        events = await self.store.list_events(record.run_id)
        started = next((e for e in events if e.kind == "run_started" and "spec" in e.data), None)
        changes = ""
        if started is not None:
            lines = GraphSpec.model_validate(started.data["spec"]).changes(rail.spec)
            changes = "".join(f"\n  - {line}" for line in lines)
        raise DecisionError(
            f"graph {record.graph} changed since run {record.run_id} started (signature "
            f"{record.signature} -> {rail.signature}); compare with `railgraph spec "
            f"{record.graph}`, and pass --allow-changed-graph to resume anyway{changes}"
        )

    async def _drive(self, rail: RailGraph, record: RunRecord, payload: Any) -> RunOutcome:
        if record.status != "running":
            # "" clears the reason the run was paused for.
            record = await self.store.update_run(record.run_id, status="running", error="")
        app = self._app(rail)
        error: BaseException | None = None
        try:
            await app.ainvoke(payload, self._config(rail, record), durability="sync")
        except Exception as exc:
            error = exc
        return await self._settle(rail, record, error)

    async def _settle(
        self, rail: RailGraph, record: RunRecord, error: BaseException | None
    ) -> RunOutcome:
        snapshot = await self._app(rail).aget_state(self._config(rail, record))
        values: dict[str, Any] = dict(snapshot.values)
        stored = await self._record(record.run_id)
        if stored.status == "cancelled":
            # The kill switch wins: whatever the run reached, it ends cancelled, and the
            # reason stays the one given when it was cancelled.
            error = RunCancelled(stored.error or "cancelled")
        usage = dict(values.get(USAGE) or {})
        result = rail.user_values(values)
        pending: list[ApprovalRecord] = []
        status: RunStatus
        if error is not None:
            status, reason = failure(error)
            partial = getattr(error, PARTIAL_ATTR, None)
            if partial is not None:
                _, events, spent = partial
                await self.store.append_events(record.run_id, events)
                usage = add_usage(usage, spent)
            await self._event(
                record.run_id,
                "run_failed" if status == "failed" else status,
                node=partial[0] if partial else None,
                error=reason,
                error_type=type(error).__name__,
                traceback=None if status != "failed" else short_traceback(error),
                **(error.details() if isinstance(error, BudgetExhausted) else {}),
            )
        elif snapshot.interrupts or open_requests(values):
            status = "paused"
            asked = [(i.id, dict(i.value)) for i in snapshot.interrupts]
            pending = await self._register_requests(
                rail, record, [*asked, *open_requests(values)], announce={i for i, _ in asked}
            )
            reason = "; ".join(f"{p.node}: {p.request.get('reason')}" for p in pending) or ""
        else:
            disposition = values.get(STATUS) or {}
            status = disposition.get("status") or "completed"
            reason = disposition.get("reason") or ""
            await self._event(record.run_id, "run_finished", status=status, reason=reason)
        await self.store.update_run(
            record.run_id, status=status, usage=usage, result=result, error=reason
        )
        return RunOutcome(record.run_id, status, result, usage, reason or None, pending)

    async def _event(self, run_id: str, kind: str, *, node: str | None = None, **data: Any) -> None:
        await self.store.append_events(
            run_id, [{"kind": kind, "node": node, "at": self.clock(), "data": data}]
        )
