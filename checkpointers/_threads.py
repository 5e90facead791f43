"""Whole-thread maintenance: delete, delete by LangGraph run, copy and prune.

Each function is the body of one write transaction (see `_tx`). Lists of ids travel as
one JSON array parameter read with `json_each`, so no statement's parameter count
grows with the input. After checkpoints go, `_GARBAGE_BLOBS` drops the blobs
that no remaining checkpoint names, since blobs are shared between checkpoints,
and `collect_values` the large values that no remaining blob or write names.

Run store tables are not touched: a run's record and events outlive its checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from railgraph.errors import StoreError

from ._json import dumps, loads, loads_or_none
from ._load import EMPTY_BLOB, CheckpointKey
from ._tx import Body, execute, fetchall, fetchone
from ._values import collect_values, referenced_values

__all__ = ["copy_thread", "delete_for_runs", "delete_threads", "prune_threads"]

_TABLES = ("checkpoint_writes", "checkpoints", "checkpoint_blobs")

_IN_THREADS = "thread_id IN (SELECT value FROM json_each(?))"

_GARBAGE_BLOBS = f"""
    DELETE FROM checkpoint_blobs
    WHERE {_IN_THREADS}
      AND (thread_id, checkpoint_ns, channel, version) NOT IN (
        SELECT c.thread_id, c.checkpoint_ns, v.key, v.value
        FROM checkpoints AS c, json_each(c.channel_versions) AS v
        WHERE c.{_IN_THREADS})
"""


def delete_threads(thread_ids: Sequence[str]) -> Body[None]:
    """Delete every checkpoint, blob and write of the given threads."""
    threads = dumps(list(thread_ids))
    named = yield from referenced_values(_IN_THREADS, (threads,))
    for table in _TABLES:
        yield from execute(f"DELETE FROM {table} WHERE {_IN_THREADS}", (threads,))
    yield from collect_values(named)


def delete_for_runs(run_ids: Sequence[str]) -> Body[None]:
    """Delete the checkpoints (and their writes) that LangGraph runs created.

    `run_ids` are LangGraph's run ids from checkpoint metadata, not railgraph runs.
    """
    runs = dumps(list(run_ids))
    in_runs = "run_id IN (SELECT value FROM json_each(?))"
    rows = yield from fetchall(
        f"SELECT DISTINCT thread_id FROM checkpoints WHERE {in_runs}", (runs,)
    )
    if not rows:
        return
    threads = dumps([row["thread_id"] for row in rows])
    named = yield from referenced_values(_IN_THREADS, (threads,))
    yield from execute(
        f"""
        DELETE FROM checkpoint_writes
        WHERE (thread_id, checkpoint_ns, checkpoint_id) IN (
            SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints WHERE {in_runs})
        """,
        (runs,),
    )
    yield from execute(f"DELETE FROM checkpoints WHERE {in_runs}", (runs,))
    yield from execute(_GARBAGE_BLOBS, (threads, threads))
    yield from collect_values(named)


def copy_thread(source: str, target: str) -> Body[None]:
    """Copy every checkpoint, blob and write of `source` to the new thread `target`.

    Raises:
        StoreError: `source` has no checkpoints, or `target` already has some.
    """
    if (
        yield from fetchone("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", (source,))
    ) is None:
        raise StoreError(f"there is no thread {source!r} to copy; check the source thread id.")
    if (yield from fetchone("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", (target,))):
        raise StoreError(
            f"cannot copy thread {source!r} onto {target!r}: the target already has "
            "checkpoints. Copy to a new thread id, or delete the target first "
            "(`adelete_thread`)."
        )
    columns = {
        "checkpoints": "checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, "
        "metadata, channel_versions, run_id",
        # Values stored by content are shared, not copied: the copies name them too.
        "checkpoint_blobs": "checkpoint_ns, channel, version, type, blob, value_hash",
        "checkpoint_writes": "checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, "
        "value_hash, task_path",
    }
    for table, rest in columns.items():
        yield from execute(
            f"INSERT INTO {table} (thread_id, {rest}) "
            f"SELECT ?, {rest} FROM {table} WHERE thread_id = ?",
            (target, source),
        )


@dataclass(frozen=True)
class _Node:
    """What pruning needs to know of one checkpoint."""

    parent_id: str | None
    versions: dict[str, str]
    delta_channels: frozenset[str]


def prune_threads(thread_ids: Sequence[str], strategy: str) -> Body[None]:
    """Prune threads: `"delete"` removes them, `"keep_latest"` keeps each namespace's head.

    `"keep_latest"` is `DeltaChannel`-aware. A delta channel (one named in the
    head's `counters_since_delta_snapshot` metadata) with no stored value at the
    head is rebuilt by walking ancestors to the nearest stored snapshot and
    replaying their writes, so those ancestors and their writes are kept too.

    Raises:
        StoreError: `strategy` is neither `"keep_latest"` nor `"delete"`.
    """
    if strategy == "delete":
        yield from delete_threads(thread_ids)
        return
    if strategy != "keep_latest":
        raise StoreError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'.")
    threads = dumps(list(thread_ids))
    rows = yield from fetchall(
        "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, channel_versions, "
        "metadata -> '$.counters_since_delta_snapshot' AS delta "
        f"FROM checkpoints WHERE {_IN_THREADS}",
        (threads,),
    )
    stored = {
        (b["thread_id"], b["checkpoint_ns"], b["channel"], b["version"])
        for b in (
            yield from fetchall(
                "SELECT thread_id, checkpoint_ns, channel, version FROM checkpoint_blobs "
                f"WHERE {_IN_THREADS} AND type != ?",
                (threads, EMPTY_BLOB),
            )
        )
    }
    namespaces: dict[tuple[str, str], dict[str, _Node]] = {}
    for row in rows:
        namespaces.setdefault((row["thread_id"], row["checkpoint_ns"]), {})[
            row["checkpoint_id"]
        ] = _Node(
            parent_id=row["parent_checkpoint_id"],
            versions=loads(row["channel_versions"]),
            delta_channels=frozenset(loads_or_none(row["delta"]) or ()),
        )

    keep: list[CheckpointKey] = []
    for (thread_id, ns), nodes in namespaces.items():
        head_id = max(nodes)
        head = nodes[head_id]
        keep.append((thread_id, ns, head_id))
        missing = {
            channel
            for channel in head.delta_channels
            if channel in head.versions
            and (thread_id, ns, channel, head.versions[channel]) not in stored
        }
        ancestor_id = head.parent_id
        while missing and ancestor_id is not None and ancestor_id in nodes:
            ancestor = nodes[ancestor_id]
            keep.append((thread_id, ns, ancestor_id))
            missing = {
                channel
                for channel in missing
                if channel not in ancestor.versions
                or (thread_id, ns, channel, ancestor.versions[channel]) not in stored
            }
            ancestor_id = ancestor.parent_id

    kept = dumps(keep)
    named = yield from referenced_values(_IN_THREADS, (threads,))
    not_kept = f"""
        {_IN_THREADS} AND (thread_id, checkpoint_ns, checkpoint_id) NOT IN (
            SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]' FROM json_each(?))
    """
    yield from execute(f"DELETE FROM checkpoint_writes WHERE {not_kept}", (threads, kept))
    yield from execute(f"DELETE FROM checkpoints WHERE {not_kept}", (threads, kept))
    yield from execute(_GARBAGE_BLOBS, (threads, threads))
    yield from collect_values(named)
