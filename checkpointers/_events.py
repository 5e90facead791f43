"""Run events: checking their shape and inserting them with per-run sequence numbers.

Events reach the store two ways, and share one ordering:

- harvested from checkpoint writes to the saver's event channel, in the same
  transaction as those writes, so an event is stored iff the node result it
  describes is durable. They are stored once: the write's row holds only a
  reference to them (see `EVENTS_BY_REF`);
- appended by the runner for what it does itself, such as raising a review request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from railgraph.errors import StoreError

from ._json import dumps, dumps_valid, loads
from ._records import EventRecord
from ._redact import Redactor
from ._tx import Body, executemany, fetchtuples

__all__ = [
    "EVENTS_BY_REF",
    "EVENT_REF_TYPES",
    "FOLDED_EVENTS_BY_REF",
    "EventRow",
    "NewEvent",
    "event_ref",
    "event_rows",
    "harvest_rows",
    "insert_events",
    "next_seq",
    "parse_events",
    "row_to_event",
    "SELECT_EVENTS",
    "SPEC_REF",
]

EVENTS_BY_REF = "rg-events-ref"
"""The type of a write to the event channel whose events live in `run_events`.

Its blob is `event_ref(run_id, first_seq, count)`: loading the write reads them back
from there (redacted, as people see them), so they are stored once.
"""

FOLDED_EVENTS_BY_REF = "rg-events-ref+"
"""The type of such a write whose blob also holds small writes of the task that came
right after it (see `_fold.fold_writes`): they load as writes of their own right after it,
in their order. A type of its own, so that a release that does not know them fails to load
the row rather than load it without them (and so lose a run's usage and next trigger)."""

EVENT_REF_TYPES = frozenset({EVENTS_BY_REF, FOLDED_EVENTS_BY_REF})
"""The types of event-channel writes whose events live in `run_events`."""

_EVENT_SHAPE = (
    "an event is a dict with exactly the keys kind (str), node (str or None), "
    "at (unix seconds) and data (dict); put anything else inside data"
)

# seq is MAX + 1 within the run, computed by the INSERT itself. Writes hold the
# database lock, so no two inserts race.
_INSERT_EVENT = """
    INSERT INTO run_events (run_id, seq, kind, node, at, data)
    SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5
    FROM run_events WHERE run_id = ?1
"""
_INSERT_EVENT_AT = "INSERT INTO run_events (run_id, seq, kind, node, at, data) VALUES (?,?,?,?,?,?)"
_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?"


class NewEvent(BaseModel):
    """An event as a node or the runner hands it over, before it has a `seq`."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: str
    """What happened."""
    node: str | None
    """The node it happened in, if any."""
    at: float
    """When it happened, in unix seconds."""
    data: dict[str, Any]
    """The details, as plain JSON values."""


_EVENT_KEYS = frozenset({"kind", "node", "at", "data"})


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
        if _is_plain_event(item):
            # The shape every node writes: taken as it is, without a model's validation
            # (a node's two events pass here on every step). Anything else is validated.
            events.append(
                NewEvent.model_construct(
                    kind=item["kind"], node=item["node"], at=float(item["at"]), data=item["data"]
                )
            )
            continue
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


def _is_plain_event(item: object) -> TypeGuard[dict[str, Any]]:
    """Whether `item` has the shape every node writes, so it needs no model's validation."""
    return (
        type(item) is dict
        and item.keys() == _EVENT_KEYS
        and type(item["kind"]) is str
        and (item["node"] is None or type(item["node"]) is str)
        and type(item["at"]) in (float, int)
        and type(item["data"]) is dict
        and all(type(key) is str for key in item["data"])
    )


EventRow = tuple[str, str | None, float, str]
"""An event as stored, without run and `seq`: kind, node, at and its data as JSON."""


def harvest_rows(
    value: object, redactor: Redactor | None, *, source: Callable[[], str]
) -> list[EventRow]:
    """The rows of an event-channel write: ``event_rows(parse_events(value), redactor)``.

    Events of the shape every node writes become rows directly, without a model per event
    (each node's event passes here on every step); a write with anything else goes through
    `parse_events`, which validates it and names what is wrong.

    Args:
        value: An event dict or a list of event dicts.
        redactor: Redacts the events' data (events are for people).
        source: Says where the value came from, for an error message (called only then).

    Raises:
        StoreError: Something in `value` is not shaped like an event.
    """
    items: Sequence[object] = value if isinstance(value, list | tuple) else [value]
    if not all(_is_plain_event(item) for item in items):
        return event_rows(parse_events(value, source=source()), redactor)
    redact = redactor.redact if redactor is not None else _same
    plain = cast("Sequence[dict[str, Any]]", items)
    return [
        (item["kind"], item["node"], float(item["at"]), dumps_valid(redact(item["data"])))
        for item in plain
    ]


def event_rows(events: Sequence[NewEvent], redactor: Redactor | None = None) -> list[EventRow]:
    """The rows of `events`, their data redacted by `redactor` (events are for people)."""
    redact = redactor.redact if redactor is not None else _same
    return [(event.kind, event.node, event.at, dumps_valid(redact(event.data))) for event in events]


def insert_events(
    run_id: str, rows: Sequence[EventRow], *, first_seq: int | None = None
) -> Body[None]:
    """Insert events at the end of a run's trace (a step of a write transaction).

    Args:
        run_id: The run (LangGraph thread) the events belong to.
        rows: The events, in order, as `event_rows` made them.
        first_seq: The first event's `seq` (the others follow it), when the caller
            read `next_seq` in the same transaction; `None` numbers them after the
            run's last event.
    """
    if first_seq is None:
        return executemany(_INSERT_EVENT, [(run_id, *row) for row in rows])
    return executemany(
        _INSERT_EVENT_AT, [(run_id, first_seq + i, *row) for i, row in enumerate(rows)]
    )


def next_seq(run_id: str) -> Body[int]:
    """The `seq` the run's next event takes (a primary-key lookup)."""
    row = yield from fetchtuples(_LAST_SEQ, (run_id,))
    return int(row[0][0]) + 1


def event_ref(run_id: str, first_seq: int, count: int, folded: str | None = None) -> bytes:
    """The blob of an event-channel write whose events are `run_events` rows.

    Args:
        run_id: The run the events belong to.
        first_seq: The first event's `seq`.
        count: How many events there are (the others follow the first).
        folded: `_fold.fold_writes` of the writes that follow the event write in its task and
            are stored in this blob rather than in rows of their own, if any.

    The blob is `[run_id, first_seq, last_seq]`, with the list of folded writes as a
    fourth item when there are any (a blob without one, as earlier releases wrote, reads
    the same).
    """
    ref = dumps([run_id, first_seq, first_seq + count - 1])
    if folded is not None:
        ref = f"{ref[:-1]},{folded}]"
    return ref.encode()


def _same(value: Any) -> Any:
    return value


SPEC_REF = "spec_signature"
"""The key of a `run_started` event's data that names its graph's spec in `graph_specs`.

A spec is stored once per signature; the event is read back with the spec itself
under `spec` in place of this key, as events that held the whole spec read."""

SELECT_EVENTS = """
    SELECT e.run_id, e.seq, e.kind, e.node, e.at, e.data, s.spec
    FROM run_events AS e
    LEFT JOIN graph_specs AS s
      ON e.kind = 'run_started' AND s.signature = e.data ->> '$.spec_signature'
"""
"""Events with the spec a `run_started` event names (add `WHERE` and `ORDER BY`)."""


def row_to_event(row: sqlite3.Row) -> EventRecord:
    """Build an `EventRecord` from a row of `SELECT_EVENTS`."""
    data = loads(row["data"])
    if row["spec"] is not None:
        del data[SPEC_REF]
        data["spec"] = loads(row["spec"])
    return EventRecord(
        run_id=row["run_id"],
        seq=row["seq"],
        kind=row["kind"],
        node=row["node"],
        at=row["at"],
        data=data,
    )
