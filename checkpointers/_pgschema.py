"""The schema on PostgreSQL: the same migrations as SQLite's, numbered the same, in its SQL.

Migration `i` here makes what migration `i` of `_schema.MIGRATIONS` makes, so a database
has the same schema version on either engine and `SCHEMA_VERSION` is shared. The version
lives in the table `railgraph_schema`. Every table lives in the PostgreSQL schema
`railgraph` (`SCHEMA`; connections put it first on their `search_path`), so railgraph's
`checkpoints` never meets another library's table of that name in the same database.

Differences from SQLite's tables, none visible to the bodies that read and write them:
identifiers that are compared and ordered (thread, checkpoint and version ids) sort by
byte (`COLLATE "C"`), as SQLite's do, whatever the database's locale; the run store's
tables have a `rowid` identity column (SQLite's implicit rowid breaks ties in listings);
user names compare without regard to case through an ICU collation (SQLite's `NOCASE`).

To change the schema, append a migration to both lists; never edit one that has shipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from railgraph.errors import SchemaVersionError, StoreError

from ._schema import MIGRATIONS, Migration

if TYPE_CHECKING:
    from ._pgdb import PostgresDatabase

__all__ = ["PG_MIGRATIONS", "SCHEMA", "check_schema", "migrate_postgres"]

SCHEMA: Final = "railgraph"
"""The PostgreSQL schema (namespace) that holds railgraph's tables."""

_ID: Final = 'TEXT COLLATE "C"'
"""A text column compared and ordered by byte, as SQLite compares text."""

_CHECKPOINT_TABLES: Migration = (
    f"""
    CREATE TABLE checkpoints (
        thread_id {_ID} NOT NULL,
        checkpoint_ns {_ID} NOT NULL DEFAULT '',
        checkpoint_id {_ID} NOT NULL,
        parent_checkpoint_id {_ID},
        type TEXT NOT NULL,
        checkpoint BYTEA NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{{}}',
        channel_versions TEXT NOT NULL DEFAULT '{{}}',
        run_id {_ID},
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
    )
    """,
    "CREATE INDEX checkpoints_by_run_id ON checkpoints (run_id) WHERE run_id IS NOT NULL",
    f"""
    CREATE TABLE checkpoint_blobs (
        thread_id {_ID} NOT NULL,
        checkpoint_ns {_ID} NOT NULL DEFAULT '',
        channel {_ID} NOT NULL,
        version {_ID} NOT NULL,
        type TEXT NOT NULL,
        blob BYTEA,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
    )
    """,
    f"""
    CREATE TABLE checkpoint_writes (
        thread_id {_ID} NOT NULL,
        checkpoint_ns {_ID} NOT NULL DEFAULT '',
        checkpoint_id {_ID} NOT NULL,
        task_id {_ID} NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BYTEA NOT NULL,
        task_path {_ID} NOT NULL DEFAULT '',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    )
    """,
)

