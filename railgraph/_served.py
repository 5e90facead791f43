"""A railgraph graph as LangGraph's server runs it, with its rails.

The server knows only a graph: it starts runs on threads, shows a thread that waits as
*interrupted* and resumes it with ``Command(resume=...)``. So the served graph does itself
what the runner does around a run:

- a first node records the run (``running``, its ``run_started`` event), as ``start`` does;
- every declared node runs as under the runner (budget, policy, ledger, events harvested by
  the checkpointer); a node that fails records the run's failure before the server sees it;
- a deferred *settle* node runs once nothing else can: the end of every branch and every
  parked approve gate lead to it. With parked requests it registers them in the review
  queue, marks the run ``paused`` and calls ``interrupt()`` for the first; the answer is
  checked by the queue's rules and recorded, the run goes back to ``running``, and the
  decision is delivered to its gate while the settle node waits for the rest. With none,
  it finishes the run as the runner would.
- a tool node that finds its effect's outcome unknown (a crash between the effect and its
  record) asks the same way, from the node, through its runtime's ``ask``: the request is
  registered and announced, the run paused, the answer checked and recorded, and the node
  goes on with the decision (see ``railgraph._served_ask``).

A node that asks re-runs from its first line on resume; everything it does before
``interrupt()`` is idempotent (registering known requests, pausing a paused run), and it
acts only after a valid answer.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig

# Where LangGraph hands a running graph its checkpointer (the server reads it there too).
from langgraph._internal._constants import CONFIG_KEY_CHECKPOINTER
from langgraph.errors import GraphBubbleUp
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from pydantic import BaseModel

from railgraph._assemble import ServingNodes, build_langgraph
from railgraph._graph import RailGraph
from railgraph._identity import starter
from railgraph._queue import register_requests
from railgraph._run_parts import (
    cancel_wins,
    failure_record,
    finish_record,
    new_run,
    pause_record,
    run_config,
    store_ending,
)
from railgraph._served_ask import Asking, identity_of
from railgraph._served_db import DATABASES, db_key
from railgraph._served_review import asked_request
from railgraph._settings import load_graph, stored_ref
from railgraph.checkpointers import (
    Lease,
    RunRecord,
    RunStore,
    model_types,
)
from railgraph.errors import (
    DefinitionError,
    InputError,
    StoreError,
)
from railgraph.nodes import RailNode
from railgraph.nodes._channels import deliveries_update, open_requests, requests_of
from railgraph.nodes._nonfinite import exact_json
from railgraph.nodes._runtime import runtime_from_config
from railgraph.nodes._state import EVENTS
from railgraph.vocab import ApprovalStatus, RunStatus

__all__ = ["BEGIN", "SERVER_LEASE", "SETTLE", "ServedGraph", "served"]

BEGIN = "__railgraph_begin__"
"""The node that records a served run before its first declared node."""
SETTLE = "__railgraph_settle__"
"""The deferred node that asks for decisions and finishes a served run."""
SERVER_LEASE = "langgraph-server"
"""Who holds a served run's lease while the server drives it: a runner sees it as busy."""


def served(
    graph: str | RailGraph,
    *,
    db: str | Path | None = None,
    lease_s: float = 3600.0,
) -> ServedGraph:
    """A graph factory for ``langgraph.json`` that serves a railgraph graph with its rails.

    Example (``serve.py``, named in ``langgraph.json`` as ``"refund": "./serve.py:refund"``):
        >>> from railgraph.server import served  # doctest: +SKIP
        >>> refund = served("railgraph.graphs.refund:graph")  # doctest: +SKIP

    Args:
        graph: The graph, or its import reference (``module:attr``).
        db: The database of checkpoints and the run store; ``$RAILGRAPH_DB`` or
            ``.railgraph/railgraph.db`` if unset. Name the same one for the server's
            checkpointer (``railgraph.server.checkpointer`` reads ``$RAILGRAPH_DB``).
        lease_s: Seconds a served run's lease lasts while the server drives it.
    """
    return ServedGraph(graph, db=db, lease_s=lease_s)


