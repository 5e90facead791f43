"""Reading a run store file on the calling thread, with no event loop.

The run store's methods are coroutines, and each read awaits one call of its backend.
`ReadOnlyFile` is a backend whose reads run their transaction bodies (see `_tx`) on a plain
`sqlite3` connection and return at once: a store read through it never suspends, so
`read_now` runs it to its end without an event loop, aiosqlite's worker thread or the
thread that opening a file takes. For commands that read and exit (`railgraph runs`,
`show`, `pending`), where those cost more than the reads do.

Example:
    ```python
    with open_file_now(".railgraph/railgraph.db") as store:
        runs = read_now(store.list_runs(limit=10))
    ```
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from railgraph.errors import StoreError

from ._backend import Clock, Work
from ._open import BUSY_TIMEOUT_MS, _check_file
from ._redact import Redactor
from ._schema import SCHEMA_VERSION
from ._store import RunStore
from ._tx import Body, Statement, run_batch

__all__ = ["ReadOnlyFile", "open_file_now", "read_now"]

_T = TypeVar("_T")


class ReadOnlyFile:
    """A railgraph database file open for reading only, on the calling thread.

    A `Backend` (see `_backend`) whose reads complete without suspending; writes are
    refused.

    Args:
        conn: A connection opened with SQLite's read-only mode (`mode=ro`).
        location: The file's path, for messages.
        clock: Source of timestamps (reads use none; the store keeps it).
    """

    engine: Final = "sqlite"
    """Which database engine this is (see `_backend.Backend`)."""

    def __init__(self, conn: sqlite3.Connection, *, location: str, clock: Clock) -> None:
        self.conn = conn
        """The read-only connection."""
        self.location = location
        """The file's path."""
        self.clock = clock
        """Returns the current time in unix seconds."""

    def _run(self, body: Body[_T]) -> _T:
        try:
            (outcome,) = run_batch(self.conn, "BEGIN", [body])
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        if isinstance(outcome.error, sqlite3.Error):
            raise self._failed(outcome.error) from outcome.error
        if outcome.error is not None:
            raise outcome.error
        return cast(_T, outcome.value)

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"reading the railgraph database at {self.location} failed: {exc}. Check that "
            "the file is readable and whole (`sqlite3 FILE 'PRAGMA integrity_check'`)."
        )

    async def read(self, body: Body[_T]) -> _T:
        """Run `body` as one read transaction (a consistent snapshot), now."""
        return self._run(body)

    async def read_short(self, make: Callable[[], Body[_T]]) -> _T:
        """Run the body `make()` returns as one read transaction, now."""
        return self._run(make())

    async def read_row(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        """The first row of one query, read as a single statement, now."""
        try:
            rows = Statement(sql, tuple(params), "rows").run(self.conn)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        return cast(sqlite3.Row, rows[0]) if rows else None

    def _refused(self) -> StoreError:
        return StoreError(
            f"the railgraph database at {self.location} is open for reading only; open it "
            "with `open_store(path, read_only=False)` to change it."
        )

    async def write(self, work: Work[_T], *, short: bool = False) -> _T:
        """Refused: the file is open for reading only."""
        raise self._refused()

    async def vacuum(self) -> None:
        """Refused: the file is open for reading only."""
        raise self._refused()

    async def close(self) -> None:
        """Close the connection."""
        self.conn.close()


@contextmanager
def open_file_now(
    path: str | Path, *, redactor: Redactor | None = None, clock: Clock = time.time
) -> Iterator[RunStore]:
    """The run store of an existing database file, for reading with `read_now`.

    Nothing is created, migrated or configured, as with `open_store(path)`: the file is
    opened in SQLite's read-only mode.

    Raises:
        StoreError: There is no such file, or it is not a railgraph database of this
            schema version.
        SchemaVersionError: The database was written by a newer railgraph.
    """
    location, uri = _check_file(Path(path), SCHEMA_VERSION)
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open {location} to read it: {exc}. Check its permissions."
        ) from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").close()
        yield RunStore(ReadOnlyFile(conn, location=location, clock=clock), redactor=redactor)
    finally:
        conn.close()


def read_now(reading: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that reads through `open_file_now`'s store to its end, here.

    Raises:
        RuntimeError: The coroutine waited for something else (a task, a sleep, another
            database); it is closed. Run such work on an event loop.
    """
    try:
        reading.send(None)
    except StopIteration as done:
        return cast(_T, done.value)
    reading.close()
    raise RuntimeError(
        "read_now runs coroutines that only read through open_file_now's store; this one "
        "waited for something else: run it with asyncio.run instead."
    )
