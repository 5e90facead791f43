"""The one SQLite connection that the checkpointer and the run store share.

Transactions are bodies (see `_tx`). A `Database` runs them in one of two ways:

- **one trip**: `BEGIN`, every statement and `COMMIT` (or `ROLLBACK`) run as a
  single call in aiosqlite's worker thread. Each trip between the event loop
  and that thread costs tens of microseconds, more than most statements do.
  Writes that are waiting together also commit together (*group commit*): a
  node's writes and the checkpoint after it arrive in the same turn of the
  event loop, and one transaction stores both. Each write still runs in its own
  savepoint, fails alone, and returns only once its commit is done.
- **one call per statement**, through aiosqlite's public API, when the private
  hook that the first way needs is missing (see `_worker_hook`).

Either way every transaction holds the database's lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import aiosqlite

from railgraph.errors import StoreError

from ._tx import Body, Outcome, run_batch

__all__ = ["Clock", "Database", "Synchronous", "open_database"]

Synchronous = Literal["NORMAL", "FULL"]
"""SQLite's `synchronous` setting: `FULL` also survives power loss in WAL mode."""

Clock = Callable[[], float]
"""Returns the current time in unix seconds; injected so tests need no sleeps."""

_T = TypeVar("_T")

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 30_000
WAL_AUTOCHECKPOINT_PAGES = 4_000
"""Pages (16 MB) the WAL may hold before a commit copies them into the database.

SQLite's default, 1,000, makes one commit in every hundred or so nodes pay for a
checkpoint and its fsyncs; at 4,000 the pauses are rarer, and a 20-node graph
ran about 6% faster per node. (A checkpoint from a second connection in the
background did not help: with one busy writer it never catches up, so the WAL
never restarts.) Closing the last connection still checkpoints and removes it.
"""

_InWorker = Callable[[Callable[[sqlite3.Connection], _T]], Awaitable[_T]]


def _worker_hook(conn: aiosqlite.Connection) -> _InWorker[Any] | None:
    """A way to run a function of the raw connection in aiosqlite's worker thread.

    aiosqlite has no public API for this: every public call is one statement,
    one trip to its thread. Its private `Connection._execute(fn, *args)` queues
    `fn` on that thread and awaits it, and `Connection._conn` is the raw
    connection; both have been stable across many releases. This is the only
    place that touches them. If a release drops either, this returns `None` and
    `Database` runs each statement as its own public call instead.
    """
    queue = getattr(conn, "_execute", None)
    if not callable(queue) or not isinstance(getattr(type(conn), "_conn", None), property):
        return None

    def in_worker(fn: Callable[[sqlite3.Connection], Any]) -> Awaitable[Any]:
        # `_conn` is read in the worker thread; it raises ValueError once closed.
        return cast(Awaitable[Any], queue(lambda: fn(conn._conn)))

    return in_worker


class _Waiting:
    """A write body waiting for the next batch, and the future its caller awaits."""

    __slots__ = ("body", "done")

    def __init__(self, body: Body[Any], done: asyncio.Future[Any]) -> None:
        self.body = body
        self.done = done


