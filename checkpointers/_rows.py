"""How a run store record maps onto its table: columns, JSON columns, SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ._json import dumps_or_none, loads_or_none

__all__ = ["Table", "when"]

RecordT = TypeVar("RecordT", bound=BaseModel)


def when(timestamp: float | None) -> str:
    """A unix time as readable UTC, for messages."""
    if timestamp is None:
        return "an unknown time"
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Table(Generic[RecordT]):
    """One run store table and the frozen record type its rows read as.

    Column names equal the record's field names; `json_columns` hold JSON text.
    """

    name: str
    """The table's name."""
    record: type[RecordT]
    """The record type of a row."""
    columns: tuple[str, ...]
    """Every column, in insert order."""
    json_columns: frozenset[str]
    """The columns stored as JSON text (`NULL` for `None`)."""

    @property
    def select(self) -> str:
        """`SELECT <every column> FROM <table>`, to be followed by a `WHERE`."""
        return f"SELECT {', '.join(self.columns)} FROM {self.name}"

    def insert(self, *, or_ignore: bool = False) -> str:
        """The parameterised `INSERT` of one whole record."""
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        marks = ", ".join("?" for _ in self.columns)
        return f"{verb} INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"

    def params(self, record: RecordT) -> list[Any]:
        """The `insert` parameters for `record`."""
        data = record.model_dump()
        return [
            dumps_or_none(data[column]) if column in self.json_columns else data[column]
            for column in self.columns
        ]

    def load(self, row: sqlite3.Row) -> RecordT:
        """Read a row selected with `select` back as a record."""
        return self.record.model_validate(
            {
                column: loads_or_none(row[column]) if column in self.json_columns else row[column]
                for column in self.columns
            }
        )

    def load_all(self, rows: Sequence[sqlite3.Row]) -> list[RecordT]:
        """Read many rows back as records, in order."""
        return [self.load(row) for row in rows]
