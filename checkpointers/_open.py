"""Opening the database file: creating it, switching it to WAL, configuring its connections."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from railgraph.errors import SchemaVersionError, StoreError

from ._db import (
    JOURNAL_SIZE_LIMIT,
    WAL_AUTOCHECKPOINT_PAGES,
    Clock,
    Database,
    Synchronous,
    guard,
    store_error,
)
from ._inline import connect_inline
from ._pgopen import is_postgres_url, open_postgres
from ._redact import Redactor
from ._schema import SCHEMA_VERSION, migrate
from ._store import RunStore

__all__ = ["BUSY_TIMEOUT_MS", "MEMORY", "open_database", "open_read_only", "open_store"]

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
        await db.run(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
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


_RAILGRAPH_TABLES = frozenset(
    {
        "checkpoints",
        "checkpoint_blobs",
        "checkpoint_writes",
        "checkpoint_values",
        "runs",
        "run_events",
        "approvals",
        "tool_effects",
    }
)
"""Tables every railgraph database of the current schema has (later schemas add more)."""


def _check_read_only(conn: sqlite3.Connection, location: str, schema_version: int) -> None:
    """Refuse a file that is not a railgraph database of the schema this code reads."""
    try:
        (found,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{location} is not a railgraph database ({exc}); pass --db (or set RAILGRAPH_DB) "
            "to the file your runs are stored in."
        ) from exc
    if found == 0 or not {"checkpoints", "runs"} <= tables:
        has = "it has no tables" if not tables else "it has none of railgraph's tables"
        if found != 0:
            has = f"it has schema version {found} but no checkpoints or runs table"
        raise StoreError(
            f"{location} is not a railgraph database ({has}); it was left untouched. "
            "Pass --db (or set RAILGRAPH_DB) to the file your runs are stored in."
        )
    if found > schema_version:
        raise SchemaVersionError(
            f"the railgraph database at {location} has schema version {found}, but this "
            f"railgraph supports schema version {schema_version} at most; upgrade railgraph "
            "(`pip install -U railgraph`) to open it."
        )
    if found < schema_version:
        raise StoreError(
            f"the railgraph database at {location} has schema version {found}, older than "
            f"this railgraph's {schema_version}, and reading commands never upgrade it; run a "
            "command that writes (`railgraph expire`, `railgraph resume RUN`) to upgrade it first."
        )
    if missing := _RAILGRAPH_TABLES - tables:
        raise StoreError(
            f"the railgraph database at {location} lacks the tables {', '.join(sorted(missing))}; "
            "it was changed outside railgraph. Restore it from a backup."
        )


def _read_only_uri(path: Path) -> str:
    # mode=ro: SQLite never creates, changes or migrates the file, nor its journal mode.
    return path.resolve().as_uri().replace("file://", "file:", 1) + "?mode=ro"


def _check_file(path: Path, schema_version: int) -> tuple[str, str]:
    """Refuse a missing file or one that is not a railgraph database, creating nothing.

    Returns:
        The file's path and its read-only URI.
    """
    path = path.expanduser()
    if not path.is_file():
        where = "no file" if not path.exists() else "not a file"
        raise StoreError(
            f"no railgraph database at {path} ({where}); nothing was created. Start a run "
            "with `railgraph run REF` first, or pass --db (or set RAILGRAPH_DB) to the file "
            "your runs are stored in."
        )
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path} to read it: {exc}. Check its permissions.") from exc
    try:
        _check_read_only(conn, str(path), schema_version)
    finally:
        conn.close()
    return str(path), _read_only_uri(path)


@asynccontextmanager
async def open_read_only(
    path: str | Path, *, schema_version: int, clock: Clock = time.time
) -> AsyncIterator[Database]:
    """Open an existing railgraph database for reading only.

    Nothing is created (no file, no directory), migrated or configured: the file is
    opened in SQLite's read-only mode. Writes through it fail with `StoreError`.

    Args:
        path: The database file.
        schema_version: The schema version this code reads.
        clock: Source of timestamps (unused by reads; kept for the records' sake).

    Raises:
        StoreError: There is no such file, or it is not a railgraph database of this
            schema version.
        SchemaVersionError: The database was written by a newer railgraph.
    """
    if str(path) == MEMORY:
        raise StoreError("a read-only database needs a file; :memory: would be empty")
    location, uri = await asyncio.to_thread(_check_file, Path(path), schema_version)
    try:
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open {location} to read it: {exc}. Check its permissions."
        ) from exc
    conn.row_factory = sqlite3.Row
    db = Database(conn, location=location, clock=clock)
    try:
        await db.run(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def open_store(
    path: str | Path,
    *,
    redactor: Redactor | None = None,
    clock: Clock = time.time,
    read_only: bool = True,
) -> AsyncIterator[RunStore]:
    """Open the run store alone, without LangGraph's checkpointer.

    For commands that only read runs, events, requests and the ledger (`railgraph runs`,
    `show`, `pending`): they never import LangGraph or langchain-core. `":memory:"`
    gives an empty store (there is no file to read yet). `read_only=False` opens (and
    upgrades) the file for writing, as `railgraph prune` does. A PostgreSQL URL
    (`postgresql://...`) opens that database instead, read-only the same way (see `_pgopen`).

    Raises:
        StoreError: As `open_read_only`.
        SchemaVersionError: The database was written by a newer railgraph.
    """
    if is_postgres_url(path):
        async with open_postgres(str(path), clock=clock, read_only=read_only) as pg:
            yield RunStore(pg, redactor=redactor)
        return
    if str(path) == MEMORY or not read_only:
        async with open_database(path, synchronous="NORMAL", clock=clock) as db:
            await migrate(db)
            yield RunStore(db, redactor=redactor)
        return
    async with open_read_only(path, schema_version=SCHEMA_VERSION, clock=clock) as db:
        yield RunStore(db, redactor=redactor)