class ServedGraph:
    """A railgraph graph as a graph factory for LangGraph's server (see :func:`served`).

    The server calls it with each run's config; it yields the served graph with the run's
    :class:`railgraph.nodes.Runtime` bound (the thread id is the run id).
    """

    def __init__(
        self,
        graph: str | RailGraph,
        *,
        db: str | Path | None = None,
        lease_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        # Stored under the reference the runner would store it under (see `Runner.graph`).
        self.ref = stored_ref(graph)
        self.rail = load_graph(self.ref) if isinstance(graph, str) else graph
        if self.rail.declaration is None:
            raise DefinitionError(
                f"graph {self.rail.name!r} was not made by GraphBuilder.build(), so it cannot "
                "be served; build it with railgraph's GraphBuilder"
            )
        self.db = db_key(db)
        """The database file (absolute) or ``:memory:``."""
        self.lease = Lease.here(SERVER_LEASE)
        self.lease_s = lease_s
        self.clock = clock
        self.timer = timer
        self.types = model_types(self.rail.builder.state_schema)
        """The classes the graph's checkpoints may name (the loader's allowlist)."""
        DATABASES.types.update(self.types)
        self.asking = Asking(self.rail, self.db, self.lease, lease_s, clock)
        """How the served graph asks people (the settle node, and tool nodes about unknown
        effects)."""
        serving = ServingNodes(
            begin=(BEGIN, self._begin), settle=(SETTLE, self._settle), wrap=self._wrap
        )
        builder = build_langgraph(
            self.rail.declaration, self.rail.nodes, self.rail.state_model, serving=serving
        )
        compiled = builder.compile(name=self.rail.name)
        self.app: CompiledStateGraph[Any, Any, Any, Any] = _Durable(
            after_drive=functools.partial(_paused_if_asking, self),
            **{k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"},
        )
        """The served graph, without a checkpointer (the server gives it its own)."""

    @asynccontextmanager
    async def __call__(
        self, config: RunnableConfig
    ) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
        saver = await DATABASES.get(self.db)
        saver.allow_types(self.types)
        run_id = str((config.get("configurable") or {}).get("thread_id") or "")
        record = await saver.store.get_run(run_id) if run_id else None
        yield self.app.with_config(self.config(saver.store, run_id, record))

    def config(self, store: RunStore, run_id: str, record: RunRecord | None) -> RunnableConfig:
        """The config that binds a run's runtime to the served graph."""
        # The server drives the run, not a runner: the ledger checks no runner's lease on
        # its claims (no ``driver``), and the server's config names the thread.
        return run_config(
            self.rail,
            run_id,
            budget=record.budget if record else None,
            store=store,
            clock=self.clock,
            timer=self.timer,
            cancelled=functools.partial(_cancelled, store, run_id),
            driver=None,
            thread_id=None,
        )

    # -- the nodes the server runs around the declared ones ---------------------------------

    async def _begin(self, state: BaseModel, config: RunnableConfig) -> dict[str, Any]:
        runtime = runtime_from_config(config)
        # The server's own checkpointer would keep the thread but drop the nodes' events,
        # which railgraph's stores as the run's trace: refuse before anything is stored.
        used = (config.get("configurable") or {}).get(CONFIG_KEY_CHECKPOINTER)
        if getattr(used, "event_channel", None) != EVENTS or not isinstance(
            getattr(used, "store", None), RunStore
        ):
            raise DefinitionError(
                f"graph {self.rail.name!r} is served on a checkpointer that is not railgraph's "
                f"({type(used).__name__}), which would lose its runs' events; add "
                '"checkpointer": {"backend": "custom", "path": '
                '"railgraph.server.checkpointer"} to langgraph.json'
            )
        store = (await DATABASES.get(self.db)).store
        known = await store.get_run(runtime.run_id)
        if known is not None:
            if known.status == RunStatus.RUNNING:
                return {}  # recorded by this step before a crash stopped it
            raise InputError(
                f"thread {runtime.run_id} already holds railgraph run {runtime.run_id}, which "
                f"is {known.status}; start each run on a new thread"
            )
        record, started = new_run(
            self.rail,
            run_id=runtime.run_id,
            ref=self.ref,
            input=self.rail.user_values(exact_json(state)),
            budget=runtime.envelope.limits(),
            started_by=identity_of(config) or starter(None),
            clock=self.clock,
            lease=self.lease,
            lease_s=self.lease_s,
        )
        await store.create_run(record, events=[started])
        return {}

    def _wrap(self, node: RailNode) -> Callable[..., Any]:
        async def recorded(state: BaseModel, config: RunnableConfig) -> dict[str, Any]:
            try:
                # Its runtime asks a person through the queue, as the settle node does.
                return await node(state, self.asking.bound(state, config))
            except GraphBubbleUp:
                raise  # an interrupt, not a failure
            except Exception as exc:
                await self._failed(state, config, exc)
                raise

        return recorded

    async def _failed(self, state: BaseModel, config: RunnableConfig, error: Exception) -> None:
        """Record how a node's failure ends the run, as the runner's settle does."""
        runtime = runtime_from_config(config)
        store = (await DATABASES.get(self.db)).store
        values = dict(state)
        # As the runner's settle: a run cancelled meanwhile ends cancelled, with the
        # reason given when it was cancelled.
        try:
            ended, expect = await cancel_wins(store, runtime.run_id, error)
        except InputError:
            return  # the run is no longer in the store: the node's error stands alone
        assert ended is not None
        ending = failure_record(ended, values, self.clock)
        await store_ending(
            store,
            runtime.run_id,
            self.lease.owner,
            ending,
            result=self.rail.user_values(values),
            expect=expect,
        )

    async def _settle(self, state: BaseModel, config: RunnableConfig) -> Any:
        runtime = runtime_from_config(config)
        store = (await DATABASES.get(self.db)).store
        run_id = runtime.run_id
        values = dict(state)
        result = self.rail.user_values(values)
        now = await store.run_state(run_id)
        if now is not None and (now.status, now.lease_owner) == (
            RunStatus.CANCELLED,
            self.lease.owner,
        ):
            # Cancelled while this drive ran (its lease is still held): as the runner's
            # settle, the kill switch wins over a pause or an end. (A run cancelled while
            # paused holds no lease: an answer to it is refused below, with the reason.)
            cancelled, expect = await cancel_wins(store, run_id, None)
            assert cancelled is not None
            ending = failure_record(cancelled, values, self.clock)
            await store_ending(
                store, run_id, self.lease.owner, ending, result=result, expect=expect
            )
            return {}
        waiting = [
            (key, entry)
            for key, entry in requests_of(values).items()
            if entry.open and entry.request_id is not None
        ]
        if not waiting:
            ending = finish_record(values, self.clock)
            await store_ending(store, run_id, self.lease.owner, ending, result=result)
            return {}
        record = await store.get_run(run_id)
        if record is None:
            raise InputError(f"no railgraph run {run_id!r}: the thread was not started here")
        # Idempotent, so the re-run on resume changes nothing: known requests are not
        # registered again, and a paused run is not paused again.
        pending = await register_requests(
            store, record, self.rail.name, open_requests(values), clock=self.clock
        )
        ending = pause_record(pending, values)
        await store_ending(store, run_id, self.lease.owner, ending, result=result)
        key, entry = waiting[0]
        assert entry.request_id is not None
        approval = await store.get_approval(entry.request_id)
        assert approval is not None
        chosen = await self.asking.answer(store, approval, record, config)
        return Command(
            update=deliveries_update({key: (entry.request_id, chosen)}),
            goto=[entry.target(key), SETTLE],
        )


async def _paused_if_asking(
    served: ServedGraph, app: CompiledStateGraph[Any, Any, Any, Any], config: RunnableConfig | None
) -> None:
    """Pause a run whose thread stopped on questions while the run shows `running`.

    Each question pauses the run when it is asked, and an answer takes the lease back; when
    branches of one step asked together and one is answered, the others still wait, so the
    run is paused again once the drive ends, as the runner pauses once after its drive.
    """
    configurable = (config or {}).get("configurable") or {}
    run_id = str(configurable.get("thread_id") or "")
    if not run_id:
        return
    store = (await DATABASES.get(served.db)).store
    now = await store.run_state(run_id)
    if now is None or (now.status, now.lease_owner) != (RunStatus.RUNNING, served.lease.owner):
        return
    # The thread's latest state (not a checkpoint the drive may have named).
    latest: dict[str, Any] = {"thread_id": run_id, "checkpoint_ns": ""}
    if CONFIG_KEY_CHECKPOINTER in configurable:
        latest[CONFIG_KEY_CHECKPOINTER] = configurable[CONFIG_KEY_CHECKPOINTER]
    snapshot = await app.aget_state({"configurable": latest})
    asked = [asked_request(i.id, i.value) for i in snapshot.interrupts]
    questions = [request_id for request_id, _, served_here in asked if served_here]
    if not questions:
        return
    pending = await store.list_approvals(run_id=run_id, status=ApprovalStatus.PENDING)
    values = dict(snapshot.values)
    still = {p.request_id for p in pending}
    # Decided elsewhere, not yet delivered: the thread waits for the server's next answer.
    decided = [request_id for request_id in questions if request_id not in still]
    ending = pause_record(pending, values, decided)
    await store_ending(
        store, run_id, served.lease.owner, ending, result=served.rail.user_values(values)
    )


class _Durable(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled graph that stores each step before the next starts, whatever it is asked.

    The server runs graphs with ``durability="async"`` unless a run asks otherwise; railgraph
    promises that a node's result is durable before the next node starts. Every way the
    server runs a graph (``ainvoke``, ``astream``, ``astream_events``) goes through
    ``astream``, and the server's copies of the graph keep this class.
    """

    def __init__(self, *, after_drive: AfterDrive | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.after_drive = after_drive
        """What to do once a drive has run to its end (kept by the server's copies)."""

    def astream(  # one keyword forced; the overloads above it are unchanged
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        kwargs.pop("checkpoint_during", None)
        kwargs["durability"] = "sync"
        # LangGraph's `astream` is an async generator (it has `aclose`).
        stream = cast("AsyncGenerator[Any, None]", super().astream(input, config, **kwargs))
        return stream if self.after_drive is None else self._then(stream, config)

    async def _then(self, stream: AsyncGenerator[Any, None], config: RunnableConfig | None) -> Any:
        # Closed with this one, as LangGraph's own stream is when the server stops reading.
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                yield chunk
        assert self.after_drive is not None
        # The drive is done and stored: a store fault here leaves the run as the drive left
        # it (its lease lapses), rather than report a finished drive as failed.
        with contextlib.suppress(StoreError):
            await self.after_drive(self, config)


AfterDrive = Callable[
    [CompiledStateGraph[Any, Any, Any, Any], RunnableConfig | None], Awaitable[None]
]
"""Called with the graph and the drive's config once a drive has run to its end."""


async def _cancelled(store: RunStore, run_id: str) -> bool:
    """The kill switch of a served run: whether someone cancelled it."""
    state = await store.run_state(run_id)
    return state is not None and state.status == RunStatus.CANCELLED
