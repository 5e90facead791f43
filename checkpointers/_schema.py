"""The database schema as an ordered list of migrations.

The schema version lives in SQLite's `PRAGMA user_version`. Version `n` means the
first `n` migrations have run. Opening a database runs the missing ones and bumps
the version in one transaction, so a crash or an error mid-upgrade leaves the
database as it was. A database from a newer railgraph is refused rather than
guessed at.

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from railgraph.errors import SchemaVersionError

from ._db import Database
from ._tx import Body, execute, fetchone
from ._users import USERS_MIGRATION

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]

Migration = tuple[str, ...]
"""One migration: SQL statements run in order, in one transaction."""

_CHECKPOINT_TABLES: Migration = (
    # One row per checkpoint, without its channel values: those live in
    # checkpoint_blobs, named by (channel, version) through `channel_versions`.
    """
    CREATE TABLE checkpoints (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        parent_checkpoint_id TEXT,
        type TEXT NOT NULL,
        checkpoint BLOB NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        channel_versions TEXT NOT NULL DEFAULT '{}',
        run_id TEXT,
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
    )
    """,
    "CREATE INDEX checkpoints_by_run_id ON checkpoints (run_id) WHERE run_id IS NOT NULL",
    # A channel's value is stored once per version, however many checkpoints share it.
    """
    CREATE TABLE checkpoint_blobs (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BLOB,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
    )
    """,
    """
    CREATE TABLE checkpoint_writes (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BLOB NOT NULL,
        task_path TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    )
    """,
)

_RUN_STORE_TABLES: Migration = (
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
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
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
    "CREATE INDEX runs_by_status ON runs (status, created_at)",
    "CREATE INDEX runs_by_graph ON runs (graph, created_at)",
    "CREATE INDEX runs_by_graph_name ON runs (graph_name, created_at)",
    "CREATE INDEX runs_by_created_at ON runs (created_at)",
    # Events harvested from checkpoint writes carry the write's coordinates, and
    # the UNIQUE key over them makes a repeated put_writes insert nothing.
    # Events the runner appends itself leave them NULL, and NULLs never collide.
    """
    CREATE TABLE run_events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        node TEXT,
        at REAL NOT NULL,
        data TEXT NOT NULL,
        checkpoint_ns TEXT,
        checkpoint_id TEXT,
        task_id TEXT,
        write_idx INTEGER,
        position INTEGER,
        PRIMARY KEY (run_id, seq),
        UNIQUE (run_id, checkpoint_ns, checkpoint_id, task_id, write_idx, position)
    )
    """,
    """
    CREATE TABLE approvals (
        request_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        graph TEXT NOT NULL,
        node TEXT NOT NULL,
        status TEXT NOT NULL,
        request TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        decision TEXT,
        decided_by TEXT,
        decided_at REAL
    )
    """,
    "CREATE INDEX approvals_by_status ON approvals (status, created_at)",
    "CREATE INDEX approvals_by_run ON approvals (run_id, created_at)",
    """
    CREATE TABLE tool_effects (
        idempotency_key TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        node TEXT NOT NULL,
        tool TEXT NOT NULL,
        args TEXT NOT NULL,
        status TEXT NOT NULL,
        result TEXT,
        error TEXT,
        started_at REAL NOT NULL,
        finished_at REAL
    )
    """,
    "CREATE INDEX tool_effects_by_run ON tool_effects (run_id, started_at)",
)


def _rebuild(table: str, create: str, columns: str) -> tuple[str, ...]:
    """Statements that replace `table` by the one `create` makes, keeping `columns` of its rows.

    `create` makes `{table}_new`. SQLite cannot turn a table into a `WITHOUT ROWID`
    one in place, so the rows are copied across inside the migration's transaction.
    """
    return (
        create,
        f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table}_new RENAME TO {table}",
    )


_SHARED_VALUES: Migration = (
    # Large serialized values, once per distinct content (see `_values`). Blob and
    # write rows written before this migration keep their bytes inline.
    """
    CREATE TABLE checkpoint_values (
        hash BLOB PRIMARY KEY,
        codec TEXT NOT NULL,
        data BLOB NOT NULL
    )
    """,
    # WITHOUT ROWID: each insert touches one B-tree, not a table and its key's index,
    # so a node's commit writes fewer pages. Rows are small now that large values
    # live in checkpoint_values.
    *_rebuild(
        "checkpoint_blobs",
        """
        CREATE TABLE checkpoint_blobs_new (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL,
            version TEXT NOT NULL,
            type TEXT NOT NULL,
            blob BLOB,
            value_hash BLOB,
            PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
        ) WITHOUT ROWID
        """,
        "thread_id, checkpoint_ns, channel, version, type, blob",
    ),
    *_rebuild(
        "checkpoint_writes",
        """
        CREATE TABLE checkpoint_writes_new (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            checkpoint_id TEXT NOT NULL,
            task_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            channel TEXT NOT NULL,
            type TEXT NOT NULL,
            blob BLOB,
            value_hash BLOB,
            task_path TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
        ) WITHOUT ROWID
        """,
        "thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path",
    ),
    # Newest first within a thread, every namespace: the order `alist` pages in,
    # read backwards, with no sort of whole rows.
    "CREATE INDEX checkpoints_by_thread_and_id ON checkpoints "
    "(thread_id, checkpoint_id, checkpoint_ns)",
    # For collecting values no row names any more.
    "CREATE INDEX checkpoint_blobs_by_value ON checkpoint_blobs (value_hash) "
    "WHERE value_hash IS NOT NULL",
    "CREATE INDEX checkpoint_writes_by_value ON checkpoint_writes (value_hash) "
    "WHERE value_hash IS NOT NULL",
)

_RUN_LEASES: Migration = (
    # Who drives a run: a lease with its holder, a heartbeat and an expiry. NULL owner:
    # nobody drives it (paused, ended, or interrupted when its status is `running`).
    # Paused runs of older databases have no lease, so they resume as before.
    "ALTER TABLE runs ADD COLUMN lease_owner TEXT",
    "ALTER TABLE runs ADD COLUMN lease_host TEXT",
    "ALTER TABLE runs ADD COLUMN lease_pid INTEGER",
    "ALTER TABLE runs ADD COLUMN heartbeat_at REAL",
    "ALTER TABLE runs ADD COLUMN lease_expires_at REAL",
)

_EVENTS_ONCE: Migration = (
    # (IF [NOT] EXISTS throughout: a database whose version number was set back by hand
    # upgrades all the same.)
    # A node's events are stored once, here. The event channel's write names them by
    # (run, first seq, count) instead of holding a copy, and the channel's value is not
    # kept in checkpoints (it holds only the last step's events, which live here), so
    # the UNIQUE key that made a repeated put_writes insert nothing is gone: the write's
    # own INSERT OR IGNORE decides that now. WITHOUT ROWID: one B-tree, ordered by the
    # key every read uses, instead of a table, its key's index and the UNIQUE index.
    *_rebuild(
        "run_events",
        """
        CREATE TABLE run_events_new (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            node TEXT,
            at REAL NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID
        """,
        "run_id, seq, kind, node, at, data",
    ),
    # A graph's spec, once per signature, rather than in every run's `run_started` event.
    """
    CREATE TABLE IF NOT EXISTS graph_specs (
        signature TEXT PRIMARY KEY,
        spec TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    # Pending requests that expire, found without reading the others.
    "CREATE INDEX IF NOT EXISTS approvals_expiring ON approvals (expires_at) "
    "WHERE status = 'pending' AND expires_at IS NOT NULL",
    # Effects whose outcome is unknown, found without reading the ledger (`pending`).
    "CREATE INDEX IF NOT EXISTS tool_effects_started ON tool_effects (started_at) "
    "WHERE status = 'started'",
)

_CHECKPOINTS_ONE_KEY: Migration = (
    # A checkpoint's row went into three B-trees: the table, its key (thread, namespace,
    # id) and the index in `alist`'s order (thread, id, namespace). The index, made
    # unique, is the key now: a lookup by all three columns uses it whole, and the
    # newest checkpoint of one namespace is the first match reading it backwards. So
    # each step's commit writes one page fewer. Still a rowid table: keyed WITHOUT
    # ROWID, rows this large inserted at random thread ids left pages half full.
    *_rebuild(
        "checkpoints",
        """
        CREATE TABLE checkpoints_new (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            checkpoint_id TEXT NOT NULL,
            parent_checkpoint_id TEXT,
            type TEXT NOT NULL,
            checkpoint BLOB NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            channel_versions TEXT NOT NULL DEFAULT '{}',
            run_id TEXT
        )
        """,
        "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, "
        "metadata, channel_versions, run_id",
    ),
    # Dropping the old table dropped its indexes.
    "CREATE UNIQUE INDEX checkpoints_by_thread_and_id ON checkpoints "
    "(thread_id, checkpoint_id, checkpoint_ns)",
    "CREATE INDEX checkpoints_by_run_id ON checkpoints (run_id) WHERE run_id IS NOT NULL",
)

_FOLDED_WRITES: Migration = ()
"""No table changes: from this version an event write's row may hold the writes of its task
that follow it (see `_events.event_ref`). A release before it would load such a row without
them, losing a paused or crashed run's usage and the trigger of its next node, so the version
rises to make those releases refuse the file."""

EFFECT_RESENDS: Migration = (
    # Which person's approval an effect's latest re-send spent: the question's node task and
    # its number there (see `RunLedger.resend_effect`), so one approval sends it once.
    "ALTER TABLE tool_effects ADD COLUMN resent_task TEXT",
    "ALTER TABLE tool_effects ADD COLUMN resent_question INTEGER",
)
"""The same statements on either engine."""

MIGRATIONS: tuple[Migration, ...] = (
    _CHECKPOINT_TABLES,
    _RUN_STORE_TABLES,
    _SHARED_VALUES,
    _RUN_LEASES,
    USERS_MIGRATION,
    _EVENTS_ONCE,
    _CHECKPOINTS_ONE_KEY,
    _FOLDED_WRITES,
    EFFECT_RESENDS,
)
"""Every migration, oldest first; migration `i` upgrades version `i` to `i + 1`."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes and reads."""


async def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to the version that `migrations` reach.

    Runs under the write lock in one `BEGIN IMMEDIATE` transaction, so two
    processes opening the same new file do not both create the tables.

    Args:
        db: The open database.
        migrations: The migrations to apply; tests pass a prefix to build an
            older database.

    Returns:
        The schema version the database now has.

    Raises:
        SchemaVersionError: The database has a newer version than `migrations` reach.
    """
    return await db.write(_upgrade(db.location, migrations))


def _upgrade(location: str, migrations: Sequence[Migration]) -> Body[int]:
    target = len(migrations)
    row = yield from fetchone("PRAGMA user_version")
    found = int(row[0]) if row is not None else 0
    if found > target:
        raise SchemaVersionError(
            f"the railgraph database at {location} has schema version {found}, but "
            f"this railgraph supports schema version {target} at most; upgrade railgraph "
            "(`pip install -U railgraph`) to open it."
        )
    for version in range(found + 1, target + 1):
        for statement in migrations[version - 1]:
            yield from execute(statement)
        # PRAGMA takes no parameters; `version` is our own integer.
        yield from execute(f"PRAGMA user_version = {version}")
    return target
