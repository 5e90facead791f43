"""Storing checkpoints and task writes: rows built on the event loop, stored by one body.

Everything that takes Python work (serializing, hashing large values, checking
events) happens when `put_checkpoint` or `put_writes` is called; the body they
return only runs SQL (and compresses values not stored before), so the
transaction runs whole in one go: on the event loop's thread when it stores no
large value (see `Prepared.short`), otherwise in the database's worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from railgraph.errors import StoreError

from ._events import (
    EVENTS_BY_REF,
    FOLDED_EVENTS_BY_REF,
    EventRow,
    event_ref,
    harvest_rows,
    insert_events,
    next_seq,
)
from ._fold import fold_writes, foldable
from ._json import dumps
from ._redact import Redactor
from ._tx import Body, execute, executemany, fetchone
from ._values import LargeValue, collect_values, split_value, store_values

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["Prepared", "put_checkpoint", "put_writes", "thread_of"]

_TEXT = frozenset({str})

_INSERT_BLOB = """
    INSERT OR IGNORE INTO checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob, value_hash)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_CHECKPOINT = """
    INSERT OR REPLACE INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
         metadata, channel_versions, run_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_WRITE_COLUMNS = (
    "(thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, value_hash, "
    "task_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STORED_WRITE_VALUE = """
    SELECT value_hash FROM checkpoint_writes
    WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ? AND task_id = ? AND idx = ?
      AND value_hash IS NOT NULL