class Database:
    """An open SQLite database with one connection, one lock and one clock.

    Every transaction holds the lock. A single connection has a single
    transaction, so a read that ran while a writer's transaction was open would
    see the writer's uncommitted rows; running each transaction whole, under the
    lock, keeps every read consistent.

    Args:
        conn: An open aiosqlite connection in autocommit mode.
        location: The file path or `":memory:"`, for error messages.
        clock: Source of timestamps for stored records.
        one_trip: Run each transaction as one call in aiosqlite's worker thread
            when aiosqlite allows it; `False` forces one public call per statement.
    """

    def __init__(
        self, conn: aiosqlite.Connection, *, location: str, clock: Clock, one_trip: bool = True
    ) -> None:
        self.conn = conn
        """The underlying aiosqlite connection (exposed for diagnostics)."""
        self.location = location
        """Where the database lives: a file path or `":memory:"`."""
        self.clock = clock
        """Returns the current time in unix seconds."""
        self.lock = asyncio.Lock()
        """Serializes every use of `conn`."""
        self._in_worker = _worker_hook(conn) if one_trip else None
        self._waiting: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None

    @property
    def one_trip(self) -> bool:
        """Whether each transaction runs as one call in aiosqlite's worker thread."""
        return self._in_worker is not None

    async def write(self, body: Body[_T]) -> _T:
        """Run `body` as a write transaction; its changes are committed when this returns.

        Its changes are rolled back if it raises. `BEGIN IMMEDIATE` takes
        SQLite's write lock up front, so another process writing the same file
        makes this wait (up to the busy timeout) instead of failing half-way.
        """
        if self._in_worker is None:
            async with self.lock:
                return await self._transact_in_calls("BEGIN IMMEDIATE", body)
        done: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(body, done))
        if self._committer is None:
            # A new task first runs on the loop's next turn, so writes made in this
            # turn (a node's writes, then the checkpoint after it) join the batch.
            self._committer = asyncio.create_task(self._commit_waiting())
        return await done

    async def read(self, body: Body[_T]) -> _T:
        """Run `body` as one read transaction (a consistent snapshot)."""
        async with self.lock:
            if self._in_worker is None:
                return await self._transact_in_calls("BEGIN", body)
            (outcome,) = await self._in_thread("BEGIN", [body])
        if outcome.error is not None:
            raise outcome.error
        return cast(_T, outcome.value)

    async def _commit_waiting(self) -> None:
        """Commit waiting writes in batches until none wait; the lock is released between."""
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                async with self.lock:
                    batch = [w for w in self._waiting if not w.done.done()]  # not cancelled
                    self._waiting = []
                    if not batch:
                        continue
                    try:
                        outcomes = await self._in_thread("BEGIN IMMEDIATE", [w.body for w in batch])
                    except Exception as exc:
                        outcomes = [Outcome(error=exc)] * len(batch)
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    if waiting.done.done():
                        continue  # its caller stopped waiting (cancelled)
                    if outcome.error is not None:
                        waiting.done.set_exception(outcome.error)
                    else:
                        waiting.done.set_result(outcome.value)
                batch = []
        finally:
            self._committer = None
            # Only when this task itself was cancelled (the loop is shutting down):
            # nobody is left to run these writes, so their callers must not wait on.
            for waiting in [*batch, *self._waiting]:
                waiting.done.cancel()
            self._waiting = []

    async def _in_thread(self, begin: str, bodies: Sequence[Body[Any]]) -> list[Outcome]:
        """Run bodies as one transaction in the worker thread; SQL errors become `StoreError`."""
        assert self._in_worker is not None
        in_worker: _InWorker[list[Outcome]] = self._in_worker
        started = False

        def whole(conn: sqlite3.Connection) -> list[Outcome]:
            nonlocal started
            started = True
            return run_batch(conn, begin, bodies)

        try:
            outcomes = await in_worker(whole)
        except sqlite3.Error as exc:
            raise _store_error(self, exc) from exc
        except ValueError as exc:
            if started:
                raise
            # aiosqlite raises ValueError once the connection is closed.
            raise _store_error(self, exc) from exc
        return [
            Outcome(error=_store_error(self, o.error)) if isinstance(o.error, sqlite3.Error) else o
            for o in outcomes
        ]

    async def _transact_in_calls(self, begin: str, body: Body[_T]) -> _T:
        try:
            # Inside the `try`: a caller cancelled while BEGIN is queued has still begun.
            await self._run(begin)
            try:
                statement = next(body)
                while True:
                    result = await _guard(self, statement.run_calls(self.conn))
                    statement = body.send(result)
            except StopIteration as finished:
                outcome = cast(_T, finished.value)
            finally:
                body.close()
            await self._run("COMMIT")
        except BaseException as exc:
            # Also on cancellation and on a failed COMMIT. aiosqlite runs calls in
            # order, so this runs after any statement still queued.
            try:
                await self._run("ROLLBACK")
            except StoreError as rollback_error:
                # SQLite may already have rolled back, or BEGIN failed; keep the
                # original error.
                if self.conn.in_transaction:
                    exc.add_note(f"rolling back afterwards also failed: {rollback_error}")
            raise
        return outcome

    async def _run(self, sql: str) -> None:
        await _guard(self, self.conn.execute_fetchall(sql))

    async def close(self) -> None:
        """Close the connection once waiting writes are committed; later use raises `StoreError`."""
        while self._committer is not None:
            await asyncio.wait([self._committer])
        async with self.lock:
            await self.conn.close()


