"""Opening a PostgreSQL database by URL: the pool, its connections, the schema.

A URL (`postgresql://user:password@host:5432/dbname`, `postgres://...`, or libpq's query
options such as `?host=/run/postgresql`) chooses PostgreSQL wherever railgraph takes a
database: `open_store`, `SqliteCheckpointer.from_path`, `Runner.open`, `--db` and
`RAILGRAPH_DB`. Anything else is a SQLite file path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from railgraph.errors import StoreError

from ._db import Clock
from ._pgschema import SCHEMA, check_schema, migrate_postgres
from ._schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from ._pgdb import PostgresDatabase

__all__ = ["POOL_SIZE", "URL_SCHEMES", "is_postgres_url", "open_postgres"]

URL_SCHEMES: Final = ("postgresql://", "postgres://")
"""The URL schemes that name a PostgreSQL database."""

POOL_SIZE: Final = 8
"""Connections a store keeps open at most: transactions that run at once."""

CONNECT_TIMEOUT_S: Final = 10
"""How long connecting may take before it fails with advice."""

_INSTALL = (
    "PostgreSQL support is an extra: install it with `pip install 'railgraph[postgres]'` "
    "(psycopg 3 and its connection pool)."
)


def is_postgres_url(location: str | Path) -> bool:
    """Whether `location` is a PostgreSQL URL rather than a SQLite file path."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


@asynccontextmanager
async def open_postgres(
    url: str,
    *,
    clock: Clock = time.time,
    read_only: bool = False,
    migrate: bool = True,
) -> AsyncIterator[PostgresDatabase]:
    """Connect to the database at `url`, create or upgrade railgraph's schema, and close after.

    Args:
        url: A `postgresql://` or `postgres://` URL.
        clock: Source of timestamps for stored records.
        read_only: Create and migrate nothing, refuse every write (each transaction is
            read-only on the server too); the store must exist at this schema version.
        migrate: Bring the schema up to date; tests pass `False` to build an older store
            with `migrate_postgres` themselves.

    Raises:
        StoreError: The driver is not installed, the server cannot be reached or refuses
            the connection, or (read-only) the database holds no railgraph store of this
            schema version.
        SchemaVersionError: The store was written by a newer railgraph.
    """
    try:
        import psycopg
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        scheme = url.split("://")[0]
        raise StoreError(f"{scheme}:// names a PostgreSQL database. {_INSTALL}") from exc
    # Here, after the driver: SQLite's users need not install it.
    from ._pgdb import PostgresDatabase, safe_location

    location = safe_location(url)
    try:
        # One connection first, for the server's own words when it cannot be reached.
        probe = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the PostgreSQL database {location}: {str(exc).strip()}. Check "
            "that the server is running, that the URL names its host, port, user and an "
            "existing database (`createdb NAME` makes one), and the password."
        ) from exc
    await probe.close()

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.set_autocommit(True)
        # railgraph's tables come first; the public schema stays reachable after them.
        await conn.execute(f"SET search_path TO {SCHEMA}, public")
        if read_only:
            await conn.execute("SET default_transaction_read_only = on")

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=POOL_SIZE,
        configure=configure,
        # No server-side prepared statements: in pipeline mode, a transaction that loses a
        # race can take a statement's PREPARE down with it while psycopg counts it as made
        # ("prepared statement _pg3_3 does not exist" on its next use); parsing railgraph's
        # short statements costs little, and poolers such as PgBouncer need this too.
        kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "prepare_threshold": None},
        open=False,
        name="railgraph",
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        await pool.close()
        raise StoreError(
            f"cannot open connections to the PostgreSQL database {location}: {exc}. Check "
            "that the server accepts more connections (max_connections)."
        ) from exc
    db = PostgresDatabase(pool, location=location, clock=clock, read_only=read_only)
    try:
        if read_only:
            await check_schema(db, SCHEMA_VERSION)
        elif migrate:
            await migrate_postgres(db)
        yield db
    finally:
        await db.close()
