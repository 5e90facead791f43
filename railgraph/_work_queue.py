"""The work queue: drive jobs on procrastinate, a job queue in PostgreSQL.

railgraph schedules nothing itself. A *drive job* names one run; whichever worker fetches
it (``FOR UPDATE SKIP LOCKED``) resumes the run under the run's lease. A queueing lock per
run keeps at most one job per run waiting, however many deciders, submitters and sweeps
ask. The queue gives at-least-once delivery of these jobs; exactly-once effects come from
the run's lease and the tool-effect ledger, never from the queue.

Only this module and the worker import procrastinate (the ``worker`` extra).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from railgraph._settings import (  # not the store's: `--help` imports this module
    default_db,
    is_postgres_url,
)
from railgraph.errors import InputError, StoreError

if TYPE_CHECKING:
    import procrastinate

__all__ = [
    "DRIVE_TASK",
    "QUEUE",
    "QUEUE_ENV",
    "SWEEP_TASK",
    "WorkQueue",
    "queue_url",
]

QUEUE_ENV: Final = "RAILGRAPH_QUEUE_DB"
"""Environment variable naming the work queue's PostgreSQL database."""
QUEUE: Final = "railgraph"
"""The procrastinate queue that railgraph's jobs go to."""
DRIVE_TASK: Final = "railgraph.drive"
"""The task that drives one run: its only argument is ``run_id``."""
SWEEP_TASK: Final = "railgraph.sweep"
"""The periodic task that hands out runs nobody drives."""
_SCHEMA_LOCK: Final = 0x7261696C  # "rail": one schema install at a time across workers


def queue_url(queue_db: str | None, db: str | Path | None) -> str:
    """The work queue's database: ``--queue-db``, ``$RAILGRAPH_QUEUE_DB``, or the run
    store's own (``--db``, else ``$RAILGRAPH_DB``) when that is PostgreSQL.

    Raises:
        InputError: None is given, or the one given is not a PostgreSQL URL.
    """
    store = db if db is not None else default_db()  # --db, else $RAILGRAPH_DB
    url = queue_db or os.environ.get(QUEUE_ENV) or (str(store) if is_postgres_url(store) else None)
    if url is None:
        raise InputError(
            "workers take their jobs from a queue in PostgreSQL: pass --queue-db "
            f"postgresql://HOST/DB (or set {QUEUE_ENV}), or keep the runs themselves in "
            "PostgreSQL with --db postgresql://HOST/DB"
        )
    if not is_postgres_url(url):
        raise InputError(
            "the work queue lives in PostgreSQL: --queue-db must be a postgresql:// URL, not a file"
        )
    return url


def _engine(url: str) -> procrastinate.App:
    try:
        import procrastinate
    except ImportError:
        raise InputError(
            "railgraph's workers run on procrastinate, which is not installed: "
            "pip install 'railgraph[worker]'"
        ) from None
    # A small pool: each worker drives a few runs at once, and deciders connect briefly.
    connector = procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=4)
    return procrastinate.App(connector=connector)


_DROP_ATTEMPTS = 3
"""Times an enqueue for now drops a job waiting for later and defers again (see `enqueue`)."""


class WorkQueue:
    """Drive jobs in one PostgreSQL database; open it with :meth:`open`.

    Args:
        url: The queue's database, a ``postgresql://`` URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.app = _engine(url)
        """The procrastinate app: the worker registers its tasks on it."""

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[WorkQueue]:
        """Connect, install procrastinate's tables if the database has none, and yield.

        Raises:
            StoreError: The database cannot be reached or set up.
        """
        queue = cls(url)
        await queue.install()
        async with queue.app.open_async():
            yield queue

    async def install(self) -> None:
        """Create procrastinate's tables and functions once, if absent (under an advisory
        lock, so that workers starting together do not race)."""
        import psycopg
        from procrastinate.schema import SchemaManager

        try:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
                try:
                    cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
                    row = await cursor.fetchone()
                    if row is None or row[0] is None:
                        await conn.execute(SchemaManager.get_schema())
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
        except psycopg.Error as exc:
            why = " ".join(str(exc).split())  # the server's message, on one line
            raise StoreError(
                f"cannot reach or set up the work queue's database ({why}); start PostgreSQL "
                "or fix --queue-db"
            ) from exc

    async def enqueue(self, run_id: str, *, after_s: float | None = None) -> bool:
        """Ask a worker to drive ``run_id`` (not before ``after_s`` seconds, if given);
        ``False`` if a job for it already waits to run as soon.

        A job asked for now replaces one that waits for later (a driver's "ask again one
        lease later"): the run's one waiting job would otherwise hold a decision recorded
        meanwhile back until then.

        Raises:
            StoreError: The queue's database cannot be reached.
        """
        from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

        lock = f"{DRIVE_TASK}:{run_id}"
        task = self.app.configure_task(
            DRIVE_TASK,
            queue=QUEUE,
            queueing_lock=lock,
            schedule_in=None if after_s is None else {"seconds": after_s},
        )
        try:
            for _ in range(_DROP_ATTEMPTS):
                try:
                    await task.defer_async(run_id=run_id)
                    return True
                except AlreadyEnqueued:
                    # A job waits. Asked for now, a job waiting for later is dropped and
                    # this one deferred in its place; a driver may defer another for later
                    # in between, so a few times.
                    if after_s is not None or not await self._drop_later_jobs(lock):
                        return False
        except ConnectorException as exc:
            raise StoreError(f"cannot enqueue a drive job for run {run_id} ({exc})") from exc
        return False

    async def _drop_later_jobs(self, lock: str) -> bool:
        """Cancel the waiting jobs under ``lock`` scheduled for later; whether one was."""
        manager = self.app.job_manager
        now = datetime.now(UTC)
        dropped = False
        for job in await manager.list_jobs_async(queueing_lock=lock, status="todo"):
            if job.id is not None and job.scheduled_at is not None and job.scheduled_at > now:
                # A job a worker took meanwhile is not `todo` any more: left alone.
                dropped |= await manager.cancel_job_by_id_async(job.id, delete_job=True)
        return dropped
