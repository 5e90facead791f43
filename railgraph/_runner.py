"""Start, resume, decide and cancel runs; every run is one LangGraph thread on one database."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from railgraph._drive import Driver
from railgraph._graph import RailGraph
from railgraph._identity import starter
from railgraph._lease import busy_message
from railgraph._outcome import (
    ENDED,
    RunOutcome,
)
from railgraph._queue import ReviewQueue
from railgraph._run_parts import new_run, run_config
from railgraph._run_saver import open_saver
from railgraph._settings import (
    canonical_ref,
    default_db,
    load_graph,
    stored_ref,
)
from railgraph._spec import GraphSpec
from railgraph.checkpointers import Lease, RunRecord, RunStore, SqliteCheckpointer
from railgraph.errors import (
    DecisionError,
    InputError,
    RunBusy,
)
from railgraph.nodes._nonfinite import exact_json
from railgraph.vocab import RunEventKind, RunStatus

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from railgraph._telemetry import RunExporter

__all__ = ["RunOutcome", "Runner"]


class Runner(ReviewQueue, Driver):
    """Runs railgraph graphs durably on one SQLite database.

    Whoever drives a run holds its lease (see `railgraph.checkpointers.Lease`): a second runner is
    refused while the lease is live, and takes a lapsed one over.

    Example:
        >>> async def main() -> None:  # doctest: +SKIP
        ...     async with Runner.open(".railgraph/railgraph.db") as runner:
        ...         ref = "railgraph.graphs.refund:graph"
        ...         outcome = await runner.start(ref, {"ticket_id": "T-1001"})

    Args:
        saver: The checkpointer (and run store) to run on.
        clock: Wall clock for events, records and lease expiry (inject one in tests).
        timer: Monotonic clock for durations and for how long a decider waits.
        lease_s: Seconds a lease lasts without a heartbeat.
        heartbeat_s: Seconds between heartbeats; a third of ``lease_s`` if unset.
        decision_wait_s: How long a decision waits for another process driving the run
            to deliver it, before it reports that the decision is recorded.
    """

    def __init__(
        self,
        saver: SqliteCheckpointer,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        lease_s: float = 30.0,
        heartbeat_s: float | None = None,
        decision_wait_s: float = 30.0,
        telemetry: RunExporter | None = None,
    ) -> None:
        self.saver = saver
        self.telemetry = telemetry
        """Exports each drive of a run as OpenTelemetry spans; ``None`` when off."""
        self.store: RunStore = saver.store
        self.clock = clock
        self.timer = timer
        self.lease = Lease.here(uuid.uuid4().hex[:12])
        """Who this runner is when it holds a run's lease."""
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else lease_s / 3
        self.decision_wait_s = decision_wait_s
        self._graphs: dict[str, RailGraph] = {}
        self._started: dict[str, RailGraph] = {}
        self._compiled: dict[int, CompiledStateGraph[Any, Any, Any, Any]] = {}
        self._cancelled_here: set[str] = set()
        """Runs cancelled through this runner: the in-process kill switch."""

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
        lease_s: float = 30.0,
        heartbeat_s: float | None = None,
        decision_wait_s: float = 30.0,
        tracer_provider: TracerProvider | None = None,
    ) -> AsyncIterator[Runner]:
        """Open the database and yield a runner on it.

        Args:
            db: The database file, or a PostgreSQL URL (``postgresql://...``);
                ``$RAILGRAPH_DB`` or ``.railgraph/railgraph.db`` if unset.
            synchronous: ``"NORMAL"`` survives a process crash, ``"FULL"`` also a power loss;
                ``$RAILGRAPH_SYNCHRONOUS`` or NORMAL if unset.
            clock: Wall clock for events and records (inject one in tests).
            timer: Monotonic clock for durations.
            read_only: Open an existing database without creating, migrating or changing
                anything (for listing and showing runs); every write then fails.
            redact: Key words that name secrets, redacted from events, review requests
                and the ledger's arguments (see ``railgraph.checkpointers.Redactor``);
                ``$RAILGRAPH_REDACT`` or railgraph's list if unset.
            lease_s: Seconds a run's lease lasts without a heartbeat.
            heartbeat_s: Seconds between heartbeats; a third of ``lease_s`` if unset.
            decision_wait_s: How long a decision waits for another process that drives
                the run to deliver it.
            tracer_provider: Export runs as OpenTelemetry spans on this provider; with none,
                ``RAILGRAPH_OTEL=1`` configures the SDK from the ``OTEL_*`` variables (a
                read-only runner exports nothing).
        """
        async with AsyncExitStack() as stack:
            telemetry = None
            provider: Any = tracer_provider
            if provider is None and not read_only:
                from railgraph._telemetry_sdk import tracer_provider_from_env

                provider = tracer_provider_from_env()
                if provider is not None:
                    stack.callback(provider.shutdown)  # flush what a CLI command exported
            if provider is not None:
                from railgraph._telemetry import RunExporter

                telemetry = RunExporter(provider)
            saver = await stack.enter_async_context(
                open_saver(
                    db if db is not None else default_db(),
                    synchronous=synchronous,
                    redact=redact,
                    clock=clock,
                    read_only=read_only,
                )
            )
            yield cls(
                saver,
                clock=clock,
                timer=timer,
                lease_s=lease_s,
                heartbeat_s=heartbeat_s,
                decision_wait_s=decision_wait_s,
                telemetry=telemetry,
            )

    # -- graphs ------------------------------------------------------------------------------

    def graph(self, ref: str | RailGraph) -> tuple[str, RailGraph]:
        """Resolve a graph and the reference under which its runs are stored."""
        # One reference per graph in the store, however the caller spelt it.
        key = stored_ref(ref)
        if isinstance(ref, RailGraph):
            self._graphs[key] = ref
            return key, ref
        ref = key
        if ref not in self._graphs:
            self._graphs[ref] = load_graph(ref)
        return ref, self._graphs[ref]

    def register(self, ref: str, graph: RailGraph) -> None:
        """Use ``graph`` for runs stored under ``ref`` in this runner.

        For a graph built by a factory with local parts (a test double of a system, another
        model) that stands for an importable reference.
        """
        self._graphs[canonical_ref(ref)] = graph

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
        return run_config(
            graph,
            record.run_id,
            budget=record.budget,
            store=self.store,
            clock=self.clock,
            timer=self.timer,
            cancelled=functools.partial(self._is_cancelled, record.run_id),
            driver=self.lease.owner,
            thread_id=record.run_id,
        )

    async def _is_cancelled(self, run_id: str) -> bool:
        # The kill switch, asked before every LLM and tool call: a cancel made by this
        # process is known here at once; one made by another process is read as two
        # columns by key on the loop's thread. (The ledger also refuses an effect after
        # a cancel in the same transaction that claims it.)
        if run_id in self._cancelled_here:
            return True
        state = await self.store.run_state(run_id)
        if state is None:
            return False
        if state.status == RunStatus.RUNNING and state.lease_owner != self.lease.owner:
            record = await self._record(run_id)
            raise RunBusy(
                f"this runner lost its lease on run {run_id} (its heartbeat lapsed) and stops "
                "driving it; " + (busy_message(record) if record.lease_owner else "resume it")
            )
        return state.status == RunStatus.CANCELLED

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
        rail, record, state = await self._create(graph, input, budget, run_id, started_by, True)
        self._started[record.run_id] = rail
        return await self._hold(rail, record, state)

    async def submit(
        self,
        graph: str | RailGraph,
        input: Mapping[str, Any],
        *,
        budget: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        started_by: str | None = None,
    ) -> RunOutcome:
        """Record a run for a worker (``railgraph worker``) to drive; nothing runs here.

        The run is stored ``running`` with nobody's lease, checked as :meth:`start` checks
        it. Any runner that resumes it starts it from its input: a worker's drive job, or
        the workers' sweep, which finds every run that nobody drives.

        Raises:
            InputError: As :meth:`start`; nothing is stored then.
        """
        _, record, _ = await self._create(graph, input, budget, run_id, started_by, False)
        return RunOutcome(record.run_id, RunStatus.RUNNING, {}, {}, None)

    async def _create(
        self,
        graph: str | RailGraph,
        input: Mapping[str, Any],
        budget: Mapping[str, Any] | None,
        run_id: str | None,
        started_by: str | None,
        leased: bool,
    ) -> tuple[RailGraph, RunRecord, dict[str, Any]]:
        """Store a new run (with this runner's lease if ``leased``) and its first event."""
        ref, rail = self.graph(graph)
        state = rail.validate_input(input)
        started_by = starter(started_by)
        envelope = rail.budget.override(dict(budget or {}))
        record, started = new_run(
            rail,
            run_id=run_id or uuid.uuid4().hex[:12],
            ref=ref,
            input=exact_json(state),
            budget=envelope.limits(),
            started_by=started_by,
            clock=self.clock,
            lease=self.lease if leased else None,
            lease_s=self.lease_s,
        )
        # One transaction: the run and its first event.
        await self.store.create_run(record, events=[started])
        return rail, record, state.model_dump()

    async def resume(self, run_id: str, *, allow_changed_graph: bool = False) -> RunOutcome:
        """Continue a run: with the decisions taken on its requests, or after a crash.

        Nothing that finished before is run again: LangGraph restarts from the last saved
        step and keeps the writes of tasks that finished in it; tool effects that completed
        are replayed from the ledger. Every branch a crash interrupted goes on, whatever
        other branches still wait for.

        Raises:
            RunBusy: Another live process drives the run; nothing was changed.
            DecisionError: The run has ended, or its graph changed.
            RunInterrupted: A database fault stopped the run again; it stays resumable.
        """
        record = await self._record(run_id)
        if record.status in ENDED:
            raise DecisionError(f"run {run_id} is {record.status}; there is nothing to resume")
        rail = self._graph_of(record)
        await self._check_signature(record, rail, allow_changed_graph)
        claim = await self.store.acquire_lease(run_id, self.lease, ttl=self.lease_s)
        if not claim.granted:
            if claim.record.status in ENDED:
                raise DecisionError(
                    f"run {run_id} is {claim.record.status}; there is nothing to resume"
                )
            raise RunBusy(busy_message(claim.record))
        return await self._hold(rail, claim.record, None)

    async def cancel(self, run_id: str, *, by: str, reason: str) -> RunOutcome:
        """Stop a run for good, as :meth:`ReviewQueue.cancel`; the cancel is exported too.

        A run this process drives stops before its next LLM or tool call without reading
        the database (the in-process kill switch).
        """
        outcome = await super().cancel(run_id, by=by, reason=reason)
        self._cancelled_here.add(run_id)
        if self.telemetry is not None:
            await self.telemetry.export(self.store, run_id, self._started.get(run_id))
        return outcome

    # -- internals ---------------------------------------------------------------------------

    async def _hold(self, rail: RailGraph, record: RunRecord, first: Any) -> RunOutcome:
        outcome = await super()._hold(rail, record, first)
        # Telemetry is derived from what the drive stored, once it is stored.
        if self.telemetry is not None:
            await self.telemetry.export(self.store, record.run_id, rail)
        return outcome

    async def _record(self, run_id: str) -> RunRecord:
        record = await self.store.get_run(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in this database; list runs with `railgraph runs`")
        return record

    async def _check_signature(self, record: RunRecord, rail: RailGraph, allow: bool) -> None:
        if rail.signature == record.signature or allow:
            return
        events = await self.store.list_events(record.run_id)
        started = next(
            (e for e in events if e.kind == RunEventKind.RUN_STARTED and "spec" in e.data), None
        )
        changes = ""
        if started is not None:
            lines = GraphSpec.model_validate(started.data["spec"]).changes(rail.spec)
            changes = "".join(f"\n  - {line}" for line in lines)
        raise DecisionError(
            f"graph {record.graph} changed since run {record.run_id} started (signature "
            f"{record.signature} -> {rail.signature}); compare with `railgraph spec "
            f"{record.graph}`, and pass --allow-changed-graph to resume anyway{changes}"
        )
