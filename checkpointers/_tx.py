"""Transactions written once as *bodies*, and how a batch of them runs in one trip.

A body is a generator that yields statements (`fetchall`, `fetchtuples`,
`fetchone`, `execute`, `executemany`, used with `yield from`) and is sent back
each one's result; it returns the transaction's result. A body does no I/O itself, so the
same body runs unchanged in aiosqlite's worker thread (`run_batch`, one trip
for the whole transaction), on the event loop's thread (`run_begun`, see `_inline`)
or one awaited call per statement (see `Database`).

Example:
    ```python
    def rename(run_id: str, name: str) -> Body[int]:
        changed = yield from execute("UPDATE runs SET graph_name = ? WHERE run_id = ?", ...)
        return changed

    changed = await db.write(rename("r1", "refund"))
    ```
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Sequence
from typing import Any, Literal, NamedTuple, TypeVar, cast

import aiosqlite

__all__ = [
    "Body",
    "Outcome",
    "Statement",
    "change_and_read",
    "execute",
    "executemany",
    "fetchall",
    "fetchone",
    "fetchtuples",
    "run_batch",
    "run_begun",
]

_T = TypeVar("_T")


class Statement(NamedTuple):
    """One SQL statement of a body, with its parameters.

    A named tuple: a node's transaction makes a few, and a tuple is made in half the
    time a frozen dataclass takes.
    """

    sql: str
    """Parameterised SQL."""
    params: Sequence[Any]
    """The parameters, or for `many` one parameter row per execution."""
    kind: Literal["rows", "tuples", "count", "many"]
    """What the body is sent back: all rows (`sqlite3.Row`s, or plain tuples, which
    are quicker to make by the thousand), the changed-row count, or `None`."""

    def run(self, conn: sqlite3.Connection) -> Any:
        """Run on a raw connection: aiosqlite's, in its worker thread, or the inline one."""
        if self.kind == "many":
            conn.executemany(self.sql, self.params).close()
            return None
        if self.kind == "count":
            cursor = conn.execute(self.sql, self.params)
            count = cursor.rowcount
            cursor.close()
            return count
        cursor = conn.cursor()
        if self.kind == "tuples":
            cursor.row_factory = None
        try:
            cursor.execute(self.sql, self.params)
            return cursor.fetchall()
        finally:
            cursor.close()

    async def run_calls(self, conn: aiosqlite.Connection) -> Any:
        """Run through aiosqlite's public API: one awaited call."""
        if self.kind in ("rows", "tuples"):
            # Rows index like tuples; aiosqlite's public API cannot ask for tuples.
            return list(await conn.execute_fetchall(self.sql, self.params))
        if self.kind == "many":
            async with conn.executemany(self.sql, self.params):
                return None
        async with conn.execute(self.sql, self.params) as cursor:
            return cursor.rowcount


Body = Generator[Statement, Any, _T]
"""A transaction: yields statements, is sent their results, returns a value."""


def fetchall(sql: str, params: Sequence[Any] = ()) -> Body[list[sqlite3.Row]]:
    """Run a query and return all its rows."""
    rows = yield Statement(sql, params, "rows")
    return cast(list[sqlite3.Row], rows)


def fetchtuples(sql: str, params: Sequence[Any] = ()) -> Body[list[tuple[Any, ...]]]:
    """Run a query and return all its rows, to be read by position only."""
    rows = yield Statement(sql, params, "tuples")
    return cast(list[tuple[Any, ...]], rows)


def fetchone(sql: str, params: Sequence[Any] = ()) -> Body[sqlite3.Row | None]:
    """Run a query and return its first row, or `None` when it has none."""
    rows = yield from fetchall(sql, params)
    return rows[0] if rows else None


def execute(sql: str, params: Sequence[Any] = ()) -> Body[int]:
    """Run one statement and return how many rows it changed."""
    count = yield Statement(sql, params, "count")
    return cast(int, count)


def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> Body[None]:
    """Run one statement once per parameter row (skipped when there are none)."""
    if rows:
        yield Statement(sql, rows, "many")


def change_and_read(
    change: str, change_params: Sequence[Any], read: str, read_params: Sequence[Any]
) -> Body[tuple[int, sqlite3.Row | None]]:
    """Run an `UPDATE` (or other change), then read a row back in the same transaction.

    Returns:
        How many rows the change touched, and the row read (`None` if there is none).
    """
    changed = yield from execute(change, change_params)
    row = yield from fetchone(read, read_params)
    return changed, row


def _drive_on(conn: sqlite3.Connection, body: Body[_T]) -> _T:
    """Run a body to its end on a raw connection, each statement in turn (no function per
    statement: it runs per commit)."""
    try:
        statement = next(body)
        while True:
            statement = body.send(statement.run(conn))
    except StopIteration as finished:
        return cast(_T, finished.value)
    finally:
        body.close()


class Outcome(NamedTuple):
    """How one body of a batch ended: its result, or the error it raised.

    A named tuple: every write transaction makes one, and a tuple is made in a third
    of the time a frozen dataclass takes.
    """

    value: Any = None
    """What the body returned."""
    error: Exception | None = None
    """What it raised, if it did."""


def run_batch(conn: sqlite3.Connection, begin: str, bodies: Sequence[Body[Any]]) -> list[Outcome]:
    """Run bodies as one transaction on a raw connection (see `run_begun`), beginning it first."""
    conn.execute(begin).close()
    return run_begun(conn, bodies)


def run_begun(conn: sqlite3.Connection, bodies: Sequence[Body[Any]]) -> list[Outcome]:
    """Run bodies as one transaction that `conn` has begun, and end it.

    With several bodies, each runs inside its own savepoint: one that raises is
    undone alone and its error becomes its outcome, and the others commit. With
    one body, its error rolls the transaction back. An error outside any body
    (`COMMIT`, a failed savepoint) rolls everything back and is raised.
    """
    try:
        if len(bodies) == 1:
            outcomes = [_alone(conn, bodies[0])]
        else:
            outcomes = [_in_savepoint(conn, body) for body in bodies]
        if len(bodies) > 1 or outcomes[0].error is None:
            conn.execute("COMMIT").close()
        elif conn.in_transaction:  # SQLite rolls back by itself after some errors
            conn.execute("ROLLBACK").close()
    except BaseException as exc:
        # A shared connection must never stay inside a half-done transaction.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK").close()
            except sqlite3.Error as rollback_error:
                exc.add_note(f"rolling back afterwards also failed: {rollback_error}")
        raise
    return outcomes


def _alone(conn: sqlite3.Connection, body: Body[Any]) -> Outcome:
    try:
        return Outcome(_drive_on(conn, body))
    except Exception as exc:
        return Outcome(None, exc)


def _in_savepoint(conn: sqlite3.Connection, body: Body[Any]) -> Outcome:
    conn.execute("SAVEPOINT body").close()
    outcome = _alone(conn, body)
    if outcome.error is not None:
        if not conn.in_transaction:
            # SQLite rolled the whole transaction back (disk full, I/O error, ...),
            # the other bodies' work included.
            raise outcome.error
        conn.execute("ROLLBACK TO body").close()
    conn.execute("RELEASE body").close()
    return outcome
