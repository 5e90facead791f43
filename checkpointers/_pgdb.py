"""The store on a PostgreSQL server: transaction bodies run through psycopg's connection pool.

`PostgresDatabase` is the second backend (see `_backend`). It runs the same bodies as
SQLite's `Database`, each statement turned into PostgreSQL's SQL by `_pgsql`, on
connections of a psycopg `AsyncConnectionPool`; nothing blocks the event loop.

Isolation. SQLite lets one writer in at a time, and the bodies' compare-and-set logic
(take a lease, decide a request, claim an effect, number a run's events) reads, then
writes, counting on that. PostgreSQL's default isolation (read committed) would let two
such bodies read the same row and both write. So every write transaction here is
`SERIALIZABLE`: PostgreSQL aborts one of two that raced (SQLSTATE 40001, or 40P01 for a
deadlock, or a duplicate key that the loser would have seen had it run second), and the
whole body runs again from a fresh start, up to `ATTEMPTS` times. A body can run again
only when it is given as a function that makes it (see `_backend.Work`); every write of
the run store and the checkpointer is. Reads are `REPEATABLE READ READ ONLY`: one
snapshot for a whole body, and they never wait for writers.

Order. The writes of one process commit one at a time, in the order they were made, as on
SQLite: LangGraph hands a task's writes over without waiting for them, and a run's events
take their sequence numbers in commit order, so two writes in flight at once could number a
later node's events before an earlier one's. Reads run at once, each on its own pooled
connection, and so do the writes of different processes (that is what the isolation above
is for).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row

from railgraph.errors import StoreError

from ._backend import Work, make_body
from ._db import Clock
from ._pgsql import translate
from ._prune import PRUNED_TABLES
from ._tx import Body, Statement

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["ATTEMPTS", "PostgresDatabase", "pg_store_error", "safe_location"]

_T = TypeVar("_T")

ATTEMPTS: Final = 12
"""How many times a write transaction that keeps losing races runs before it fails."""

_RETRY: Final = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.UniqueViolation,
)
"""Errors after which running the whole body again may succeed."""

_VACUUMED: Final = (*(table for table, _ in PRUNED_TABLES), "graph_specs", "checkpoint_values")
"""The tables a prune deletes from."""

_BEGIN_WRITE: Final = "BEGIN ISOLATION LEVEL SERIALIZABLE"
_BEGIN_READ: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class _Row(tuple[Any, ...]):
    """A row that reads by position or by column name, as `sqlite3.Row` does."""

    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if type(key) is str:
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._index)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[_Row]:
    return type("Row", (_Row,), {"_index": {name: i for i, name in enumerate(names)}})


def _named_rows(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    """psycopg's row factory for `_Row`s."""
    description = cursor.description or ()
    return _row_class(tuple(column.name for column in description))


def safe_location(url: str) -> str:
    """The URL without its password, for messages."""
    url = re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def pg_store_error(location: str, exc: BaseException) -> StoreError:
    """The `StoreError` that reports `exc`, a failure of PostgreSQL, with what to check."""
    error = StoreError(
        f"the railgraph database at {location} failed: {str(exc).strip()}. Check that the "
        "PostgreSQL server is running and reachable, and that the store is still open (use "
        "it inside `async with SqliteCheckpointer.from_path(URL)` or `Runner.open(URL)`)."
    )
    error.__cause__ = exc
    return error


