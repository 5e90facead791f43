"""Reading checkpoints back: a page, its channel values and its writes, in three queries.

One `SELECT` chooses the page (see `_select`). Two more fetch what the page
needs, whatever its size, by key ranges rather than one key at a time: for each
(thread, namespace, channel), the blobs between the lowest and the highest
version the page names, and for each (thread, namespace), the writes between
its oldest and newest checkpoint. A range scan of the primary key is several
times faster than looking keys up one by one; rows a range brings in that the
page does not need (a fork's blobs, a checkpoint a filter left out) are skipped.

Deserializing happens after the read transaction, on the event loop. Each
distinct serialized value is loaded once per page and then shared between
checkpoints if it is immutable (`None`, a number, a string, bytes); a mutable
value is loaded once per use, so callers may change what they get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import Checkpoint, CheckpointTuple, PendingWrite
from langgraph.checkpoint.serde.base import SerializerProtocol

from railgraph.errors import StoreError

from ._events import EVENT_REF_TYPES, FOLDED_EVENTS_BY_REF
from ._json import dumps, loads
from ._select import Selection
from ._tx import Body, fetchtuples
from ._values import unpack

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["EMPTY_BLOB", "CheckpointKey", "Page", "select_page", "thread_config", "to_tuples"]

EMPTY_BLOB = "empty"
"""The blob type that earlier releases stored for a channel with a version but no value
(such rows are not loaded; a channel like that now has no row at all)."""

CheckpointKey = tuple[str, str, str]
"""(thread_id, checkpoint_ns, checkpoint_id)."""

# Each row says which range it fell in (`r.key`) rather than repeating the range's
# thread, namespace and channel: fewer values to turn into Python objects.
_BLOBS_IN_RANGES = """
    SELECT r.key, b.version, b.type, b.blob, v.codec, v.data
    FROM json_each(?) AS r
    JOIN checkpoint_blobs AS b
      ON b.thread_id = r.value ->> 0 AND b.checkpoint_ns = r.value ->> 1
     AND b.channel = r.value ->> 2 AND b.version BETWEEN r.value ->> 3 AND r.value ->> 4
    LEFT JOIN checkpoint_values AS v ON v.hash = b.value_hash
    WHERE b.type != 'empty'
"""

# In key order: by checkpoint, then task id and index. `to_tuples` puts a checkpoint's
# writes in `writes_sort_key` order (task path first) when their task paths differ.
_WRITES_IN_RANGES = """
    SELECT r.key, w.checkpoint_id, w.task_path, w.task_id, w.channel, w.type, w.blob,
           v.codec, v.data
    FROM json_each(?) AS r
    JOIN checkpoint_writes AS w
      ON w.thread_id = r.value ->> 0 AND w.checkpoint_ns = r.value ->> 1
     AND w.checkpoint_id BETWEEN r.value ->> 2 AND r.value ->> 3
    LEFT JOIN checkpoint_values AS v ON v.hash = w.value_hash
"""

# The events that event-channel writes name (see `_events.EVENTS_BY_REF`), by reference.
_EVENTS_OF_REFS = """
    SELECT r.value ->> 0, e.kind, e.node, e.at, e.data
    FROM json_each(?) AS r
    JOIN run_events AS e
      ON e.run_id = r.value ->> 1 AND e.seq BETWEEN r.value ->> 2 AND r.value ->> 3
    ORDER BY r.key, e.seq
"""

_SHAREABLE: frozenset[type] = frozenset({type(None), bool, int, float, str, bytes})
"""Types whose values no caller can change, so one loaded value can serve many tuples."""


@dataclass(frozen=True)
class Page:
    """What one read transaction found: checkpoint rows, their blobs and writes."""

    rows: list[tuple[Any, ...]]
    """Checkpoint rows (see `PAGE_COLUMNS`), newest first."""
    versions: list[dict[str, Any]]
    """Each row's `channel_versions` column, parsed (every version as text)."""
    blob_ranges: list[tuple[str, str, str]]
    """The (thread, namespace, channel) of each blob range."""
    blob_rows: list[tuple[Any, ...]]
    """Non-empty blobs in the version ranges the rows name, with stored values."""
    write_ranges: list[tuple[str, str]]
    """The (thread, namespace) of each write range."""
    write_rows: list[tuple[Any, ...]]
    """Writes in the checkpoint ranges of the rows, in primary key order."""
    events: dict[bytes, list[dict[str, Any]]]
    """The events of each event-channel write stored by reference, by its blob."""


