"""What the demo systems share: a SQLite file under ``.railgraph/``, created and seeded on use."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

__all__ = ["DemoDatabase"]


class DemoDatabase:
    """A demo system's database; each call opens its own short connection (thread-safe).

    Subclasses name the environment variable that moves the file, the default file name,
    the schema, and how to seed an empty database.
    """

    env: ClassVar[str]
    """Environment variable that overrides the file's path."""
    filename: ClassVar[str]
    """The file's name under ``.railgraph/`` in the working directory."""
    schema: ClassVar[str]
    """``CREATE TABLE IF NOT EXISTS`` statements."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = Path(path) if path is not None else None

    @property
    def path(self) -> Path:
        """The database file; the default is resolved at each use, from where the run is."""
        if self._path is not None:
            return self._path
        return Path(os.environ.get(self.env) or Path.cwd() / ".railgraph" / self.filename)

    def seed(self, conn: sqlite3.Connection) -> None:
        """Fill an empty database with the demo's rows."""

    def is_empty(self, conn: sqlite3.Connection) -> bool:
        """Whether the database still needs its seed rows."""
        raise NotImplementedError

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction, on a database that has its schema and seed rows.

        Safe when many processes use a fresh database at once: the file is switched to WAL
        with retries (SQLite does not wait for that lock by itself), and the schema and seed
        rows are written under the write lock, so exactly one process seeds.
        """
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: transactions are begun explicitly, and take the write lock first.
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            _use_wal(conn)
            if not self._ready(conn):
                # CREATE ... IF NOT EXISTS is safe to repeat, and waits for the lock itself.
                conn.executescript(self.schema)
                with _immediate(conn):
                    if self.is_empty(conn):  # asked again under the lock: one process seeds
                        self.seed(conn)
            with _immediate(conn):
                yield conn
        finally:
            conn.close()

    def _ready(self, conn: sqlite3.Connection) -> bool:
        """Whether the schema and seed rows are there already (a read, no lock taken)."""
        try:
            return not self.is_empty(conn)
        except sqlite3.OperationalError:
            return False  # no tables yet


_BUSY_TIMEOUT_S = 30.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, retrying while another process holds the lock mid-switch."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    pause = 0.001
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            mode = None
        if mode == "wal" or time.monotonic() + pause > deadline:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One transaction that holds the write lock from its start; rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