"""


class Prepared(NamedTuple):
    """A write transaction ready to run."""

    body: Callable[[], Body[None]]
    """Makes the transaction (again, when PostgreSQL runs it again: see `_pgdb`)."""
    large: list[LargeValue]
    """The large values it stores (see `pack_values`)."""
    short: bool
    """It stores no large value (see `_values`), so it may run on the event loop's
    thread (see `Database.write`); storing one may mean compressing it."""


def thread_of(config: RunnableConfig) -> str:
    """The config's thread id.

    Raises:
        StoreError: The config names no thread.
    """
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if thread_id is None:
        raise StoreError(
            'the config names no thread; pass {"configurable": {"thread_id": ...}} '
            "when you invoke the graph."
        )
    return str(thread_id)


def put_checkpoint(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    serde: SerializerProtocol,
    event_channel: str | None = None,
) -> Prepared:
    """The transaction that stores a checkpoint and the values of the channels in `new_versions`.

    `channel_versions` is stored once, as the JSON column SQL reads; the
    serialized checkpoint repeats it only when some version is not a string,
    whose type JSON text would not keep. The event channel's value is not stored:
    it holds the last step's events, which the run store has (a loaded checkpoint
    has no value for it, as after a step that wrote none).
    """
    configurable = config.get("configurable") or {}
    thread_id = thread_of(config)
    checkpoint_ns: str = configurable.get("checkpoint_ns", "")
    values = checkpoint["channel_values"]
    versions = checkpoint["channel_versions"]
    kept: dict[str, Any] = dict(checkpoint)
    del kept["channel_values"]
    if {*map(type, versions.values())} <= _TEXT:
        del kept["channel_versions"]
        # Text to text, so orjson writes what `dumps` would, ten times faster: this
        # dict names every channel, and is written at every step.
        versions_json = orjson.dumps(versions).decode()
    else:
        versions_json = dumps({channel: str(version) for channel, version in versions.items()})
    checkpoint_type, checkpoint_bytes = serde.dumps_typed(kept)
    large: list[LargeValue] = []
    blobs: list[tuple[Any, ...]] = []
    for channel, version in new_versions.items():
        if channel == event_channel or channel not in values:
            # A channel with a new version but no value (emptied, as a consumed trigger
            # is) has no row: loading finds none and leaves it out, as for an
            # `EMPTY_BLOB` row written before.
            continue
        blob_type, data = serde.dumps_typed(values[channel])
        inline, digest, value = split_value(data)
        if value is not None:
            large.append(value)
        blobs.append((thread_id, checkpoint_ns, channel, str(version), blob_type, inline, digest))
    stored_metadata = get_serializable_checkpoint_metadata(config, metadata)
    run_id = stored_metadata.get("run_id")
    row = (
        thread_id,
        checkpoint_ns,
        checkpoint["id"],
        configurable.get("checkpoint_id"),
        checkpoint_type,
        checkpoint_bytes,
        dumps(stored_metadata),
        versions_json,
        None if run_id is None else str(run_id),
    )
    return Prepared(partial(_store_checkpoint, large, blobs, row), large, short=not large)


def _store_checkpoint(
    large: list[LargeValue], blobs: list[tuple[Any, ...]], row: tuple[Any, ...]
) -> Body[None]:
    yield from store_values(large)
    yield from executemany(_INSERT_BLOB, blobs)
    yield from execute(_INSERT_CHECKPOINT, row)
    # A blob already stored under the same key keeps its value; drop one that is then
    # unused, rather than leave it behind. (Both return at once when there are none.)
    yield from collect_values(value.digest for value in large)


def put_writes(
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    serde: SerializerProtocol,
    event_channel: str | None,
    redactor: Redactor | None = None,
    folded_channels: Collection[str] = (),
) -> Prepared:
    """The transaction that stores a task's writes and the run events among them.

    The writes keep their values (the run needs them); the events, for people, are
    stored with `redactor`'s secrets redacted.

    A write that follows the event write in the task (or another write folded into it)
    is stored in the event write's row rather than a row of its own (see `event_ref`)
    when it has no value (`None`, as LangGraph's edges write to trigger the next node)
    or when its channel is one of `folded_channels` and its value `foldable`: a row
    costs more than such a value, and a node of a railgraph graph writes both each step.

    Raises:
        StoreError: The config names no checkpoint, or a write to `event_channel`
            is not an event or list of events; nothing is stored.
    """
    configurable = config.get("configurable") or {}
    thread_id = thread_of(config)
    checkpoint_ns: str = configurable.get("checkpoint_ns", "")
    checkpoint_id = configurable.get("checkpoint_id")
    if checkpoint_id is None:
        raise StoreError(
            "writes need the config of the checkpoint they belong to (with a "
            "`checkpoint_id`), as returned by `aput`."
        )
    large: list[LargeValue] = []
    regular: list[tuple[Any, ...]] = []
    special: list[tuple[Any, ...]] = []
    harvested: list[tuple[tuple[Any, ...], list[EventRow], list[tuple[str, Any]]]] = []
    # The writes folded into the event write just before, while they follow it.
    folding: list[tuple[str, Any]] | None = None
    for position, (channel, value) in enumerate(writes):
        idx = WRITES_IDX_MAP.get(channel, position)
        if event_channel is not None and channel == event_channel and idx >= 0:
            # Stored once, as run events; the write row names them (see `_store_writes`).
            rows = harvest_rows(
                value,
                redactor,
                source=partial(_write_source, position, task_id, channel),
            )
            folding = []
            harvested.append(
                ((thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel), rows, folding)
            )
            continue
        if (
            folding is not None
            and idx >= 0
            and (value is None or (channel in folded_channels and foldable(value)))
        ):
            # Loaded back in this place: right after the writes it follows (see `_load`).
            folding.append((channel, value))
            continue
        folding = None
        write_type, data = serde.dumps_typed(value)
        inline, digest, stored = split_value(data)
        if stored is not None:
            large.append(stored)
        row = (
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            task_id,
            idx,
            channel,
            write_type,
            inline,
            digest,
            task_path,
        )
        (special if idx < 0 else regular).append(row)
    refs = [(key, rows, fold_writes(folded)) for key, rows, folded in harvested]
    return Prepared(
        partial(_store_writes, thread_id, task_path, large, special, regular, refs),
        large,
        short=not large,
    )


def _write_source(position: int, task_id: str, channel: str) -> str:
    return f"write {position} of task {task_id} to event channel {channel!r}"


def _store_writes(
    run_id: str,
    task_path: str,
    large: list[LargeValue],
    special: list[tuple[Any, ...]],
    regular: list[tuple[Any, ...]],
    refs: list[tuple[tuple[Any, ...], list[EventRow], str | None]],
) -> Body[None]:
    yield from store_values(large)
    unused = [value.digest for value in large]
    # A special write (error, interrupt, ...) replaces an earlier one, whose value
    # may be named by nothing else once it is gone.
    for row in special:
        replaced = yield from fetchone(_STORED_WRITE_VALUE, row[:5])
        if replaced is not None:
            unused.append(replaced[0])
    yield from executemany(f"INSERT OR REPLACE INTO checkpoint_writes {_WRITE_COLUMNS}", special)
    yield from executemany(f"INSERT OR IGNORE INTO checkpoint_writes {_WRITE_COLUMNS}", regular)
    for key, rows, folded in refs:
        # The write names its events by seq; a repeated put_writes inserts neither (nor
        # the writes folded into it, whose first values stay, as for rows of their own).
        first = yield from next_seq(run_id)
        ref = event_ref(run_id, first, len(rows), folded)
        if (
            yield from execute(
                f"INSERT OR IGNORE INTO checkpoint_writes {_WRITE_COLUMNS}",
                (
                    *key,
                    EVENTS_BY_REF if folded is None else FOLDED_EVENTS_BY_REF,
                    ref,
                    None,
                    task_path,
                ),
            )
        ):
            yield from insert_events(run_id, rows, first_seq=first)
    yield from collect_values(unused)