def select_page(selection: Selection) -> Body[Page]:
    """The body of the read transaction that reads a page."""
    rows = yield from fetchtuples(selection.page_sql(), selection.page_params())
    if not rows:
        return Page([], [], [], [], [], [], {})
    # One JSON parse for the whole page is several times faster than one per row.
    versions: list[dict[str, Any]] = loads("[" + ",".join(row[7] for row in rows) + "]")
    # Per (thread, namespace): the page's checkpoint ids, and each channel's versions.
    named: dict[tuple[str, str], tuple[list[str], dict[str, list[str]]]] = {}
    for row, row_versions in zip(rows, versions, strict=True):
        if (found := named.get((row[0], row[1]))) is None:
            found = named[row[0], row[1]] = ([], {})
        ids, channels = found
        ids.append(row[2])
        for channel, version in row_versions.items():
            if (of_channel := channels.get(channel)) is None:
                channels[channel] = [version]
            else:
                of_channel.append(version)
    blob_ranges = [(*key, channel) for key, (_, channels) in named.items() for channel in channels]
    blob_rows = yield from fetchtuples(
        _BLOBS_IN_RANGES,
        (
            dumps(
                [
                    [*key, channel, min(of_channel), max(of_channel)]
                    for key, (_, channels) in named.items()
                    for channel, of_channel in channels.items()
                ]
            ),
        ),
    )
    write_rows = yield from fetchtuples(
        _WRITES_IN_RANGES, (dumps([[*key, min(ids), max(ids)] for key, (ids, _) in named.items()]),)
    )
    refs = {w[6] for w in write_rows if w[5] in EVENT_REF_TYPES}
    events: dict[bytes, list[dict[str, Any]]] = {ref: [] for ref in refs}
    if refs:
        listed = sorted(refs)
        # A ref is [run, first seq, last seq], with its folded writes after them.
        named_events = [[i, *loads(ref)[:3]] for i, ref in enumerate(listed)]
        event_rows = yield from fetchtuples(_EVENTS_OF_REFS, (dumps(named_events),))
        for i, kind, node, at, data in event_rows:
            events[listed[i]].append({"kind": kind, "node": node, "at": at, "data": data})
    return Page(rows, versions, blob_ranges, blob_rows, list(named), write_rows, events)


_MISSING: Any = object()


class _Values:
    """Deserializes a page's values, each distinct one once where that is safe."""

    def __init__(self, serde: SerializerProtocol) -> None:
        self._serde = serde
        self._shared: dict[tuple[str, bytes], Any] = {}
        self._unpacked: dict[bytes, bytes] = {}

    def load(
        self, value_type: str, inline: bytes | None, codec: str | None, stored: bytes | None
    ) -> Any:
        """The value of a blob or write row, held inline or in `checkpoint_values`."""
        if codec is None and inline is not None:
            key = (value_type, inline)
        elif codec is not None and stored is not None:
            data = self._unpacked.get(stored)
            if data is None:
                data = self._unpacked[stored] = unpack(codec, stored)
            key = (value_type, data)
        else:
            raise StoreError(
                "a checkpoint value named by its hash is missing from the database; the "
                "file was changed outside railgraph. Restore it from a backup."
            )
        value = self._shared.get(key, _MISSING)
        if value is _MISSING:
            value = self._serde.loads_typed(key)
            if type(value) in _SHAREABLE:
                self._shared[key] = value
        return value


