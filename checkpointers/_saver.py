"""`SqliteCheckpointer`: LangGraph's checkpoint saver on one aiosqlite connection."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import aiosqlite
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from railgraph.errors import StoreError

from ._db import Clock, Database, Synchronous, open_database
from ._events import HarvestKey, NewEvent, insert_events, parse_events
from ._json import dumps
from ._load import EMPTY_BLOB, Selection, load_tuples, thread_config
from ._schema import migrate
from ._store import RunStore
from ._sync import SyncBridge
from ._threads import copy_thread, delete_for_runs, delete_threads, prune_threads

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["SqliteCheckpointer"]

_INSERT_BLOB = """
    INSERT OR IGNORE INTO checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob)
    VALUES (?, ?, ?, ?, ?, ?)
"""
_INSERT_CHECKPOINT = """
    INSERT OR REPLACE INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
         metadata, channel_versions, run_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_WRITE_COLUMNS = (
    "(thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _thread_id(config: RunnableConfig) -> str:
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if thread_id is None:
        raise StoreError(
            'the config names no thread; pass {"configurable": {"thread_id": ...}} '
            "when you invoke the graph."
        )
    return str(thread_id)


class SqliteCheckpointer(SyncBridge):
    """A LangGraph checkpointer, and railgraph's run store, in one SQLite file.

    Open it with `from_path`. Channel values are stored once per channel version,
    so a value that never changes is written once however many checkpoints there
    are. With `event_channel` set, run events that nodes write to that channel
    are stored in the run store in the same transaction as the node's writes: an
    event is stored iff the node result it describes is durable.

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
        serde: The serializer for checkpoints, channel values and writes.
    """

    def __init__(
        self,
        db: Database,
        *,
        event_channel: str | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._db = db
        self._loop = asyncio.get_running_loop()
        self.event_channel = event_channel
        """The state channel whose writes are harvested as run events, if any."""
        self.store = RunStore(db)
        """The run store in the same database, on the same connection and lock."""

    @classmethod
    @asynccontextmanager
    async def from_path(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        event_channel: str | None = None,
        serde: SerializerProtocol | None = None,
        clock: Clock = time.time,
    ) -> AsyncIterator[Self]:
        """Open the database at `path`, creating or upgrading its schema, and close it after.

        Args:
            path: The database file (parent directories are created) or `":memory:"`.
            synchronous: `"NORMAL"` (durable across crashes of the process) or
                `"FULL"` (also across power loss).
            event_channel: The state channel whose writes are run events, if any.
            serde: The serializer; LangGraph's default if `None`.
            clock: Timestamps for run store records; inject one in tests.

        Raises:
            SchemaVersionError: The database was written by a newer railgraph.
            StoreError: The database cannot be opened.
        """
        async with open_database(path, synchronous=synchronous, clock=clock) as db:
            await migrate(db)
            yield cls(db, event_channel=event_channel, serde=serde)

    @property
    def conn(self) -> aiosqlite.Connection:
        """The underlying connection, for diagnostics; write through the saver or `store`."""
        return self._db.conn

    # -- reads --------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by `config`, or the thread's latest if it names none.

        Pending writes come in `writes_sort_key` order (task path, task id, index).
        """
        _thread_id(config)
        selection = Selection.of(config, limit=1, default_ns="")
        async with self._db.read() as tx:
            found = await load_tuples(tx, selection, self.serde)
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
        async with self._db.read() as tx:
            found = await load_tuples(tx, selection, self.serde)
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
        configurable = config.get("configurable") or {}
        thread_id = _thread_id(config)
        checkpoint_ns: str = configurable.get("checkpoint_ns", "")
        values = checkpoint["channel_values"]
        stripped = {key: value for key, value in checkpoint.items() if key != "channel_values"}
        checkpoint_type, checkpoint_bytes = self.serde.dumps_typed(stripped)
        blobs = [
            (
                thread_id,
                checkpoint_ns,
                channel,
                str(version),
                *(
                    self.serde.dumps_typed(values[channel])
                    if channel in values
                    else (EMPTY_BLOB, None)
                ),
            )
            for channel, version in new_versions.items()
        ]
        stored_metadata = get_serializable_checkpoint_metadata(config, metadata)
        run_id = stored_metadata.get("run_id")
        async with self._db.write() as tx:
            await tx.executemany(_INSERT_BLOB, blobs)
            await tx.execute(
                _INSERT_CHECKPOINT,
                (
                    thread_id,
                    checkpoint_ns,
                    checkpoint["id"],
                    configurable.get("checkpoint_id"),
                    checkpoint_type,
                    checkpoint_bytes,
                    dumps(stored_metadata),
                    dumps({ch: str(v) for ch, v in checkpoint["channel_versions"].items()}),
                    None if run_id is None else str(run_id),
                ),
            )
        return thread_config(thread_id, checkpoint_ns, checkpoint["id"])

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
        configurable = config.get("configurable") or {}
        thread_id = _thread_id(config)
        checkpoint_ns: str = configurable.get("checkpoint_ns", "")
        checkpoint_id = configurable.get("checkpoint_id")
        if checkpoint_id is None:
            raise StoreError(
                "writes need the config of the checkpoint they belong to (with a "
                "`checkpoint_id`), as returned by `aput`."
            )
        regular: list[tuple[Any, ...]] = []
        special: list[tuple[Any, ...]] = []
        harvested: list[tuple[HarvestKey, list[NewEvent]]] = []
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            row = (
                thread_id,
                checkpoint_ns,
                checkpoint_id,
                task_id,
                idx,
                channel,
                *self.serde.dumps_typed(value),
                task_path,
            )
            (special if idx < 0 else regular).append(row)
            if self.event_channel is not None and channel == self.event_channel:
                events = parse_events(
                    value,
                    source=f"write {position} of task {task_id} to event channel {channel!r}",
                )
                harvested.append(((checkpoint_ns, checkpoint_id, task_id, idx), events))
        async with self._db.write() as tx:
            await tx.executemany(
                f"INSERT OR REPLACE INTO checkpoint_writes {_WRITE_COLUMNS}", special
            )
            await tx.executemany(
                f"INSERT OR IGNORE INTO checkpoint_writes {_WRITE_COLUMNS}", regular
            )
            for key, events in harvested:
                await insert_events(tx, thread_id, events, key)

    # -- whole threads --------------------------------------------------------

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, blobs and writes (its run records stay)."""
        async with self._db.write() as tx:
            await delete_threads(tx, [thread_id])

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints and writes created by these LangGraph run ids."""
        async with self._db.write() as tx:
            await delete_for_runs(tx, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history, writes included, to a new thread id.

        Raises:
            StoreError: The source has no checkpoints or the target already has some.
        """
        async with self._db.write() as tx:
            await copy_thread(tx, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune threads: `"keep_latest"` keeps each namespace's latest checkpoint, `"delete"` all.

        `"keep_latest"` also keeps the ancestors a `DeltaChannel` needs to rebuild
        its value at the kept checkpoint.

        Raises:
            StoreError: The strategy is unknown.
        """
        async with self._db.write() as tx:
            await prune_threads(tx, thread_ids, strategy)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The version after `current`: a zero-padded counter and a random tiebreak.

        Strings sort in the order they were made, and a fork from an older
        checkpoint never reuses a version its siblings already hold.
        """
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(current.split(".")[0])
        return f"{number + 1:032}.{random.random():016}"
