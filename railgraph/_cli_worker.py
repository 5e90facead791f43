"""``railgraph worker``, and handing runs and decisions to workers (``--queue``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from railgraph._cli_app import DbOpt, command, err, fail, with_runner
from railgraph._cli_text import esc
from railgraph._work_queue import QUEUE_ENV, queue_url
from railgraph.errors import RailgraphError, StoreError

if TYPE_CHECKING:
    from railgraph._runner import Runner, RunOutcome

__all__ = ["DeliverOpt", "QueueDbOpt", "QueueOpt", "with_workers"]


QueueDbOpt = Annotated[
    str | None,
    typer.Option(
        "--queue-db",
        help=f"The work queue's PostgreSQL URL (default: ${QUEUE_ENV}, or --db when that is "
        "PostgreSQL).",
    ),
]
QueueOpt = Annotated[
    bool,
    typer.Option(
        "--queue",
        help="Hand the run to workers (`railgraph worker`) instead of driving it here.",
    ),
]

DeliverOpt = Annotated[
    bool,
    typer.Option(
        "--queue",
        help="Record the decision and let a worker (`railgraph worker`) deliver it.",
    ),
]


def with_workers(
    db: str | Path | None, queue_db: str | None, work: Callable[[Runner], Awaitable[RunOutcome]]
) -> RunOutcome:
    """Record something on a runner over ``db`` and enqueue a drive job for its run.

    When the queue cannot be reached, what ``work`` recorded stands: the workers' sweep
    finds the run by itself, and a warning says so.
    """
    import asyncio  # here, as below: `runs`, `pending` and `--help` import this module

    from railgraph._runner import Runner
    from railgraph._work_queue import WorkQueue

    async def go() -> RunOutcome:
        url = queue_url(queue_db, db)
        async with Runner.open(db) as runner:
            outcome = await work(runner)
        try:
            async with WorkQueue.open(url) as queue:
                await queue.enqueue(outcome.run_id)
        except StoreError as exc:
            err.print(
                f"[yellow]warning:[/yellow] {esc(exc)}; run {esc(outcome.run_id)} is recorded "
                "and a worker's sweep will find it",
                highlight=False,
            )
        return outcome

    try:
        return asyncio.run(go())
    except RailgraphError as exc:
        fail(exc)


def run_or_queue(
    db: str | Path | None,
    queue_db: str | None,
    queue: bool,
    work: Callable[[Runner], Awaitable[RunOutcome]],
) -> RunOutcome:
    """``work`` on a runner over ``db``: driven here, or with ``queue`` recorded and handed to
    the workers (see `with_workers`)."""
    return with_workers(db, queue_db, work) if queue else with_runner(db, work)


@command
def worker(
    db: DbOpt = None,
    queue_db: QueueDbOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="How many runs this worker drives at once.")
    ] = 1,
    graph: Annotated[
        list[str] | None,
        typer.Option(
            "--graph",
            help="Load this graph (module:attribute) at start, so that one that cannot load "
            "stops the worker now rather than failing its runs later; repeatable.",
        ),
    ] = None,
    lease: Annotated[
        float,
        typer.Option("--lease", min=1.0, help="Seconds a run's lease lasts without a heartbeat."),
    ] = 30.0,
    sweep_every: Annotated[
        int,
        typer.Option(
            "--sweep-every",
            min=1,
            max=60,
            help="Seconds between sweeps for runs that nobody drives (one worker sweeps).",
        ),
    ] = 5,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0.0,
            help="On SIGTERM or SIGINT, seconds to finish the runs being driven before "
            "their leases are given up for another worker.",
        ),
    ] = 30.0,
) -> None:
    """Drive runs from the work queue until stopped: queued runs, decided requests,
    expired requests and runs whose driver died, whichever process started them."""
    import asyncio
    import logging

    from railgraph._runner import Runner
    from railgraph._work_queue import WorkQueue
    from railgraph._worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def go() -> None:
        url = queue_url(queue_db, db)
        async with Runner.open(db, lease_s=lease) as runner:
            for ref in graph or []:
                runner.graph(ref)
            async with WorkQueue.open(url) as queue:
                work = Worker(runner, queue, sweep_every_s=sweep_every)
                err.print(f"worker ready: {concurrency} at a time, lease {lease:g} s")
                await work.run(concurrency=concurrency, grace_s=grace)

    try:
        asyncio.run(go())
    except RailgraphError as exc:
        fail(exc)