async def _guard(db: Database, awaitable: Awaitable[_T]) -> _T:
    """Await one public aiosqlite call, turning SQLite's errors into `StoreError`."""
    try:
        result = await awaitable
    except (sqlite3.Error, ValueError) as exc:
        # aiosqlite raises ValueError once the connection is closed.
        raise _store_error(db, exc) from exc
    return result


def _store_error(db: Database, exc: Exception) -> StoreError:
    error = StoreError(
        f"the railgraph database at {db.location} failed: {exc}. Check that the file "
        "is writable, the disk is not full and the checkpointer is still open "
        "(use it inside `async with SqliteCheckpointer.from_path(...)`)."
    )
    error.__cause__ = exc
    return error


async def _switch_to_wal(db: Database) -> None:
    """Put the file in WAL mode, waiting up to the busy timeout for its write lock.

    Switching a new file to WAL takes its write lock, which another process may
    hold, mid-switch itself. SQLite answers "database is locked" at once there
    rather than calling the busy handler, so the switch is retried here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            (row,) = await _guard(db, db.conn.execute_fetchall("PRAGMA journal_mode=WAL"))
        except StoreError as exc:
            cause = exc.__cause__
            busy = isinstance(cause, sqlite3.OperationalError) and (
                cause.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            )
            if not busy or time.monotonic() + pause > deadline:
                raise
        else:
            if row[0] in ("wal", "memory"):
                return
            if time.monotonic() + pause > deadline:
                raise StoreError(
                    f"the railgraph database at {db.location} stayed in {row[0]!r} journal "
                    "mode: another process kept it locked. Close other programs using the "
                    "file and try again."
                )
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


def _prepare_file(path: Path) -> str:
    """Create the database file's parent directories; return the expanded path."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


@asynccontextmanager
async def open_database(
    path: str | Path, *, synchronous: Synchronous, clock: Clock = time.time, one_trip: bool = True
) -> AsyncIterator[Database]:
    """Open (creating if needed) the database file and configure the connection.

    Args:
        path: A file path, whose parent directories are created, or `":memory:"`.
        synchronous: SQLite's `synchronous` pragma, `"NORMAL"` or `"FULL"`.
        clock: Source of timestamps for stored records.
        one_trip: See `Database`.

    Yields:
        The open database; it is closed when the block exits.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise StoreError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
    location = str(path)
    if location != MEMORY:
        location = await asyncio.to_thread(_prepare_file, Path(location))
    try:
        # isolation_level=None: transactions are begun and ended explicitly.
        conn = await aiosqlite.connect(location, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open the railgraph database at {location}: {exc}. "
            "Check the path and its permissions."
        ) from exc
    conn.row_factory = sqlite3.Row
    db = Database(conn, location=location, clock=clock, one_trip=one_trip)
    try:
        await db._run(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await _switch_to_wal(db)
        # Pragmas take no parameters; the value was checked against a fixed set above.
        await db._run(f"PRAGMA synchronous={synchronous}")
        await db._run("PRAGMA foreign_keys=ON")
        await db._run(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        yield db
    finally:
        await db.close()