_RUN_STORE_TABLES: Migration = (
    f"""
    CREATE TABLE runs (
        run_id {_ID} PRIMARY KEY,
        graph TEXT NOT NULL,
        graph_name TEXT NOT NULL,
        signature TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        budget TEXT NOT NULL,
        usage TEXT NOT NULL,
        result TEXT,
        error TEXT,
        started_by TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
    )
    """,
    "CREATE INDEX runs_by_status ON runs (status, created_at, rowid)",
    "CREATE INDEX runs_by_graph ON runs (graph, created_at, rowid)",
    "CREATE INDEX runs_by_graph_name ON runs (graph_name, created_at, rowid)",
    "CREATE INDEX runs_by_created_at ON runs (created_at, rowid)",
    f"""
    CREATE TABLE run_events (
        run_id {_ID} NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        node TEXT,
        at DOUBLE PRECISION NOT NULL,
        data TEXT NOT NULL,
        checkpoint_ns TEXT,
        checkpoint_id TEXT,
        task_id TEXT,
        write_idx INTEGER,
        position INTEGER,
        PRIMARY KEY (run_id, seq),
        CONSTRAINT run_events_write_key
            UNIQUE (run_id, checkpoint_ns, checkpoint_id, task_id, write_idx, position)
    )
    """,
    f"""
    CREATE TABLE approvals (
        request_id {_ID} PRIMARY KEY,
        run_id {_ID} NOT NULL,
        graph TEXT NOT NULL,
        node TEXT NOT NULL,
        status TEXT NOT NULL,
        request TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        decision TEXT,
        decided_by TEXT,
        decided_at DOUBLE PRECISION,
        rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
    )
    """,
    "CREATE INDEX approvals_by_status ON approvals (status, created_at, rowid)",
    "CREATE INDEX approvals_by_run ON approvals (run_id, created_at, rowid)",
    f"""
    CREATE TABLE tool_effects (
        idempotency_key {_ID} PRIMARY KEY,
        run_id {_ID} NOT NULL,
        node TEXT NOT NULL,
        tool TEXT NOT NULL,
        args TEXT NOT NULL,
        status TEXT NOT NULL,
        result TEXT,
        error TEXT,
        started_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
    )
    """,
    "CREATE INDEX tool_effects_by_run ON tool_effects (run_id, started_at, rowid)",
)

_SHARED_VALUES: Migration = (
    """
    CREATE TABLE checkpoint_values (
        hash BYTEA PRIMARY KEY,
        codec TEXT NOT NULL,
        data BYTEA NOT NULL
    )
    """,
    "ALTER TABLE checkpoint_blobs ADD COLUMN value_hash BYTEA",
    "ALTER TABLE checkpoint_writes ALTER COLUMN blob DROP NOT NULL",
    "ALTER TABLE checkpoint_writes ADD COLUMN value_hash BYTEA",
    "CREATE INDEX checkpoints_by_thread_and_id ON checkpoints "
    "(thread_id, checkpoint_id, checkpoint_ns)",
    "CREATE INDEX checkpoint_blobs_by_value ON checkpoint_blobs (value_hash) "
    "WHERE value_hash IS NOT NULL",
    "CREATE INDEX checkpoint_writes_by_value ON checkpoint_writes (value_hash) "
    "WHERE value_hash IS NOT NULL",
)

_RUN_LEASES: Migration = (
    "ALTER TABLE runs ADD COLUMN lease_owner TEXT",
    "ALTER TABLE runs ADD COLUMN lease_host TEXT",
    "ALTER TABLE runs ADD COLUMN lease_pid BIGINT",
    "ALTER TABLE runs ADD COLUMN heartbeat_at DOUBLE PRECISION",
    "ALTER TABLE runs ADD COLUMN lease_expires_at DOUBLE PRECISION",
)

