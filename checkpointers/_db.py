"""The SQLite connections that the checkpointer and the run store share.

Transactions are bodies (see `_tx`). A `Database` runs them in one of three ways:

- **inline**: short writes (see `Database.write`) run whole on the event loop's
  own thread, on a second connection that never waits (see `_inline`). When
  another connection holds the file's write lock, they go the next way instead.
- **one trip**: `BEGIN`, every statement and `COMMIT` (or `ROLLBACK`) run as a
  single call in aiosqlite's worker thread. Each trip between the event loop
  and that thread costs tens of microseconds, more than most statements do.
- **one call per statement**, through aiosqlite's public API, when the private
  hook that the second way needs is missing (see `_worker_hook`).

A short write made while no transaction runs and none waits is run inline at
once, within the call: no task, no future, no extra turn of the event loop, as
LangGraph's in-memory saver costs. (Committing a node's writes and the checkpoint
after it together, which LangGraph hands over in one turn, saved one commit but
cost more in waiting for that turn than the commit does.) Writes that find
others waiting, or the lock held, queue up and then commit together (*group
commit*), inline or in one trip: each still runs in its own savepoint, fails
alone, and returns only once its commit is done.

Every transaction holds the database's lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

import aiosqlite

from railgraph.errors import StoreError

from ._inline import JOURNAL_SIZE_LIMIT, InlineWriter
from ._tx import Body, Outcome, fetchone, run_batch
from ._wal import IDLE_CHECKPOINT_S, WAL_AUTOCHECKPOINT_PAGES, InWorker, WalKeeper

if TYPE_CHECKING:
    from ._backend import Work

__all__ = [
    "IDLE_CHECKPOINT_S",
    "JOURNAL_SIZE_LIMIT",
    "WAL_AUTOCHECKPOINT_PAGES",
    "Clock",
    "Database",
    "Synchronous",
    "guard",
    "store_error",
]

Synchronous = Literal["NORMAL", "FULL"]
"""SQLite's `synchronous` setting: `FULL` also survives power loss in WAL mode."""

Clock = Callable[[], float]
"""Returns the current time in unix seconds; injected so tests need no sleeps."""

_T = TypeVar("_T")


def _worker_hook(conn: aiosqlite.Connection) -> InWorker[Any] | None:
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

    __slots__ = ("body", "done", "short")

    def __init__(self, body: Body[Any], done: asyncio.Future[Any], short: bool) -> None:
        self.body = body
        self.done = done
        self.short = short


