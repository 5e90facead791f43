"""Run events: checking their shape and inserting them with per-run sequence numbers.

Events reach the store two ways, and share one ordering:

- harvested from checkpoint writes to the saver's event channel, in the same
  transaction as those writes, so an event is stored iff the node result it
  describes is durable;
- appended by the runner for what it does itself, such as raising a review request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from railgraph.errors import StoreError

from ._json import dumps, loads
from ._records import EventRecord
from ._redact import Redactor
from ._tx import Body, executemany

__all__ = ["HarvestKey", "NewEvent", "insert_events", "parse_events", "row_to_event"]

HarvestKey = tuple[str, str, str, int]
"""Where a harvested event was written: checkpoint_ns, checkpoint_id, task_id, write idx."""

_EVENT_SHAPE = (
    "an event is a dict with exactly the keys kind (str), node (str or None), "
    "at (unix seconds) and data (dict); put anything else inside data"
)

# seq is MAX + 1 within the run, computed by the INSERT itself so that an ignored
# duplicate takes no number. Writes hold the database lock, so no two inserts race.
_INSERT_EVENT = """
    INSERT OR IGNORE INTO run_events
        (run_id, seq, kind, node, at, data,
         checkpoint_ns, checkpoint_id, task_id, write_idx, position)
    SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
    FROM run_events WHERE run_id = ?1
"""


class NewEvent(BaseModel):
    """An event as a node or the runner hands it over, before it has a `seq`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    """What happened."""
    node: str | None
    """The node it happened in, if any."""
    at: float
    """When it happened, in unix seconds."""
    data: dict[str, Any]
    """The details, as plain JSON values."""


def parse_events(value: object, *, source: str) -> list[NewEvent]:
    """Check one event dict, or a list of them, and return them in order.

    Args:
        value: An event dict or a list of event dicts.
        source: Where the value came from, for the error message.

    Raises:
        StoreError: Something in `value` is not shaped like an event.
    """
    items: Sequence[object] = value if isinstance(value, list | tuple) else [value]
    events: list[NewEvent] = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise StoreError(
                f"{source}: item {position} is a {type(item).__name__}, not an event; "
                f"{_EVENT_SHAPE}."
            )
        try:
            events.append(NewEvent.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or 'event'}: {err['msg']}" for err in exc.errors()
            )
            raise StoreError(
                f"{source}: event {position} is malformed ({problems}); {_EVENT_SHAPE}."
            ) from exc
    return events


def insert_events(
    run_id: str,
    events: Sequence[NewEvent],
    harvest_key: HarvestKey | None = None,
    *,
    redactor: Redactor | None = None,
) -> Body[None]:
    """Insert events at the end of a run's trace (a step of a write transaction).

    The rows are built when this is called, so that the transaction only runs SQL.

    Args:
        run_id: The run (LangGraph thread) the events belong to.
        events: The events, in order.
        harvest_key: For events harvested from a checkpoint write, where that
            write was stored; inserting the same write's events again is then a
            no-op. `None` for events the runner appends.
        redactor: Redacts secrets from each event's data before it is stored; events
            are for people, so nothing secret is stored in clear.
    """
    redact = redactor.redact if redactor is not None else _same
    coordinates: tuple[str | int | None, ...] = harvest_key or (None, None, None, None)
    return executemany(
        _INSERT_EVENT,
        [
            (
                run_id,
                event.kind,
                event.node,
                event.at,
                dumps(redact(event.data)),
                *coordinates,
                position if harvest_key is not None else None,
            )
            for position, event in enumerate(events)
        ],
    )


def _same(value: Any) -> Any:
    return value


def row_to_event(row: sqlite3.Row) -> EventRecord:
    """Build an `EventRecord` from a `run_events` row."""
    return EventRecord(
        run_id=row["run_id"],
        seq=row["seq"],
        kind=row["kind"],
        node=row["node"],
        at=row["at"],
        data=loads(row["data"]),
    )
