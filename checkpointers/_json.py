"""JSON columns: how dicts and other values are written to and read from SQLite."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from railgraph.vocab import shown

__all__ = ["dumps", "dumps_or_none", "dumps_valid", "loads", "loads_or_none"]


def _fallback(value: object) -> object:
    """Turn a value `json` cannot write into one it can (a model's JSON form, else text)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_fallback)
"""One encoder for every call: `json.dumps` with options builds a new one each time,
which took as long as encoding a checkpoint's metadata."""

_STRICT = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_fallback, allow_nan=False
)
"""The same, refusing NaN and infinities (see `dumps_valid`)."""


def dumps(value: object) -> str:
    """Write a value as compact JSON; values JSON has no form for become text.

    Compact separators matter: metadata filters compare stored JSON text with
    SQLite's `json()` of the filter value, which is compact too. A NaN or an infinity is
    written as Python's `json` writes it (`NaN`, `Infinity`) and reads back the same:
    the run reads these columns back (an input to start again from, a ledger result to
    replay, a decision to deliver).
    """
    return _ENCODER.encode(value)


def dumps_valid(value: object) -> str:
    """`dumps`, with a NaN or an infinity written as its shown text (`railgraph.vocab.shown`:
    "NaN", "Infinity", "-Infinity"): JSON that the databases' JSON functions accept, for the
    columns they read (a run's events, which are for people).

    `NaN` and `Infinity` are no JSON: SQLite's `->>` (and PostgreSQL's `::json`) refuse a
    row that holds them, and listing the events of a run whose tool was given an infinity
    failed. Written as text, people read the number as the review queue shows it, not as
    a `null` that passes for no value. As a key, such a float is written as the same text,
    as `dumps` writes it.
    """
    try:
        return _STRICT.encode(value)
    except ValueError:
        # A float JSON has no form for (or a circular value, which raises again below).
        return _STRICT.encode(_finite(value, set()))


def _finite(value: object, path: set[int]) -> object:
    """`value` as the encoder would write it, with NaN and infinities as their shown text."""
    if isinstance(value, float):
        return shown(value)
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, dict | list | tuple):
        if id(value) in path:
            raise ValueError("Circular reference detected")
        path.add(id(value))
        try:
            if isinstance(value, dict):
                # A key as `dumps` writes it: a NaN or an infinity as its text.
                return {shown(key): _finite(item, path) for key, item in value.items()}
            return [_finite(item, path) for item in value]
        finally:
            path.discard(id(value))
    return _finite(_fallback(value), path)


def dumps_or_none(value: object | None) -> str | None:
    """Like `dumps`, but `None` stays SQL `NULL`."""
    return None if value is None else dumps(value)


def loads(text: str) -> Any:
    """Read a JSON column."""
    return json.loads(text)


def loads_or_none(text: str | None) -> Any:
    """Read a nullable JSON column; SQL `NULL` reads as `None`."""
    return None if text is None else json.loads(text)
