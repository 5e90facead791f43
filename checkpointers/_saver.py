"""`SqliteCheckpointer`: LangGraph's checkpoint saver on one SQLite file."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import aiosqlite
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from railgraph.errors import StoreError

from ._backend import Backend
from ._db import Clock, Database, Synchronous
from ._load import select_page, thread_config, to_tuples
from ._open import open_database, open_read_only
from ._pgopen import is_postgres_url, open_postgres
from ._put import Prepared, put_checkpoint, put_writes, thread_of
from ._redact import Redactor
from ._schema import SCHEMA_VERSION, migrate
from ._select import Selection
from ._serde import AllowlistSerializer, TypeName
from ._store import RunStore
from ._sync import SyncBridge
from ._threads import copy_thread, delete_for_runs, delete_threads, prune_threads
from ._users import UserStore
from ._values import pack_values
from ._versions import next_version

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["SqliteCheckpointer"]


class SqliteCheckpointer(SyncBridge):
    """A LangGraph checkpointer, and railgraph's run store, in one SQLite file or PostgreSQL.

    Open it with `from_path`: a file path opens SQLite (the embedded default), a
    `postgresql://` URL a PostgreSQL database (see `_pgopen`), with the same behaviour.
    Channel values are stored once per channel version,
    so a value that never changes is written once however many checkpoints there
    are, and a large value (4 KB or more, serialized) once per distinct content,
    compressed, however many channels, writes and threads hold it. With
    `event_channel` set, run events that nodes write to that channel are stored
    in the run store in the same transaction as the node's writes: an event is
    stored iff the node result it describes is durable. The writes right after a
    task's event write that have no value, or are small writes to one of
    `folded_channels`, are stored in that write's row, as JSON rather than by `serde`
    (see `put_writes`); they load back as they were written.

    Every write is committed before its method returns: on the event loop's own
    thread, at once, when no other transaction runs or waits (see `_db`).

    The async methods are the implementation. The sync ones (`get_tuple`,
    `list`, `put`, ...) work from other threads by running the async method on
    the checkpointer's event loop; on that loop's own thread they raise
    `StoreError`, since waiting there would deadlock.

    Example:
        ```python
        async with SqliteCheckpointer.from_path(".railgraph/railgraph.db") as saver:
            graph = builder.compile(checkpointer=saver)
            await graph.ainvoke(inputs, {"configurable": {"thread_id": "run-1"}})
        ```

    Args:
        db: The open, migrated database (see `from_path`).
        event_channel: The state channel whose writes are run events, if any.
        folded_channels: Channels whose writes, when they follow a write to
            `event_channel` in a task and are a dict of text to numbers, are stored in
            that write's row (railgraph's runner folds its usage channel, written by
            every node). Any saver loads such rows, whatever it is told here.
        serde: The serializer for checkpoints, channel values and writes; by default an
            `AllowlistSerializer`, which loads only the types it is told of (see
            `allow_types`), never code a stored row names.
        allowed_types: Types stored values may hold beyond LangGraph's safe ones and the
            state types of graphs compiled on this saver.
        redactor: Which secrets to redact from what is stored for people (run events,
            review requests, the ledger's arguments); `Redactor()` by default.
    """

    def __init__(
        self,
        db: Backend,
        *,
        event_channel: str | None = None,
        folded_channels: Collection[str] = (),
        serde: SerializerProtocol | None = None,
        allowed_types: Iterable[type | TypeName] = (),
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(serde=serde or AllowlistSerializer(allowed_types))
        self._db = db
        self._loop = asyncio.get_running_loop()
        self.event_channel = event_channel
        """The state channel whose writes are harvested as run events, if any."""
        self.folded_channels = frozenset(folded_channels)
        """Channels whose small writes are stored in the event write's row."""
        self.redactor = redactor or Redactor()
        """Redacts secrets from what is stored for people."""
        self.store = RunStore(db, redactor=self.redactor)
        """The run store in the same database, on the same connections and lock."""
        self.users = UserStore(db)
        """Users, API tokens and sign-in sessions, in the same database."""

    @classmethod
    @asynccontextmanager
    async def from_path(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        event_channel: str | None = None,
        folded_channels: Collection[str] = (),
        serde: SerializerProtocol | None = None,
        allowed_types: Iterable[type | TypeName] = (),
        clock: Clock = time.time,
        read_only: bool = False,
        redactor: Redactor | None = None,
        inline: bool = True,
    ) -> AsyncIterator[Self]:
        """Open the database at `path`, creating or upgrading its schema, and close it after.

        Args:
            path: The database file (parent directories are created) or `":memory:"`; or
                a PostgreSQL URL (`postgresql://...` or `postgres://...`), which needs the
                `postgres` extra (`pip install 'railgraph[postgres]'`).
            synchronous: `"NORMAL"` (durable across crashes of the process) or
                `"FULL"` (also across power loss).
            event_channel: The state channel whose writes are run events, if any.
            folded_channels: Channels whose small writes are stored in the event
                write's row (see the class).
            serde: The serializer; an `AllowlistSerializer` if `None`.
            allowed_types: Types stored values may hold (see the class).
            clock: Timestamps for run store records; inject one in tests.
            read_only: Open an existing railgraph database in SQLite's read-only mode (on
                PostgreSQL, read-only transactions): nothing is created, migrated or
                configured, and every write fails. For
                commands that only read (`railgraph runs`, `show`, `pending`, `render`).
            redactor: Which secrets to redact (see the class).
            inline: Run short writes and reads on the event loop's own thread (see
                `_inline`). `False` sends every statement to aiosqlite's worker thread,
                so the loop's thread never waits on the file: for hosts that forbid
                blocking calls on their loop, such as LangGraph's server. (SQLite's only:
                PostgreSQL's driver never blocks the loop.)

        Raises:
            SchemaVersionError: The database was written by a newer railgraph.
            StoreError: The database cannot be opened; read-only, also when there is no
                such file or it is not a railgraph database of this schema version.
        """
        saver = functools.partial(
            cls,
            event_channel=event_channel,
            folded_channels=folded_channels,
            serde=serde,
            allowed_types=allowed_types,
            redactor=redactor,
        )
        if is_postgres_url(path):
            async with open_postgres(str(path), clock=clock, read_only=read_only) as pg:
                yield saver(pg)
            return
        if read_only:
            async with open_read_only(path, schema_version=SCHEMA_VERSION, clock=clock) as db:
                yield saver(db)
            return
        async with open_database(path, synchronous=synchronous, clock=clock, inline=inline) as db:
            await migrate(db)
            yield saver(db)

    def allow_types(self, allowed: Iterable[type | TypeName]) -> None:
        """Let stored values hold these types (railgraph graphs register their state's).

        Only the default `AllowlistSerializer` keeps a list; another serializer is left as
        it was given.
        """
        if isinstance(self.serde, AllowlistSerializer):
            self.serde.allow(allowed)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> Self:
        """LangGraph's hook for a graph's types (strict msgpack mode): added to this saver's."""
        self.allow_types((t[0], t[1]) for t in extra_allowlist if len(t) == 2)
        return self

    @property
    def conn(self) -> aiosqlite.Connection:
        """The aiosqlite connection, for diagnostics; write through the saver or `store`.

        Raises:
            StoreError: The saver is on PostgreSQL, which has a pool of connections.
        """
        if not isinstance(self._db, Database):
            raise StoreError(
                "this checkpointer is on PostgreSQL, which has no single connection; write "
                "through the saver or its `store`."
            )
        return self._db.conn

    # -- reads --------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `config`, or the thread's latest if it names none.

        Pending writes come in `writes_sort_key` order (task path, task id, index).
        """
        thread_of(config)
        selection = Selection.of(config, limit=1, default_ns="")
        # One checkpoint by key: read on the loop's thread (values load after, here too).
        found = to_tuples(await self._db.read_short(lambda: select_page(selection)), self.serde)
        return found[0] if found else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first, with their values and writes.

        The whole page is read in three queries, whatever its size.

        Args:
            config: Restricts to its thread, and to its namespace and checkpoint
                if it names them; `None` lists every thread.
            filter: Metadata keys and the values they must have.
            before: Only checkpoints older than this one.
            limit: At most this many checkpoints.
        """
        selection = Selection.of(config, filter=filter, before=before, limit=limit)
        found = to_tuples(await self._db.read(select_page(selection)), self.serde)
        for item in found:
            yield item

    # -- writes -------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; only channels in `new_versions` get new blobs.

        Returns:
            The config naming the stored checkpoint.
        """
        stored = put_checkpoint(
            config, checkpoint, metadata, new_versions, self.serde, self.event_channel
        )
        await self._write(stored)
        return thread_config(
            thread_of(config),
            (config.get("configurable") or {}).get("checkpoint_ns", ""),
            checkpoint["id"],
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against a checkpoint, and harvest its run events.

        A repeated write keeps the first value, except for LangGraph's special
        channels (error, interrupt, ...), where the latest replaces it. Writes to
        `event_channel` also go to `run_events` in the same transaction, once.

        Raises:
            StoreError: A write to `event_channel` is not an event or list of
                events; nothing is stored.
        """
        stored = put_writes(
            config,
            writes,
            task_id,
            task_path,
            self.serde,
            self.event_channel,
            self.redactor,
            self.folded_channels,
        )
        await self._write(stored)

    async def _write(self, stored: Prepared) -> None:
        if stored.large:
            # Compressed in a worker thread before the transaction, not under its lock:
            # other writes commit meanwhile. A value stored before is compressed for
            # nothing, but only changed channels reach here, so that is rare.
            await asyncio.to_thread(pack_values, stored.large)
        await self._db.write(stored.body, short=stored.short)

    # -- whole threads --------------------------------------------------------

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, blobs and writes (its run records stay)."""
        await self._db.write(lambda: delete_threads([thread_id]))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints and writes created by these LangGraph run ids."""
        await self._db.write(lambda: delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history, writes included, to a new thread id.

        Raises:
            StoreError: The source has no checkpoints or the target already has some.
        """
        await self._db.write(lambda: copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune threads: `"keep_latest"` keeps each namespace's latest checkpoint, `"delete"` all.

        `"keep_latest"` also keeps the ancestors a `DeltaChannel` needs to rebuild
        its value at the kept checkpoint.

        Raises:
            StoreError: The strategy is unknown.
        """
        await self._db.write(lambda: prune_threads(thread_ids, strategy))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The version after `current`: short, increasing, and unique across forks.

        See `railgraph.checkpointers._versions` for the format; versions written by older
        railgraph releases are continued from.
        """
        return next_version(current)
