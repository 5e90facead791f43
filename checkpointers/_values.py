"""Large serialized values: stored once by content, compressed when that pays.

A serialized channel value or write of at least `LARGE` bytes is not kept in its
`checkpoint_blobs` or `checkpoint_writes` row. It goes to `checkpoint_values`,
keyed by its SHA-256, and the row names it in `value_hash`. A value that many
rows hold is then stored once: a big input field sits in the input channel's
value, in its own channel and in the first task's write, and in every thread
started from the same input.

Values are compressed with zlib when that saves at least an eighth; the `codec`
column says how to read each back. Deleting checkpoints, writes or threads can
leave values that no row names; `collect_values` drops them.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from railgraph.errors import StoreError

from ._tx import Body, execute, executemany, fetchall, fetchone

__all__ = [
    "LARGE",
    "LargeValue",
    "pack_values",
    "collect_values",
    "referenced_values",
    "split_value",
    "store_values",
    "unpack",
]

LARGE = 4096
"""Serialized values at least this long are stored by content; smaller ones stay inline."""

_ZLIB_LEVEL = 6

_INSERT = "INSERT INTO checkpoint_values (hash, codec, data) VALUES (?, ?, ?)"
_EXISTS = "SELECT 1 FROM checkpoint_values WHERE hash = ?"
_DELETE_UNNAMED = """
    DELETE FROM checkpoint_values
    WHERE hash = ?1
      AND NOT EXISTS (SELECT 1 FROM checkpoint_blobs WHERE value_hash = ?1)
      AND NOT EXISTS (SELECT 1 FROM checkpoint_writes WHERE value_hash = ?1)
"""


@dataclass(slots=True)
class LargeValue:
    """A serialized value to store by content."""

    digest: bytes
    """Its SHA-256, the key rows name it by."""
    data: bytes
    """The serialized bytes, uncompressed."""
    packed: tuple[str, bytes] | None = None
    """Its codec and stored bytes, once `pack_values` has made them (before the
    transaction, so that no compression holds the database's lock)."""


def pack_values(values: Sequence[LargeValue]) -> None:
    """Compress each value, where that pays (call it off the event loop, before writing)."""
    for value in values:
        if value.packed is None:
            value.packed = _pack(value.data)


def _pack(data: bytes) -> tuple[str, bytes]:
    packed = zlib.compress(data, _ZLIB_LEVEL)
    return ("zlib", packed) if len(packed) * 8 <= len(data) * 7 else ("raw", data)


def split_value(data: bytes | None) -> tuple[bytes | None, bytes | None, LargeValue | None]:
    """Decide where a serialized value goes.

    Returns:
        What the row keeps inline, the row's `value_hash`, and the value to store
        by content (`None`, `None` for a small value, which stays inline).
    """
    if data is None or len(data) < LARGE:
        return data, None, None
    digest = hashlib.sha256(data).digest()
    return None, digest, LargeValue(digest, data)


def store_values(values: Sequence[LargeValue]) -> Body[None]:
    """Store each value that is not stored yet (a step of a write transaction).

    Values `pack_values` did not compress beforehand are compressed here, only if
    not stored before, in the transaction's thread rather than on the event loop.
    """
    if not values:
        return
    done: set[bytes] = set()
    for value in values:
        if value.digest in done:
            continue
        done.add(value.digest)
        if (yield from fetchone(_EXISTS, (value.digest,))) is None:
            codec, data = value.packed or _pack(value.data)
            yield from execute(_INSERT, (value.digest, codec, data))


def unpack(codec: str, data: bytes) -> bytes:
    """A stored value's serialized bytes, from its `codec` and `data` columns.

    Raises:
        StoreError: The codec is unknown.
    """
    if codec == "zlib":
        return zlib.decompress(data)
    if codec == "raw":
        return data
    raise StoreError(
        f"a stored checkpoint value uses codec {codec!r}, which this railgraph cannot read; "
        "upgrade railgraph (`pip install -U railgraph`)."
    )


def referenced_values(where: str, params: Sequence[object]) -> Body[list[bytes]]:
    """The value hashes that the blob and write rows matching `where` name.

    `where` is a condition on the columns both tables share (`thread_id`,
    `checkpoint_ns`); run this before deleting those rows, and pass the result
    to `collect_values` after.
    """
    rows = yield from fetchall(
        f"SELECT value_hash FROM checkpoint_blobs WHERE value_hash IS NOT NULL AND {where} "
        f"UNION SELECT value_hash FROM checkpoint_writes WHERE value_hash IS NOT NULL AND {where}",
        (*params, *params),
    )
    return [row[0] for row in rows]


def collect_values(candidates: Iterable[bytes]) -> Body[None]:
    """Drop those of `candidates` that no blob or write names any more."""
    digests = set(candidates)
    if digests:  # a node's writes usually leave none, and this runs at each
        yield from executemany(_DELETE_UNNAMED, [(digest,) for digest in digests])
