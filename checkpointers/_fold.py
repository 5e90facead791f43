"""Writes of a task stored inside its event write's row (see `_events.event_ref`).

A node of a railgraph graph writes, right after its events, the usage it spent and the
trigger of the next node: a row each would cost more than the values. Only values that
JSON gives back exactly are folded; the loading side is `_load`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from ._events import EventRow

__all__ = ["fold_writes", "foldable"]


def fold_writes(writes: Sequence[tuple[str, Any]], rows: Sequence[EventRow]) -> str | None:
    """The folded writes of an event ref (see `event_ref`); `None` when there are none.

    Each is `[channel, value]`, its value `foldable` or `None`; or `[channel, i, key]`
    when the value is the one that the data of event `i` of `rows` holds under `key`,
    as stored (a node's usage is in its `node_finished` event too), so it is stored
    once. Written as JSON when the task's writes are taken, so later changes to the
    values cannot reach what is stored.
    """
    if not writes:
        return None
    folded: list[list[Any]] = []
    datas: list[dict[str, Any] | None] = [None] * len(rows)
    for channel, value in writes:
        found = _held(orjson.dumps(value), rows, datas) if _nameable(value) else None
        folded.append([channel, value] if found is None else [channel, *found])
    # orjson: several times faster than `dumps`, and its text for these values (numbers
    # written in their shortest exact form) reads back as the same values.
    return orjson.dumps(folded).decode()


def _nameable(value: dict[str, float] | None) -> bool:
    """Whether `_held` may look for the value: a dict without a float past 2**63.

    orjson reads a JSON integer past 64 bits as a float (past 2**63), and every other
    number as JSON means it; so a dict without such a float that orjson reads back
    from the events' data is what that data means.
    """
    return value is not None and all(
        type(number) is int or abs(number) < _FLOAT_FROM_INT for number in value.values()
    )


_FLOAT_FROM_INT = 2.0**63
"""No float that orjson reads from a JSON integer is below this, in size."""


def _held(
    text: bytes, rows: Sequence[EventRow], datas: list[dict[str, Any] | None]
) -> tuple[int, str] | None:
    """Where in the events' stored data a value whose JSON is `text` is, if any.

    A dict whose JSON is the same text reads back as the same value: the same keys in
    the same order, the same numbers of the same types (see `foldable`).
    """
    for i in reversed(range(len(rows))):
        data = datas[i]
        if data is None:
            try:
                data = datas[i] = orjson.loads(rows[i][3])
            except orjson.JSONDecodeError:
                # JSON that orjson does not read (NaN, a number past a float's range):
                # looked in no further, the value is stored as it is.
                data = datas[i] = {}
        for key, held in data.items():
            # Named only where naming it is shorter than the value.
            if type(held) is dict and len(text) > len(key) + 8 and orjson.dumps(held) == text:
                return i, key
    return None


def foldable(value: object) -> bool:
    """Whether a write's value can be stored in an event ref (see `event_ref`).

    Only a dict of text keys to finite numbers (`float`, or `int` of at most 64 bits;
    not `bool`) is: JSON gives back exactly that value, with the same types and key
    order, where the serializer would have; anything else keeps a row of its own.
    """
    if type(value) is not dict:
        return False
    for key, number in value.items():
        if type(key) is not str:
            return False
        kind = type(number)
        if kind is float:
            if not math.isfinite(number):
                return False
        elif kind is not int or not _INT64_MIN <= number <= _UINT64_MAX:
            return False
    return True


_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
"""The integers orjson writes and reads (the bounds of 64-bit integers)."""
