"""Short write transactions on the event loop's own thread, through a second connection.

A trip to aiosqlite's worker thread and back costs 30 to 75 µs on a small VM,
and every node paid it once, on top of its transaction. So `Database` runs
*short* writes (see `Database.write`) on an `InlineWriter`: a plain `sqlite3`
connection to the same file, used only on the loop's thread and only under the
database's lock. It is built never to make the loop wait:

- **for a lock**: its busy timeout is 0. When another connection or process
  holds the file's write lock, `BEGIN IMMEDIATE` fails at once, `run` returns
  `None`, and the batch goes to the worker thread, which waits there.
- **for a checkpoint**: `wal_autocheckpoint` is 0, so no commit copies the WAL
  into the database (with its fsyncs) here. Every `check_every` commits,
  `checkpoint_due` says so, and `Database` checkpoints the WAL in the worker
  thread.

Under `synchronous=FULL` a commit still syncs the WAL before it returns, as it
must, and that sync happens here.

Reads stay on aiosqlite's connection, except *short* ones (a status, a record by
its key: see `Database.read`), which run here too. Each read is a transaction of
its own, and a transaction in WAL mode sees every commit made before it began, on
any connection, so a read sees every write committed before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ._tx import Body, Outcome, run_begun

JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024
"""Bytes the WAL file is cut back to when it starts over (`PRAGMA journal_size_limit`),
set on both connections.

Without it SQLite reuses the file in place and never shrinks it, so one burst (four
writers, or a reader holding an old snapshot while they write) left a WAL of 165 MB or
more for good."""

__all__ = ["CHECK_EVERY", "InlineWriter", "connect_inline"]

CHECK_EVERY = 400
"""Inline commits between checkpoints of the WAL.

A node makes two commits (its writes, then the checkpoint after them), each adding
about 3 to 6 pages to the WAL, so a checkpoint copies a thousand or two, in the
worker thread while the loop goes on; a count costs nothing, where asking the file
system for the WAL's size would cost a system call per commit.
"""


class InlineWriter:
    """A second connection to the database file, for short writes on the event loop's thread.

    Args:
        conn: The connection, configured by `connect_inline`.
        check_every: Commits between checkpoints (see `checkpoint_due`).
    """

    def __init__(self, conn: sqlite3.Connection, *, check_every: int = CHECK_EVERY) -> None:
        self.conn = conn
        """The raw connection (exposed for diagnostics, such as tracing statements)."""
        self.check_every = check_every
        """Commits between checkpoints."""
        self.commits = 0
        """Transactions run here, committed or rolled back."""
        self._checked = 0

    def run(self, bodies: Sequence[Body[Any]]) -> list[Outcome] | None:
        """Run bodies as one transaction, here and now (see `run_begun`).

        Returns:
            The bodies' outcomes, or `None`, with no body started, when another
            connection holds the write lock.

        Raises:
            sqlite3.Error: Beginning failed for another reason, or committing failed.
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE").close()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                return None
            raise
        try:
            return run_begun(self.conn, bodies)
        finally:
            self.commits += 1

    def read(self, body: Body[Any]) -> Outcome | None:
        """Run a read body as one transaction, here and now: a consistent snapshot.

        Returns:
            Its outcome, or `None` when SQLite answered busy (a WAL being recovered
            by another connection: rare, and never waited for here).
        """
        self.conn.execute("BEGIN").close()
        (outcome,) = run_begun(self.conn, [body])
        error = outcome.error
        if isinstance(error, sqlite3.OperationalError) and (
            error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
        ):
            return None
        return outcome

    def checkpoint_due(self) -> bool:
        """Whether `check_every` commits were made since this last said so."""
        if self.commits - self._checked < self.check_every:
            return False
        self._checked = self.commits
        return True

    def close(self) -> None:
        """Close the connection (rolling back nothing: it is never left in a transaction)."""
        self.conn.close()


def connect_inline(location: str, *, synchronous: str, busy_timeout_ms: int) -> InlineWriter | None:
    """Open the inline connection to a database file that is already in WAL mode.

    Call it in a worker thread: opening may wait for a process that is still
    setting the file up.

    Args:
        location: The database file.
        synchronous: `"NORMAL"` or `"FULL"`, as on aiosqlite's connection.
        busy_timeout_ms: How long opening may wait for a lock; once open, writes never wait.

    Returns:
        The writer, or `None` if the file is not in WAL mode (then every write
        stays in the worker thread).
    """
    conn = sqlite3.connect(
        location, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
    )
    try:
        conn.row_factory = sqlite3.Row
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if mode != "wal":
            conn.close()
            return None
        # Pragmas take no parameters; `synchronous` was checked against a fixed set.
        conn.execute(f"PRAGMA synchronous={synchronous}").close()
        conn.execute("PRAGMA foreign_keys=ON").close()
        conn.execute("PRAGMA wal_autocheckpoint=0").close()
        conn.execute("PRAGMA busy_timeout=0").close()
        # The WAL is cut back when it starts over after this connection's commits too.
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}").close()
    except BaseException:
        conn.close()
        raise
    return InlineWriter(conn)