_USERS: Migration = (
    # A name is one person however it is capitalised (SQLite's COLLATE NOCASE).
    "CREATE COLLATION railgraph_nocase "
    "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    """
    CREATE TABLE users (
        name TEXT COLLATE railgraph_nocase PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
    """
    CREATE TABLE user_tokens (
        token_hash TEXT PRIMARY KEY,
        name TEXT COLLATE railgraph_nocase NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
    """
    CREATE TABLE user_sessions (
        session_hash TEXT PRIMARY KEY,
        name TEXT COLLATE railgraph_nocase NOT NULL,
        csrf TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )
    """,
    "CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at)",
)

_EVENTS_ONCE: Migration = (
    # Events are stored once, named by (run, first seq, count) from the event channel's
    # write (see SQLite's migration): the write coordinates and their key go.
    "ALTER TABLE run_events DROP CONSTRAINT run_events_write_key",
    "ALTER TABLE run_events DROP COLUMN checkpoint_ns, DROP COLUMN checkpoint_id, "
    "DROP COLUMN task_id, DROP COLUMN write_idx, DROP COLUMN position",
    """
    CREATE TABLE graph_specs (
        signature TEXT PRIMARY KEY,
        spec TEXT NOT NULL
    )
    """,
    "CREATE INDEX approvals_expiring ON approvals (expires_at) "
    "WHERE status = 'pending' AND expires_at IS NOT NULL",
    "CREATE INDEX tool_effects_started ON tool_effects (started_at) WHERE status = 'started'",
)

_CHECKPOINTS_ONE_KEY: Migration = (
    # As on SQLite, the index in `alist`'s order (thread, id, namespace) becomes the key and
    # the old key goes: each checkpoint's insert updates one B-tree fewer.
    "DROP INDEX checkpoints_by_thread_and_id",
    "ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_pkey",
    "ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_pkey "
    "PRIMARY KEY (thread_id, checkpoint_id, checkpoint_ns)",
)

PG_MIGRATIONS: tuple[Migration, ...] = (
    _CHECKPOINT_TABLES,
    _RUN_STORE_TABLES,
    _SHARED_VALUES,
    _RUN_LEASES,
    _USERS,
    _EVENTS_ONCE,
    _CHECKPOINTS_ONE_KEY,
    MIGRATIONS[7],  # folded writes: no table changes, as on SQLite
    MIGRATIONS[8],  # effect re-sends: two columns, in SQL both engines take
)
"""Every migration, oldest first, one for each of `_schema.MIGRATIONS`."""

assert len(PG_MIGRATIONS) == len(MIGRATIONS), "a migration is missing on PostgreSQL"

_LOCK: Final = 0x7261_696C_6772_6170  # "railgrap": the advisory lock of migrations
_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS railgraph_schema (schema_version INTEGER NOT NULL)"


async def migrate_postgres(
    db: PostgresDatabase, migrations: tuple[Migration, ...] = PG_MIGRATIONS
) -> int:
    """Bring the database up to the version that `migrations` reach, in one transaction.

    An advisory lock makes two processes that open a new database at once migrate one
    after the other; the second finds the work done.

    Returns:
        The schema version the database now has.

    Raises:
        SchemaVersionError: The database has a newer version than `migrations` reach.
    """
    target = len(migrations)
    async with db.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        await conn.execute(_VERSION_TABLE)
        cursor = await conn.execute("SELECT schema_version FROM railgraph_schema")
        row = await cursor.fetchone()
        found = 0 if row is None else int(row[0])
        if found > target:
            raise _newer(db.location, found, target)
        for version in range(found + 1, target + 1):
            for statement in migrations[version - 1]:
                await conn.execute(statement)
        if row is None:
            await conn.execute("INSERT INTO railgraph_schema VALUES (%s)", (target,))
        elif found != target:
            await conn.execute("UPDATE railgraph_schema SET schema_version = %s", (target,))
    return target


async def check_schema(db: PostgresDatabase, schema_version: int) -> None:
    """Refuse a database that holds no railgraph store of the version this code reads.

    For opening read-only: nothing is created or migrated.
    """
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.railgraph_schema",)
        )
        row = await cursor.fetchone()
        found = 0
        if row is not None and row[0]:
            cursor = await conn.execute("SELECT schema_version FROM railgraph_schema")
            version = await cursor.fetchone()
            found = 0 if version is None else int(version[0])
    if found == 0:
        raise StoreError(
            f"the PostgreSQL database {db.location} holds no railgraph store yet (no "
            f"{SCHEMA}.railgraph_schema table); nothing was created. Start a run with "
            "`railgraph run REF` first, or pass --db (or set RAILGRAPH_DB) to the database "
            "your runs are stored in."
        )
    if found > schema_version:
        raise _newer(db.location, found, schema_version)
    if found < schema_version:
        raise StoreError(
            f"the railgraph store in {db.location} has schema version {found}, older than "
            f"this railgraph's {schema_version}, and reading commands never upgrade it; run a "
            "command that writes (`railgraph expire`, `railgraph resume RUN`) to upgrade it first."
        )


def _newer(location: str, found: int, target: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"the railgraph database at {location} has schema version {found}, but this "
        f"railgraph supports schema version {target} at most; upgrade railgraph "
        "(`pip install -U railgraph`) to open it."
    )
