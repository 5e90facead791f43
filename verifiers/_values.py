"""Reading the value under verification: plain data, dotted paths, short descriptions."""

from __future__ import annotations

import dataclasses
import enum
import reprlib
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel

__all__ = ["MISSING", "Missing", "describe", "lookup", "split_path", "to_data"]


class _Missing(enum.Enum):
    MISSING = enum.auto()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""What `lookup` returns for a path that leads nowhere (distinct from a stored ``None``)."""

Missing = Literal[_Missing.MISSING]

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 4
_repr.maxlevel = 2


def to_data(value: Any) -> Any:
    """Return ``value`` as plain data: models and dataclasses become dicts, tuples lists.

    Pydantic models are dumped with ``model_dump()`` (field names, not aliases), also
    where they sit inside dicts and lists.
    """
    if isinstance(value, BaseModel):
        return to_data(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_data(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {key: to_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    return value


def split_path(path: str) -> tuple[str, ...]:
    """Split a dotted path (``"items.0.id"``) into its parts; ``""`` is the whole value.

    Raises:
        ValueError: if the path has an empty part, as in ``"items..id"``.
    """
    if path == "":
        return ()
    parts = tuple(path.split("."))
    if "" in parts:
        raise ValueError(
            f"field path {path!r} has an empty part; write dotted paths like "
            "'customer.email' or 'items.0.id'"
        )
    return parts


def lookup(data: Any, parts: tuple[str, ...]) -> Any | Missing:
    """Follow ``parts`` into plain ``data`` (see `to_data`), or return `MISSING`.

    A part names a key of a mapping, or a non-negative index into a list. A part made of
    digits also finds an integer key, so ``"codes.404"`` reads ``{"codes": {404: ...}}``.
    """
    current = data
    for part in parts:
        index = int(part) if part.isascii() and part.isdigit() else None
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
            elif index is not None and index in current:
                current = current[index]
            else:
                return MISSING
        elif isinstance(current, list) and index is not None and index < len(current):
            current = current[index]
        else:
            return MISSING
    return current


def describe(value: Any) -> str:
    """A short, bounded repr of ``value`` for a failure message."""
    return _repr.repr(value)
