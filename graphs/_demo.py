"""What the demo systems share: a SQLite file under ``.railgraph/``, created and seeded on use."""

from __future__ import annotations

import os
import sqlite3
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
        """A connection in one transaction, on a database that has its schema and seed rows."""
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            with conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(self.schema)
                if self.is_empty(conn):
                    self.seed(conn)
            with conn:
                yield conn
        finally:
            conn.close()
