"""Answering a read asked very often again without SQL, while no commit could have changed it.

The kill switch reads a run's status before every LLM and tool call. Through SQLite that
is 20-35 µs on the event loop's thread in a running graph (the statement, and the read
transaction it starts), for an answer that almost never changes. In WAL mode every
connection to the file, in any process, shares the WAL index (the `-shm` file), whose
first 48 bytes are a header that every commit rewrites: its change counter, frame count
and checksum move with each one (https://www.sqlite.org/walformat.html); reads, empty
transactions and passive checkpoints leave it as it was. Reading those bytes is one
system call.

So a cached read keeps its row while the header stays the same: nobody committed since it
was read. A commit of this process's own, known not to touch what cached reads read (the
saver's checkpoints and writes never touch `runs`), moves the mark on, but only when the
header before it was the mark: a commit by anyone else in between would have changed it.
Anything else (another connection's commit, a write that may touch `runs`, a header that
does not look like SQLite's) forgets every cached row, and the next read goes to SQL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Hashable
from typing import Any

__all__ = ["CommitWatch", "ReadCache"]

_HEADER_BYTES = 48
"""The size of the WAL index header (`WalIndexHdr`), the first of its two copies."""
_WAL_INDEX_VERSION = 3007000
"""The header's first field, `iVersion`, in every SQLite since 3.7.0."""
_MAX_ROWS = 1024
"""Cached rows kept at most (one per run a process drives): past it, all are forgotten."""


class CommitWatch:
    """Reads the WAL index header of a database file.

    Args:
        fd: The `-shm` file, open for reading.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def open(cls, database: str) -> CommitWatch | None:
        """The watch of a database file in WAL mode that a connection holds open, or `None`
        (no `-shm` file, no `os.pread`, or a header that is not SQLite's as described)."""
        if not hasattr(os, "pread"):
            return None
        try:
            fd = os.open(f"{database}-shm", os.O_RDONLY)
        except OSError:
            return None
        watch = cls(fd)
        if watch.header() is None:
            watch.close()
            return None
        return watch

    def header(self) -> bytes | None:
        """The header's bytes now, or `None` if they do not look like SQLite's header."""
        try:
            data = os.pread(self._fd, _HEADER_BYTES, 0)
        except OSError:
            return None
        if len(data) != _HEADER_BYTES:
            return None
        if int.from_bytes(data[:4], sys.byteorder) != _WAL_INDEX_VERSION or data[12] != 1:
            return None  # another format, or a header not yet initialised (`isInit`)
        return data

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


class ReadCache:
    """Rows of cached reads, valid while the WAL index header is the mark.

    Used under the database's lock, on the event loop's thread: the lookups, the reads they
    miss, and this process's commits happen one at a time.
    """

    def __init__(self, watch: CommitWatch) -> None:
        self.watch = watch
        self._mark: bytes | None = None
        self._rows: dict[Hashable, Any] = {}

    def lookup(self, key: Hashable) -> tuple[bool, Any, bytes | None]:
        """Whether `key`'s row is known, the row, and the header now (for `store`)."""
        header = self.watch.header()
        if header is not None and header == self._mark and key in self._rows:
            return True, self._rows[key], header
        return False, None, header

    def store(self, key: Hashable, row: Any, header: bytes | None) -> None:
        """Keep `row`, read by a statement that began after `lookup` returned `header`."""
        if header is None:
            return
        if header != self._mark or len(self._rows) >= _MAX_ROWS:
            # Rows read under another mark may be stale: a commit came in between.
            self._rows.clear()
            self._mark = header
        self._rows[key] = row

    def committed(self, before: bytes | None, *, keeps: bool) -> None:
        """Account for a commit of this process's, `before` being the header once it held
        the write lock; `keeps` when its writes touch nothing a cached read reads."""
        after = self.watch.header()
        if (
            before is not None
            and before == self._mark
            and after is not None
            and (keeps or after == before)
        ):
            self._mark = after
        else:
            self.forget()

    def forget(self) -> None:
        """Forget every cached row."""
        self._mark = None
        self._rows.clear()