class Database(WalKeeper):
    """An open SQLite database with its connections, one lock and one clock.

    One of the two backends (see `_backend`); PostgreSQL's is `_pgdb.PostgresDatabase`.

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
        wal_pages: The WAL's length, in pages, past which a checkpoint of inline
            commits also lets it start over (see `_checkpoint_wal`).
    """

    engine: Final = "sqlite"
    """Which database engine this is (see `_backend.Backend`)."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        location: str,
        clock: Clock,
        one_trip: bool = True,
        wal_pages: int = WAL_AUTOCHECKPOINT_PAGES,
    ) -> None:
        self.conn = conn
        """The underlying aiosqlite connection (exposed for diagnostics)."""
        self.location = location
        """Where the database lives: a file path or `":memory:"`."""
        self.clock = clock
        """Returns the current time in unix seconds."""
        self.lock = asyncio.Lock()
        """Serializes every transaction, on `conn` and on `inline`."""
        self.inline: InlineWriter | None = None
        """The connection short writes run on, on the loop's thread (see `_inline`);
        `None` runs them in the worker thread too."""
        self.wal_pages = wal_pages
        """The WAL's length, in pages, past which a checkpoint lets it start over."""
        self._in_worker = _worker_hook(conn) if one_trip else None
        self._waiting: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._written = False

    @property
    def one_trip(self) -> bool:
        """Whether each transaction runs as one call in aiosqlite's worker thread."""
        return self._in_worker is not None

    async def write(self, work: Work[_T], *, short: bool = False) -> _T:
        """Run `work` as a write transaction; its changes are committed when this returns.

        Its changes are rolled back if it raises. `BEGIN IMMEDIATE` takes
        SQLite's write lock up front, so another process writing the same file
        makes this wait (up to the busy timeout) instead of failing half-way.

        Args:
            work: The transaction: its body, or a function that makes it (made here,
                once: SQLite's writers never race, so a body never runs twice).
            short: The body touches a few small rows (a node's writes, a run
                record), so it may run on the event loop's own thread, which is
                quicker than a trip to the worker thread, and, when nothing else
                runs or waits, at once, within this call. Leave it `False` for
                work that grows with the data (migrations, deleting or copying
                threads) or that moves large values, which would stall the loop.
        """
        body: Body[_T] = work() if callable(work) else work
        if self._in_worker is None:
            async with self.lock:
                return await self._transact_in_calls("BEGIN IMMEDIATE", body)
        if short and self.inline is not None and self._committer is None and not self.lock.locked():
            # Nothing runs: run it now, on this thread, in one go (it never awaits, so no
            # other transaction can start meanwhile), with the short writes queued to go
            # with the next one (see `write_with_next`), in the same transaction.
            # (Without queued writes, the usual case, no list is made: this runs per commit.)
            ahead = [w for w in self._waiting if not w.done.done()] if self._waiting else []
            self._waiting = []
            try:
                outcomes = self._run_inline([*(w.body for w in ahead), body] if ahead else (body,))
            except Exception as exc:
                for waiting in ahead:
                    waiting.done.set_exception(exc)
                raise
            if outcomes is not None:
                self._when_idle()
                for waiting, queued in zip(ahead, outcomes, strict=False):
                    if queued.error is not None:
                        waiting.done.set_exception(queued.error)
                    else:
                        waiting.done.set_result(queued.value)
                outcome = outcomes[-1]
                if outcome.error is not None:
                    raise outcome.error
                return cast(_T, outcome.value)
            # Another connection holds the file's write lock: wait in the worker thread,
            # without trying the inline connection again (the queued writes go too).
            self._waiting = ahead
            short = False
        done: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(body, done, short))
        if self._committer is None:
            # A new task first runs on the loop's next turn, so writes made in this
            # turn (a node's writes, then the checkpoint after it) join the batch.
            self._committer = asyncio.create_task(self._commit_waiting())
        return await done

    def write_with_next(self, work: Work[Any]) -> asyncio.Future[Any]:
        """Queue a short write to commit in the transaction of the next write, or at `close`.

        It starts no transaction of its own: for a record that the caller's next write
        follows at once (a tool effect's completion, then the tool node's writes), so
        both cost one commit. It commits no later than that write does. The caller need
        not await the future it gets; a failure is the future's exception.
        """
        if self._in_worker is None:
            return asyncio.ensure_future(self.write(work, short=True))
        body: Body[Any] = work() if callable(work) else work
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(body, done, short=True))
        return done

    async def read(self, body: Body[_T]) -> _T:
        """Run `body` as one read transaction (a consistent snapshot)."""
        async with self.lock:
            if self._in_worker is None:
                return await self._transact_in_calls("BEGIN", body)
            (outcome,) = await self._in_thread("BEGIN", [body])
        if outcome.error is not None:
            raise outcome.error
        return cast(_T, outcome.value)

    async def read_short(self, make: Callable[[], Body[_T]]) -> _T:
        """Run the body `make()` returns as one read transaction, on the loop's own thread.

        For reads of a few rows by key (a run's status, a record): they run on the
        inline connection, without a trip to the worker thread; a read in WAL mode
        waits for no writer. If SQLite answers busy there (another connection is
        recovering the WAL), a fresh body runs in the worker thread, which may wait.
        """
        if self.inline is None or self._in_worker is None:
            return await self.read(make())
        async with self.lock:
            outcome = self._read_inline(make())
            if outcome is None:
                (outcome,) = await self._in_thread("BEGIN", [make()])
        if outcome.error is not None:
            raise outcome.error
        return cast(_T, outcome.value)

    async def read_row(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        """The first row of one query by key, run as a single statement on the loop's thread.

        A single statement is its own read transaction (a consistent snapshot), so it
        needs no `BEGIN` and `COMMIT` around it: for a read asked very often, such as the
        kill switch before every LLM and tool call. Without the inline connection, or
        when SQLite answers busy there, it runs as `read_short` does.
        """
        if self.inline is not None and self._in_worker is not None:
            async with self.lock:
                if self.inline is not None:
                    try:
                        cursor = self.inline.conn.execute(sql, params)
                        try:
                            # Read to the end: the statement, and its snapshot, end here.
                            rows = cursor.fetchall()
                        finally:
                            cursor.close()
                        return cast(sqlite3.Row, rows[0]) if rows else None
                    except sqlite3.OperationalError as exc:
                        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                            raise store_error(self, exc) from exc
                    except sqlite3.Error as exc:
                        raise store_error(self, exc) from exc
        return await self.read_short(lambda: fetchone(sql, params))

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
                    bodies = [w.body for w in batch]
                    short = self.inline is not None and all(w.short for w in batch)
                    try:
                        done = self._run_inline(bodies) if short else None
                        if done is None:  # not short, or another connection holds the lock
                            done = await self._in_thread("BEGIN IMMEDIATE", bodies)
                            self._count_worker_commit()
                        outcomes = done
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
            self._when_idle()
            # Only when this task itself was cancelled (the loop is shutting down):
            # nobody is left to run these writes, so their callers must not wait on.
            for waiting in [*batch, *self._waiting]:
                waiting.done.cancel()
            self._waiting = []

    def _run_inline(self, bodies: Sequence[Body[Any]]) -> list[Outcome] | None:
        """Run bodies as one transaction on the inline connection, under the lock.

        Returns `None`, with no body started, when another connection holds the
        write lock; SQL errors become `StoreError`.
        """
        assert self.inline is not None
        try:
            outcomes = self.inline.run(bodies)
        except sqlite3.Error as exc:
            raise store_error(self, exc) from exc
        if outcomes is None:
            return None
        if self._checkpointer is None and self.inline.checkpoint_due():
            self._checkpointer = asyncio.create_task(self._checkpoint_wal())
        return self._stored(outcomes)

    def _read_inline(self, body: Body[Any]) -> Outcome | None:
        """Run a read body on the inline connection; `None` (not started) when it was busy."""
        assert self.inline is not None
        try:
            outcome = self.inline.read(body)
        except sqlite3.Error as exc:
            raise store_error(self, exc) from exc
        return None if outcome is None else self._stored([outcome])[0]

    async def _in_thread(self, begin: str, bodies: Sequence[Body[Any]]) -> list[Outcome]:
        """Run bodies as one transaction in the worker thread; SQL errors become `StoreError`."""
        assert self._in_worker is not None
        in_worker: InWorker[list[Outcome]] = self._in_worker
        started = False

        def whole(conn: sqlite3.Connection) -> list[Outcome]:
            nonlocal started
            started = True
            return run_batch(conn, begin, bodies)

        try:
            outcomes = await in_worker(whole)
        except sqlite3.Error as exc:
            raise store_error(self, exc) from exc
        except ValueError as exc:
            if started:
                raise
            # aiosqlite raises ValueError once the connection is closed.
            raise store_error(self, exc) from exc
        return self._stored(outcomes)

    def _stored(self, outcomes: list[Outcome]) -> list[Outcome]:
        """The outcomes, with SQLite's and the OS's errors turned into `StoreError`."""
        # Bodies do no I/O of their own: an OSError in one is the database's (disk full).
        for o in outcomes:
            if o.error is not None:
                break
        else:
            return outcomes  # the usual case, checked without making a list
        return [
            Outcome(error=store_error(self, o.error))
            if isinstance(o.error, (sqlite3.Error, OSError))
            else o
            for o in outcomes
        ]

    async def _transact_in_calls(self, begin: str, body: Body[_T]) -> _T:
        try:
            # Inside the `try`: a caller cancelled while BEGIN is queued has still begun.
            await self.run(begin)
            try:
                statement = next(body)
                while True:
                    result = await guard(self, statement.run_calls(self.conn))
                    statement = body.send(result)
            except StopIteration as finished:
                outcome = cast(_T, finished.value)
            finally:
                body.close()
            await self.run("COMMIT")
        except BaseException as exc:
            # Also on cancellation and on a failed COMMIT. aiosqlite runs calls in
            # order, so this runs after any statement still queued.
            try:
                await self.run("ROLLBACK")
            except StoreError as rollback_error:
                # SQLite may already have rolled back, or BEGIN failed; keep the
                # original error.
                if self.conn.in_transaction:
                    exc.add_note(f"rolling back afterwards also failed: {rollback_error}")
            raise
        return outcome

    async def vacuum(self) -> None:
        """Rebuild the file without its free pages (after deleting much), and cut the WAL
        back to nothing; waits for this database's transactions, in the worker thread."""
        async with self.lock:
            await self.run("VACUUM")
            await self.run("PRAGMA wal_checkpoint(TRUNCATE)")

    async def run(self, sql: str) -> None:
        """Run one statement on `conn`, as a call of its own (a pragma, `BEGIN`, `COMMIT`)."""
        await guard(self, self.conn.execute_fetchall(sql))

    async def close(self) -> None:
        """Close the connections once waiting writes commit; later use raises `StoreError`."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._waiting and self._committer is None:
            # Writes queued to go with a next write that never came (`write_with_next`).
            self._committer = asyncio.create_task(self._commit_waiting())
        while running := [t for t in (self._committer, self._checkpointer) if t is not None]:
            await asyncio.wait(running)
        async with self.lock:
            inline, self.inline = self.inline, None
            try:
                if inline is not None:
                    # First, so that aiosqlite's is the last connection, whose closing
                    # checkpoints the WAL, in its thread.
                    await asyncio.to_thread(inline.close)
            finally:
                await self.conn.close()


async def guard(db: Database, awaitable: Awaitable[_T]) -> _T:
    """Await one public aiosqlite call, turning SQLite's errors into `StoreError`."""
    try:
        result = await awaitable
    except (sqlite3.Error, ValueError) as exc:
        # aiosqlite raises ValueError once the connection is closed.
        raise store_error(db, exc) from exc
    return result


def store_error(db: Database, exc: Exception) -> StoreError:
    """The `StoreError` that reports `exc`, a failure of the database, with what to check."""
    error = StoreError(
        f"the railgraph database at {db.location} failed: {exc}. Check that the file "
        "is writable, the disk is not full and the checkpointer is still open "
        "(use it inside `async with SqliteCheckpointer.from_path(...)`)."
    )
    error.__cause__ = exc
    return error