class PostgresDatabase:
    """An open PostgreSQL database: a connection pool and a clock.

    Args:
        pool: An open pool whose connections are in autocommit mode, with railgraph's
            schema first on their `search_path` (see `_pgopen`).
        location: The URL without its password, for messages.
        clock: Source of timestamps for stored records.
        read_only: Every write is refused (the connections are read-only too).
    """

    engine: Final = "postgresql"
    """Which database engine this is (see `_backend.Backend`)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        location: str,
        clock: Clock,
        read_only: bool = False,
    ) -> None:
        self.pool = pool
        """The connection pool (exposed for diagnostics)."""
        self.location = location
        """The database's URL, without its password."""
        self.clock = clock
        """Returns the current time in unix seconds."""
        self.read_only = read_only
        """Whether every write is refused."""
        self._writing = asyncio.Lock()
        """Makes this process's writes commit one at a time, in order (asyncio's lock is
        first come, first served)."""

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection, in autocommit mode; PostgreSQL's errors become `StoreError`."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise pg_store_error(self.location, exc) from exc

    async def write(self, work: Work[_T], *, short: bool = False) -> _T:
        """Run `work` as one `SERIALIZABLE` transaction, again if it loses a race.

        Args:
            work: The transaction, best as a function that makes its body: a body given
                as it is cannot run twice, so a race it loses fails with `StoreError`.
            short: Ignored (SQLite runs short writes on the event loop's thread).

        Raises:
            StoreError: The database failed, or the body lost `ATTEMPTS` races in a row.
        """
        if self.read_only:
            raise StoreError(
                f"the railgraph database at {self.location} was opened read-only; open it "
                "without read_only to change it."
            )
        async with self._writing:
            attempt = 0
            while True:
                attempt += 1
                try:
                    async with self.pool.connection() as conn:
                        return await self._transact(conn, _BEGIN_WRITE, make_body(work))
                except _RETRY as exc:
                    if not callable(work) or attempt >= ATTEMPTS:
                        raise pg_store_error(self.location, exc) from exc
                    # Jitter, so that two racers do not collide again in step.
                    await asyncio.sleep(random.uniform(0, 0.002 * attempt))
                except psycopg.Error as exc:
                    raise pg_store_error(self.location, exc) from exc

    async def read(self, body: Body[_T]) -> _T:
        """Run `body` as one read-only transaction on one snapshot."""
        try:
            async with self.pool.connection() as conn:
                return await self._transact(conn, _BEGIN_READ, body)
        except psycopg.Error as exc:
            raise pg_store_error(self.location, exc) from exc

    async def read_row(self, sql: str, params: Sequence[Any]) -> Any:
        """The first row of one query by key, without `BEGIN` and `COMMIT`: one statement
        sees one snapshot by itself (the kill switch asks before every call)."""
        try:
            async with self.pool.connection() as conn:
                rows = await _run(conn, Statement(sql, tuple(params), "rows"))
            return rows[0] if rows else None
        except psycopg.Error as exc:
            raise pg_store_error(self.location, exc) from exc

    async def read_short(self, make: Callable[[], Body[_T]]) -> _T:
        """Run the body `make()` returns as one read (`read`): a body of several statements
        (a checkpoint's page) needs one snapshot, and one statement goes by `read_row`."""
        return await self.read(make())

    async def _transact(self, conn: psycopg.AsyncConnection[Any], begin: str, body: Body[_T]) -> _T:
        """Begin, run `body` statement by statement, and commit (or roll back if it raises).

        In psycopg's pipeline mode: `BEGIN` travels with the first statement, the rows of
        a `many` statement with whatever follows them, and `COMMIT` alone; a statement
        whose result the body reads waits for it.
        """
        try:
            async with conn.pipeline() as pipeline:
                await conn.execute(begin)
                try:
                    statement = next(body)
                    while True:
                        result = await _run(conn, statement, pipeline)
                        statement = body.send(result)
                except StopIteration as finished:
                    outcome = cast(_T, finished.value)
                finally:
                    body.close()
                await conn.execute("COMMIT")
        except BaseException:
            # Also on cancellation: a pooled connection never goes back mid-transaction
            # (the pool would roll it back too, but this says so at once).
            idle = psycopg.pq.TransactionStatus.IDLE
            if not conn.closed and conn.info.transaction_status != idle:
                # If this fails too, the pool discards the connection.
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("ROLLBACK")
            raise
        return outcome

    async def vacuum(self) -> None:
        """Let PostgreSQL reuse the space of deleted rows (`VACUUM`).

        Unlike SQLite's, the space stays with the database's files for its own reuse;
        `VACUUM FULL`, which gives it back, locks each table while it rewrites it, so it
        is left to the database's administrators.
        """
        async with self.connection() as conn:
            # railgraph's tables only: the database may hold other applications' too.
            await conn.execute(f"VACUUM {', '.join(_VACUUMED)}")

    async def close(self) -> None:
        """Close the pool; later use raises `StoreError`."""
        await self.pool.close()


async def _run(
    conn: psycopg.AsyncConnection[Any],
    statement: Statement,
    pipeline: psycopg.AsyncPipeline | None = None,
) -> Any:
    """Run one statement of a body, in PostgreSQL's SQL; return what the body is sent.

    In a pipeline, a `many` statement's rows are only queued: the body is sent nothing
    for them, and an error among them is raised where the pipeline next waits.
    """
    pg = translate(statement.sql)
    if statement.kind == "many":
        async with conn.cursor() as cursor:
            for row in statement.params:
                await cursor.execute(pg.sql, pg.params(row))
        return None
    params = pg.params(statement.params)
    if statement.kind == "count":
        async with conn.cursor() as cursor:
            await cursor.execute(pg.sql, params)
            if pipeline is not None:
                await pipeline.sync()
            return cursor.rowcount
    factory: Any = tuple_row if statement.kind == "tuples" else _named_rows
    async with conn.cursor(row_factory=factory) as cursor:
        await cursor.execute(pg.sql, params)
        return await cursor.fetchall()
