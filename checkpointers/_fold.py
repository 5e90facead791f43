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

__all__ = ["fold_writes", "foldable"]


def fold_writes(writes: Sequence[tuple[str, Any]]) -> str | None:
    """The folded writes of an event ref (see `event_ref`); `None` when there are none.

    Each is `[channel, value]`, its value `foldable` or `None`. Written as JSON when the
    task's writes are taken, so later changes to the values cannot reach what is stored.
    A value is stored here even when an event holds it too (a node's usage is in its
    `node_finished` event): a copied thread's write rows name the events of the run it
    came from, which a prune may delete.
    """
    if not writes:
        return None
    # orjson: several times faster than `dumps`, and its text for these values (numbers
    # written in their shortest exact form) reads back as the same values.
    return orjson.dumps(writes).decode()  # pairs are written as arrays


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
