"""Opening the database file: creating it, switching it to WAL, configuring its connections."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from railgraph.errors import StoreError

from ._db import WAL_AUTOCHECKPOINT_PAGES, Clock, Database, Synchronous, guard, store_error
from ._inline import connect_inline

__all__ = ["BUSY_TIMEOUT_MS", "MEMORY", "open_database"]

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 30_000


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
            (row,) = await guard(db, db.conn.execute_fetchall("PRAGMA journal_mode=WAL"))
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
    path: str | Path,
    *,
    synchronous: Synchronous,
    clock: Clock = time.time,
    one_trip: bool = True,
    inline: bool = True,
) -> AsyncIterator[Database]:
    """Open (creating if needed) the database file and configure the connections.

    Args:
        path: A file path, whose parent directories are created, or `":memory:"`.
        synchronous: SQLite's `synchronous` pragma, `"NORMAL"` or `"FULL"`.
        clock: Source of timestamps for stored records.
        one_trip: See `Database`.
        inline: Run short writes on the event loop's thread (see `_inline`), when
            `one_trip` holds and the database is a file. `False` keeps them in
            the worker thread.

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
        await db.run(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await _switch_to_wal(db)
        # Pragmas take no parameters; the value was checked against a fixed set above.
        await db.run(f"PRAGMA synchronous={synchronous}")
        await db.run("PRAGMA foreign_keys=ON")
        await db.run(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        if inline and db.one_trip and location != MEMORY:
            try:
                db.inline = await asyncio.to_thread(
                    connect_inline,
                    location,
                    synchronous=synchronous,
                    busy_timeout_ms=BUSY_TIMEOUT_MS,
                )
            except sqlite3.Error as exc:
                raise store_error(db, exc) from exc
        yield db
    finally:
        await db.close()