class _Shared:
    """A blob already loaded into a value that every checkpoint naming it may hold."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def to_tuples(page: Page, serde: SerializerProtocol) -> list[CheckpointTuple]:
    """Deserialize a page read by `select_page` into checkpoint tuples, in order."""
    values = _Values(serde)
    # (thread, namespace) -> channel -> version -> blob row, or the value once shared.
    blobs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    by_range: list[dict[str, Any]] = []
    for thread_id, checkpoint_ns, channel in page.blob_ranges:
        by_range.append(blobs.setdefault((thread_id, checkpoint_ns), {}).setdefault(channel, {}))
    for b in page.blob_rows:
        by_range[b[0]][b[1]] = b
    writes = _writes(page, values)
    metadata = loads("[" + ",".join(row[6] for row in page.rows) + "]")
    found = []
    for row, versions, row_metadata, row_writes in zip(
        page.rows, page.versions, metadata, writes, strict=True
    ):
        thread_id, checkpoint_ns, checkpoint_id, parent_id = row[0], row[1], row[2], row[3]
        checkpoint: Checkpoint = serde.loads_typed((row[4], row[5]))
        # Rows stored before schema 3, and rows whose versions are not strings, keep
        # their versions in the serialized checkpoint too; the column has them as text.
        checkpoint.setdefault("channel_versions", versions)
        channel_values = {}
        namespace_blobs = blobs.get((thread_id, checkpoint_ns), {})
        for channel, version in versions.items():
            of_channel = namespace_blobs.get(channel)
            if of_channel is None or (blob := of_channel.get(version)) is None:
                continue
            if type(blob) is _Shared:
                channel_values[channel] = blob.value
                continue
            value = channel_values[channel] = values.load(blob[2], blob[3], blob[4], blob[5])
            if type(value) in _SHAREABLE:
                of_channel[version] = _Shared(value)
        checkpoint["channel_values"] = channel_values
        found.append(
            CheckpointTuple(
                thread_config(thread_id, checkpoint_ns, checkpoint_id),
                checkpoint,
                row_metadata,
                thread_config(thread_id, checkpoint_ns, parent_id) if parent_id else None,
                row_writes,
            )
        )
    return found


def _writes(page: Page, values: _Values) -> list[list[PendingWrite]]:
    """Each row's pending writes, in `writes_sort_key` order (task path, task id, index)."""
    ranges = {key: i for i, key in enumerate(page.write_ranges)}
    position: list[dict[str, int]] = [{} for _ in page.write_ranges]
    for i, row in enumerate(page.rows):
        position[ranges[row[0], row[1]]][row[2]] = i
    writes: list[list[PendingWrite]] = [[] for _ in page.rows]
    paths: list[list[str]] = [[] for _ in page.rows]
    for w in page.write_rows:
        i = position[w[0]].get(w[1], -1)
        if i < 0:
            continue
        if w[5] in EVENT_REF_TYPES:
            # Fresh dicts per use: callers may change what they get.
            value: Any = [{**e, "data": loads(e["data"])} for e in page.events[w[6]]]
            writes[i].append((w[3], w[4], value))
            paths[i].append(w[2])
            if w[5] == FOLDED_EVENTS_BY_REF:
                # The writes that followed the event write in its task, in their order
                # (read again here, so that each use gets values of its own).
                for channel, folded in loads(w[6])[3]:
                    writes[i].append((w[3], channel, folded))
                    paths[i].append(w[2])
            continue
        value = values.load(w[5], w[6], w[7], w[8])
        writes[i].append((w[3], w[4], value))
        paths[i].append(w[2])
    for i, row_paths in enumerate(paths):
        if row_paths and row_paths.count(row_paths[0]) != len(row_paths):
            # Rows come by task id and index; a stable sort on the path keeps that order.
            order = sorted(range(len(row_paths)), key=row_paths.__getitem__)
            writes[i] = [writes[i][k] for k in order]
    return writes


def thread_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config that names one checkpoint."""
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }
