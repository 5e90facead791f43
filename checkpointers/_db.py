"""The one SQLite connection that the checkpointer and the run store share.

Every statement goes through a `Database`: it owns the aiosqlite connection, the
asyncio lock that serializes access to it, and the clock that stamps records.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from railgraph.errors import StoreError

__all__ = ["Clock", "Database", "Synchronous", "open_database"]

Synchronous = Literal["NORMAL", "FULL"]
"""SQLite's `synchronous` setting: `FULL` also survives power loss in WAL mode."""

Clock = Callable[[], float]
"""Returns the current time in unix seconds; injected so tests need no sleeps."""

_T = TypeVar("_T")

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 30_000


class Database:
    """An open SQLite database with one connection, one lock and one clock.

    All access holds the lock. A single connection has a single transaction, so a
    read that ran while a writer's transaction was open would see the writer's
    uncommitted rows; holding the lock for reads too (only while the statements
    run, never while results are handed out) keeps every read consistent.

    Args:
        conn: An open aiosqlite connection in autocommit mode.
        location: The file path or `":memory:"`, for error messages.
        clock: Source of timestamps for stored records.
    """

    def __init__(self, conn: aiosqlite.Connection, *, location: str, clock: Clock) -> None:
        self.conn = conn
        """The underlying aiosqlite connection (exposed for diagnostics)."""
        self.location = location
        """Where the database lives: a file path or `":memory:"`."""
        self.clock = clock
        """Returns the current time in unix seconds."""
        self.lock = asyncio.Lock()
        """Serializes every use of `conn`."""

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """Hold the lock and run one write transaction, rolled back on any error.

        `BEGIN IMMEDIATE` takes SQLite's write lock up front, so another process
        writing the same file makes this wait (up to the busy timeout) instead of
        failing half-way through.
        """
        async with self.lock:
            await self._run("BEGIN IMMEDIATE")
            try:
                yield Transaction(self)
                await self._run("COMMIT")
            except BaseException as exc:
                # Also on cancellation and on a failed COMMIT: the shared connection
                # must never stay inside a half-done transaction. aiosqlite runs calls
                # in order, so this runs after any statement still queued.
                try:
                    await self._run("ROLLBACK")
                except StoreError as rollback_error:
                    # SQLite may already have rolled back; keep the original error.
                    exc.add_note(f"rolling back afterwards also failed: {rollback_error}")
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        """Hold the lock and run one read transaction (a consistent snapshot)."""
        async with self.lock:
            await self._run("BEGIN")
            try:
                yield Transaction(self)
            finally:
                await self._run("COMMIT")

    async def _run(self, sql: str) -> None:
        await _guard(self, self.conn.execute_fetchall(sql))

    async def close(self) -> None:
        """Close the connection; later use raises `StoreError`."""
        async with self.lock:
            await self.conn.close()


class Transaction:
    """Statements inside one `Database.write` or `Database.read` block."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def now(self) -> float:
        """The database clock's current time in unix seconds."""
        return self._db.clock()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a query and return all its rows."""
        rows = await _guard(self._db, self._db.conn.execute_fetchall(sql, params))
        return list(rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run a query and return its first row, or `None` when it has none."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement and return how many rows it changed."""
        cursor = await _guard(self._db, self._db.conn.execute(sql, params))
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row (skipped when there are none)."""
        rows = list(rows)
        if rows:
            cursor = await _guard(self._db, self._db.conn.executemany(sql, rows))
            await cursor.close()


async def _guard(db: Database, awaitable: Awaitable[_T]) -> _T:
    """Await a database call, turning SQLite's errors into `StoreError`."""
    try:
        result = await awaitable
    except (sqlite3.Error, ValueError) as exc:
        # aiosqlite raises ValueError once the connection is closed.
        raise StoreError(
            f"the railgraph database at {db.location} failed: {exc}. Check that the file "
            "is writable, the disk is not full and the checkpointer is still open "
            "(use it inside `async with SqliteCheckpointer.from_path(...)`)."
        ) from exc
    return result


def _prepare_file(path: Path) -> str:
    """Create the database file's parent directories; return the expanded path."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


@asynccontextmanager
async def open_database(
    path: str | Path, *, synchronous: Synchronous, clock: Clock = time.time
) -> AsyncIterator[Database]:
    """Open (creating if needed) the database file and configure the connection.

    Args:
        path: A file path, whose parent directories are created, or `":memory:"`.
        synchronous: SQLite's `synchronous` pragma, `"NORMAL"` or `"FULL"`.
        clock: Source of timestamps for stored records.

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
    db = Database(conn, location=location, clock=clock)
    try:
        await db._run("PRAGMA journal_mode=WAL")
        await db._run(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Pragmas take no parameters; the value was checked against a fixed set above.
        await db._run(f"PRAGMA synchronous={synchronous}")
        await db._run("PRAGMA foreign_keys=ON")
        yield db
    finally:
        await db.close()
