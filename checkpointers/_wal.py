"""Keeping the WAL short: checkpoints every so many commits, and when the database is idle.

A mixin of `Database`. Inline commits never checkpoint (see `_inline`), so `Database`
counts commits and copies the WAL into the database in the worker thread here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._inline import InlineWriter

__all__ = ["IDLE_CHECKPOINT_S", "WAL_AUTOCHECKPOINT_PAGES", "InWorker", "WalKeeper"]

_T = TypeVar("_T")

WAL_AUTOCHECKPOINT_PAGES = 4_000
"""Pages (16 MB) the WAL may hold before they are copied into the database.

SQLite's default, 1,000, makes one commit in every hundred or so nodes pay for a
checkpoint and its fsyncs; at 4,000 the pauses are rarer, and a 20-node graph
ran about 6% faster per node. Inline commits never checkpoint: see
`Database._checkpoint_wal`, which lets the WAL start over at this length too.
Closing the last connection checkpoints the WAL and removes it.
"""

IDLE_CHECKPOINT_S = 2.0
"""Seconds without a write after which the WAL is copied into the database, so that an
idle process leaves a short WAL (and the next write starts it over)."""

InWorker = Callable[[Callable[[sqlite3.Connection], _T]], Awaitable[_T]]
"""Runs a function of the raw connection in aiosqlite's worker thread (see `_db`)."""


class WalKeeper:
    """When and how a `Database` checkpoints its WAL."""

    lock: asyncio.Lock
    inline: InlineWriter | None
    wal_pages: int
    _in_worker: InWorker[Any] | None
    _checkpointer: asyncio.Task[None] | None
    _idle: asyncio.TimerHandle | None
    _written: bool

    def _count_worker_commit(self) -> None:
        """Count a commit made in the worker thread towards the next checkpoint, too: under
        contention from other processes most commits go there, and their automatic
        checkpoints (PASSIVE) never start the WAL over while another process reads."""
        if self.inline is None:
            return
        self.inline.commits += 1
        if self._checkpointer is None and self.inline.checkpoint_due():
            self._checkpointer = asyncio.create_task(self._checkpoint_wal())

    def _when_idle(self) -> None:
        """Checkpoint once no write came for `IDLE_CHECKPOINT_S` (inline commits never do)."""
        if self.inline is None or self._in_worker is None:
            return
        self._written = True
        if self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(
                IDLE_CHECKPOINT_S, self._idle_checkpoint
            )

    def _idle_checkpoint(self) -> None:
        self._idle = None
        if self._written:
            # Writes came since the timer was set: look again once they stop.
            self._written = False
            self._idle = asyncio.get_running_loop().call_later(
                IDLE_CHECKPOINT_S, self._idle_checkpoint
            )
            return
        if self._checkpointer is None and self.inline is not None:
            self._checkpointer = asyncio.create_task(self._checkpoint_wal(force=True))

    async def _checkpoint_wal(self, *, force: bool = False) -> None:
        """Copy the WAL into the database in the worker thread; past `wal_pages`, start it over.

        Inline commits never checkpoint, to keep the checkpoint's fsyncs off the
        loop. The first pass here runs while writes go on. It copies most of
        the WAL, but it cannot catch up with them, and a WAL starts over only
        once all of it is copied; without more, it would grow for ever. So when
        the WAL is longer than `wal_pages`, a second pass, under the lock,
        copies the rest while none of this database's writes run, and the next
        write starts the WAL over. The first is PASSIVE; the second is RESTART,
        which also waits (up to the busy timeout) for readers in other
        processes to finish the snapshots they hold, holding the write lock
        meanwhile (writers everywhere pause for as long as the longest read). A reader that
        always holds some snapshot (a report running transaction after
        transaction) would otherwise keep the WAL from ever starting over: it
        grew past 900 MB in 20 s so.
        """
        assert self._in_worker is not None
        in_worker: InWorker[int] = self._in_worker
        try:
            # Unlocked: the worker thread runs one call at a time, and every use of
            # `conn` under the lock is one call, so this never lands inside a transaction.
            log = await in_worker(_checkpoint_passive)
            if log > (0 if force else self.wal_pages):
                # Past `wal_pages`, wait for readers elsewhere (RESTART) rather than let a
                # reader that always holds a snapshot keep the WAL growing.
                second = _checkpoint_restart if log > self.wal_pages else _checkpoint_passive
                async with self.lock:
                    await in_worker(second)
        except (sqlite3.Error, ValueError):
            # The frames not copied stay in the WAL, and the next checkpoint, or
            # closing the database, copies them; a failing disk fails writes too.
            pass
        finally:
            self._checkpointer = None


def _checkpoint_restart(conn: sqlite3.Connection) -> int:
    """Copy all of the WAL, waiting for readers, so that the next write starts it over."""
    ((_busy, log, _copied),) = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    return int(log)


def _checkpoint_passive(conn: sqlite3.Connection) -> int:
    """Copy what can be copied of the WAL at once; return the WAL's length in pages."""
    ((_busy, log, _copied),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(log)
