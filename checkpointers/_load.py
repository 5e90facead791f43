"""Reading checkpoints back: select a page, then its blobs and writes, in three queries.

A page of checkpoints is chosen by one `SELECT`. The channel values of the whole
page come from one more query, which names the blobs through each row's
`channel_versions`, and the pending writes of the whole page from a third. Both
re-run the page query as a CTE inside the same read transaction, so the number
of statements never depends on the number of rows.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import (
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ._db import Transaction
from ._json import dumps, loads

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["EMPTY_BLOB", "CheckpointKey", "Selection", "load_tuples", "thread_config"]

EMPTY_BLOB = "empty"
"""The blob type of a channel that has a version but no value (it is not loaded)."""

CheckpointKey = tuple[str, str, str]
"""(thread_id, checkpoint_ns, checkpoint_id)."""

BlobKey = tuple[str, str, str, str]
"""(thread_id, checkpoint_ns, channel, version)."""

_PAGE_COLUMNS = (
    "c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, "
    "c.type, c.checkpoint, c.metadata, c.channel_versions"
)

_BLOBS_OF_PAGE = """
    SELECT b.thread_id, b.checkpoint_ns, b.channel, b.version, b.type, b.blob
    FROM checkpoint_blobs AS b
    WHERE b.type != 'empty'
      AND (b.thread_id, b.checkpoint_ns, b.channel, b.version) IN (
        SELECT p.thread_id, p.checkpoint_ns, v.key, v.value
        FROM page AS p, json_each(p.channel_versions) AS v)
"""

_WRITES_OF_PAGE = """
    SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, w.channel, w.type, w.blob
    FROM checkpoint_writes AS w
    WHERE (w.thread_id, w.checkpoint_ns, w.checkpoint_id) IN (
        SELECT p.thread_id, p.checkpoint_ns, p.checkpoint_id FROM page AS p)
    ORDER BY w.task_path, w.task_id, w.idx
"""


@dataclass
class Selection:
    """Which checkpoints to load, newest first; builds the page query."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    limit: int | None = None

    @classmethod
    def of(
        cls,
        config: RunnableConfig | None,
        *,
        filter: Mapping[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
        default_ns: str | None = None,
    ) -> Selection:
        """Select by config (thread, namespace, id), metadata filter and cursor.

        Args:
            config: Its `thread_id`, `checkpoint_ns` and `checkpoint_id`, where
                present, must match.
            filter: Metadata keys whose values must equal these (JSON equality;
                numbers compare by value).
            before: Only checkpoints older than this config's `checkpoint_id`.
            limit: At most this many rows.
            default_ns: The namespace to use when `config` names none; `None`
                means every namespace.
        """
        selection = cls(limit=limit)
        configurable = (config or {}).get("configurable") or {}
        if (thread_id := configurable.get("thread_id")) is not None:
            selection.where("c.thread_id = ?", str(thread_id))
        checkpoint_ns = configurable.get("checkpoint_ns", default_ns)
        if checkpoint_ns is not None:
            selection.where("c.checkpoint_ns = ?", checkpoint_ns)
        if config is not None and (checkpoint_id := get_checkpoint_id(config)):
            selection.where("c.checkpoint_id = ?", checkpoint_id)
        if before is not None and (before_id := get_checkpoint_id(before)):
            selection.where("c.checkpoint_id < ?", before_id)
        for key, value in (filter or {}).items():
            selection.where_metadata(key, value)
        return selection

    def where(self, clause: str, *params: Any) -> None:
        """Add one condition on the `checkpoints` row `c`."""
        self.clauses.append(clause)
        self.params.extend(params)

    def where_metadata(self, key: str, value: Any) -> None:
        """Require `metadata[key] == value`, typed as JSON types (so `1` never equals `true`)."""
        params: list[Any] = []
        if value is None:
            test = "m.type = 'null'"
        elif isinstance(value, bool):
            test = "m.type = 'true'" if value else "m.type = 'false'"
        elif isinstance(value, int | float):
            test, params = "m.type IN ('integer', 'real') AND m.atom = ?", [value]
        elif isinstance(value, str):
            test, params = "m.type = 'text' AND m.atom = ?", [value]
        else:
            test = "m.type IN ('object', 'array') AND json(m.value) = json(?)"
            params = [dumps(value)]
        # json_each rather than a JSON path: a path cannot spell every key.
        self.where(
            f"EXISTS (SELECT 1 FROM json_each(c.metadata) AS m WHERE m.key = ? AND {test})",
            key,
            *params,
        )

    def page_sql(self) -> str:
        """The `SELECT` of the page: newest first, at most `limit` rows."""
        where = " AND ".join(self.clauses) or "1"
        return (
            f"SELECT {_PAGE_COLUMNS} FROM checkpoints AS c WHERE {where} "
            "ORDER BY c.checkpoint_id DESC, c.thread_id, c.checkpoint_ns LIMIT ?"
        )

    def page_params(self) -> list[Any]:
        """The parameters of `page_sql`."""
        return [*self.params, -1 if self.limit is None else self.limit]


async def load_tuples(
    tx: Transaction, selection: Selection, serde: SerializerProtocol
) -> list[CheckpointTuple]:
    """Load the selected checkpoints with their channel values and pending writes.

    Exactly three statements run, whatever the page size.
    """
    page_sql, params = selection.page_sql(), selection.page_params()
    rows = await tx.fetchall(page_sql, params)
    if not rows:
        return []
    blob_rows = await tx.fetchall(f"WITH page AS ({page_sql}) {_BLOBS_OF_PAGE}", params)
    write_rows = await tx.fetchall(f"WITH page AS ({page_sql}) {_WRITES_OF_PAGE}", params)

    blobs: dict[BlobKey, tuple[str, bytes]] = {
        (b["thread_id"], b["checkpoint_ns"], b["channel"], b["version"]): (b["type"], b["blob"])
        for b in blob_rows
    }
    writes: defaultdict[CheckpointKey, list[PendingWrite]] = defaultdict(list)
    for w in write_rows:
        key = (w["thread_id"], w["checkpoint_ns"], w["checkpoint_id"])
        writes[key].append((w["task_id"], w["channel"], serde.loads_typed((w["type"], w["blob"]))))
    return [_to_tuple(row, blobs, writes, serde) for row in rows]


def _to_tuple(
    row: sqlite3.Row,
    blobs: Mapping[BlobKey, tuple[str, bytes]],
    writes: Mapping[CheckpointKey, list[PendingWrite]],
    serde: SerializerProtocol,
) -> CheckpointTuple:
    thread_id, checkpoint_ns, checkpoint_id = (
        row["thread_id"],
        row["checkpoint_ns"],
        row["checkpoint_id"],
    )
    checkpoint: Checkpoint = serde.loads_typed((row["type"], row["checkpoint"]))
    # Each tuple deserializes its own copy, so callers may mutate values freely.
    checkpoint["channel_values"] = {
        channel: serde.loads_typed(blob)
        for channel, version in loads(row["channel_versions"]).items()
        if (blob := blobs.get((thread_id, checkpoint_ns, channel, version))) is not None
    }
    metadata: CheckpointMetadata = loads(row["metadata"])
    parent_id = row["parent_checkpoint_id"]
    return CheckpointTuple(
        config=thread_config(thread_id, checkpoint_ns, checkpoint_id),
        checkpoint=checkpoint,
        metadata=metadata,
        parent_config=thread_config(thread_id, checkpoint_ns, parent_id) if parent_id else None,
        pending_writes=writes.get((thread_id, checkpoint_ns, checkpoint_id), []),
    )


def thread_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config that names one checkpoint."""
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }
