"""What the run store and the checkpointer need of a database, whichever engine it runs on.

The run store (`_store` and its mixins), the users and the checkpointer's reads and writes
are transaction *bodies* (see `_tx`), written once in SQLite's SQL. A backend runs them:

- `Database` (`_db`), on one SQLite file: the embedded default;
- `PostgresDatabase` (`_pgdb`), on a PostgreSQL server through a connection pool, which
  turns each statement into PostgreSQL's SQL (`_pgsql`) and retries a whole write
  transaction that lost a race with another (so a write may be given as a function that
  makes its body afresh: see `Work`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

from ._db import Clock
from ._tx import Body

__all__ = ["Backend", "Clock", "Work", "make_body"]

_T = TypeVar("_T")

Work = Body[_T] | Callable[[], Body[_T]]
"""A write transaction: its body, or a function that makes it. A backend that may run a
write again (PostgreSQL, after a serialization failure) needs the function; a body given
as it is runs once."""


def make_body(work: Work[_T]) -> Body[_T]:
    """The body of `work`, made now if `work` makes it."""
    # A generator object is never callable; a function that makes one is.
    return work() if callable(work) else work


class Backend(Protocol):
    """An open database that runs transaction bodies: SQLite's `Database` or PostgreSQL's."""

    @property
    def engine(self) -> Literal["sqlite", "postgresql"]:
        """Which database engine this is."""

    location: str
    """Where the database lives, for messages (a file path, or a URL without its password)."""
    clock: Clock
    """Returns the current time in unix seconds."""

    async def write(self, work: Work[_T], *, short: bool = False) -> _T:
        """Run `work` as one write transaction; committed when this returns."""

    async def read(self, body: Body[_T]) -> _T:
        """Run `body` as one read transaction (a consistent snapshot)."""

    async def read_short(self, make: Callable[[], Body[_T]]) -> _T:
        """Run the body `make()` returns as one short read (a few rows by key)."""

    async def read_row(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        """The first row of one query by key, read as a single statement (its own snapshot)."""

    async def vacuum(self) -> None:
        """Let the space of deleted rows be reused (SQLite also gives it back to the disk)."""

    async def close(self) -> None:
        """Close the database once its waiting writes commit."""
