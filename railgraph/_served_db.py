"""The databases of a process that serves railgraph graphs, and the server's checkpointer.

The server's checkpointer and the served graphs' run store are one open database per file
and event loop, opened without inline writes so that no statement runs on the server's loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from railgraph._run_saver import open_saver
from railgraph._settings import (
    default_db,
    is_postgres_url,
)
from railgraph.checkpointers import SqliteCheckpointer

__all__ = ["DATABASES", "checkpointer", "db_key"]


@asynccontextmanager
async def checkpointer() -> AsyncIterator[SqliteCheckpointer]:
    """The server's checkpointer: railgraph's database at ``$RAILGRAPH_DB`` (a file, or a
    PostgreSQL URL).

    Name it in ``langgraph.json`` as ``"checkpointer": {"backend": "custom", "path":
    "railgraph.server.checkpointer"}`` (a module path: the server reads ``a.b:c`` as a
    file). It stores the events nodes write in the run store, and runs every statement in
    aiosqlite's worker thread, never on the server's loop.
    """
    async with DATABASES.hold(db_key(None)) as saver:
        yield saver


def db_key(db: str | Path | None) -> str:
    """The database as the process's databases are keyed: an absolute path, ``:memory:``,
    or a PostgreSQL URL as given."""
    path = str(db if db is not None else default_db())
    if path == ":memory:" or is_postgres_url(path):
        return path
    return os.path.abspath(os.path.expanduser(path))


class _Databases:
    """The open databases of this process: one per file and event loop, shared by the
    server's checkpointer and the served graphs' run store."""

    def __init__(self) -> None:
        self.types: set[Any] = set()
        """Types the served graphs' states hold, allowed in every database opened."""
        self._open: dict[tuple[str, int], tuple[SqliteCheckpointer, AsyncExitStack]] = {}
        self._opening: dict[tuple[str, int], asyncio.Future[SqliteCheckpointer]] = {}

    async def get(self, path: str) -> SqliteCheckpointer:
        """The database at ``path`` on this loop, opened (until :meth:`close`) if needed."""
        key = (path, id(asyncio.get_running_loop()))
        if key in self._open:
            return self._open[key][0]
        opening = self._opening.get(key)
        if opening is not None:
            return await asyncio.shield(opening)
        future: asyncio.Future[SqliteCheckpointer] = asyncio.get_running_loop().create_future()
        self._opening[key] = future
        try:
            stack = AsyncExitStack()
            saver = await stack.enter_async_context(open_saver(path, inline=False))
            saver.allow_types(self.types)
            self._open[key] = (saver, stack)
            future.set_result(saver)
            return saver
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._opening[key]

    async def close(self, path: str) -> None:
        """Close the database at ``path`` on this loop, if it is open."""
        opened = self._open.pop((path, id(asyncio.get_running_loop())), None)
        if opened is not None:
            await opened[1].aclose()

    @asynccontextmanager
    async def hold(self, path: str) -> AsyncIterator[SqliteCheckpointer]:
        """The database at ``path`` for the length of the block; closed after it."""
        try:
            yield await self.get(path)
        finally:
            await self.close(path)


DATABASES = _Databases()
