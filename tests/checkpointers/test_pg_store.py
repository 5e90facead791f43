"""The store on PostgreSQL: races between connections, opening by URL, read-only, bad URLs.

The shared store and saver tests run on PostgreSQL too (`ON_BOTH_BACKENDS`); these are the
tests only PostgreSQL needs. Two stores opened on one URL have a connection pool each, as two
processes would: SQLite's single writer does not serialize them, the database must.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from railgraph.checkpointers import (
    SCHEMA_VERSION,
    ApprovalRecord,
    EffectRecord,
    Lease,
    RunRecord,
    SqliteCheckpointer,
    open_store,
)
from railgraph.checkpointers._pgopen import open_postgres
from railgraph.checkpointers._pgschema import PG_MIGRATIONS, migrate_postgres
from railgraph.checkpointers._pgsql import translate
from railgraph.errors import DecisionError, RunCancelled, SchemaVersionError, StoreError
from tests.checkpointers.conftest import make_run, query
from tests.postgres_server import PostgresServer


def run(run_id: str, *, status: str = "running") -> RunRecord:
    return make_run(run_id, status=status)


def event(n: int) -> dict[str, Any]:
    return {"kind": "note", "node": None, "at": float(n), "data": {"n": n}}


async def test_of_racing_decisions_on_two_connections_exactly_one_wins(
    postgres_store_url: str,
) -> None:
    async with (
        SqliteCheckpointer.from_path(postgres_store_url) as a,
        SqliteCheckpointer.from_path(postgres_store_url) as b,
    ):
        await a.store.create_run(run("r1"))
        await a.store.add_approval(
            ApprovalRecord(
                request_id="q1",
                run_id="r1",
                graph="railgraph.graphs.refund:graph",
                node="approve",
                status="pending",
                request={},
                created_at=1.0,
            )
        )
        deciders = [(a if i % 2 else b, f"reviewer-{i}") for i in range(8)]
        results = await asyncio.gather(
            *(
                s.store.decide_approval(
                    "q1", status="approved", decision={"by": name}, decided_by=name
                )
                for s, name in deciders
            ),
            return_exceptions=True,
        )

        won = [r for r in results if isinstance(r, ApprovalRecord)]
        lost = [r for r in results if isinstance(r, DecisionError)]
        assert (len(won), len(lost)) == (1, 7)
        stored = await b.store.get_approval("q1")
        assert stored is not None
        assert (stored.status, stored.decided_by) == ("approved", won[0].decided_by)
        assert all("was already approved by " + won[0].decided_by in str(e) for e in lost)


async def test_of_racing_lease_claims_on_two_connections_exactly_one_wins(
    postgres_store_url: str,
) -> None:
    async with (
        SqliteCheckpointer.from_path(postgres_store_url, clock=lambda: 100.0) as a,
        SqliteCheckpointer.from_path(postgres_store_url, clock=lambda: 100.0) as b,
    ):
        await a.store.create_run(run("r1", status="paused"))
        # Hosts other than this one: a live lease is one that has not expired.
        claims = await asyncio.gather(
            *(
                (a if i % 2 else b).store.acquire_lease(
                    "r1", Lease(owner=f"worker-{i}", host=f"host-{i}", pid=1), ttl=30.0
                )
                for i in range(8)
            )
        )

        granted = [c for c in claims if c.granted]
        assert len(granted) == 1
        holder = granted[0].record.lease_owner
        assert all(c.record.lease_owner == holder for c in claims)
        stored = await b.store.get_run("r1")
        assert stored is not None
        assert (stored.status, stored.lease_owner, stored.lease_expires_at) == (
            "running",
            holder,
            130.0,
        )


async def test_of_racing_effect_claims_on_two_connections_exactly_one_runs(
    postgres_store_url: str,
) -> None:
    async with (
        SqliteCheckpointer.from_path(postgres_store_url) as a,
        SqliteCheckpointer.from_path(postgres_store_url) as b,
    ):
        await a.store.create_run(run("r1"))
        claims = await asyncio.gather(
            *(
                (a if i % 2 else b).store.begin_effect(
                    "refund:r1:1", run_id="r1", node="refund", tool="refund", args={"i": i}
                )
                for i in range(8)
            )
        )

        assert claims.count(None) == 1
        others = [c for c in claims if c is not None]
        assert len(others) == 7
        assert all(isinstance(c, EffectRecord) and c.status == "started" for c in others)
        assert len({c.args["i"] for c in others if c is not None}) == 1
        assert await query(a, "SELECT COUNT(*) FROM tool_effects") == [(1,)]


async def test_events_appended_at_once_on_two_connections_get_every_seq_once(
    postgres_store_url: str,
) -> None:
    async with (
        SqliteCheckpointer.from_path(postgres_store_url) as a,
        SqliteCheckpointer.from_path(postgres_store_url) as b,
    ):
        await a.store.create_run(run("r1"))
        await asyncio.gather(
            *((a if n % 2 else b).store.append_events("r1", [event(n)]) for n in range(1, 13))
        )

        events = await a.store.list_events("r1")
        assert [e.seq for e in events] == list(range(1, 13))
        assert sorted(e.data["n"] for e in events) == list(range(1, 13))


async def test_a_url_opens_the_run_store_and_reading_commands_never_write(
    postgres_url: str,
) -> None:
    with pytest.raises(StoreError, match=r"holds no railgraph store yet .* nothing was created"):
        async with open_store(postgres_url):
            pass
    async with open_store(postgres_url, read_only=False) as store:
        await store.create_run(run("r1"))
    async with open_store(postgres_url) as store:
        assert [r.run_id for r in await store.list_runs()] == ["r1"]
        with pytest.raises(StoreError, match=r"was opened read-only"):
            await store.create_run(run("r2"))
    async with SqliteCheckpointer.from_path(postgres_url, read_only=True) as saver:
        assert await query(saver, "SELECT schema_version FROM railgraph_schema") == [
            (SCHEMA_VERSION,)
        ]


async def test_postgres_scheme_and_tables_in_their_own_schema(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database().replace("postgresql://", "postgres://", 1)
    async with SqliteCheckpointer.from_path(url) as saver:
        assert saver._db.engine == "postgresql"
        await saver.store.create_run(run("r1"))
    name = url.split("/")[3].split("?")[0]
    tables = postgres_server.psql(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        database=name,
    ).split()
    assert tables == [
        "railgraph.approvals",
        "railgraph.checkpoint_blobs",
        "railgraph.checkpoint_values",
        "railgraph.checkpoint_writes",
        "railgraph.checkpoints",
        "railgraph.graph_specs",
        "railgraph.railgraph_schema",
        "railgraph.run_events",
        "railgraph.runs",
        "railgraph.tool_effects",
        "railgraph.user_sessions",
        "railgraph.user_tokens",
        "railgraph.users",
    ]


async def test_a_server_that_is_down_is_a_store_error_that_says_what_to_check() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nobody listens on it
    url = f"postgresql://railgraph:s3cret@127.0.0.1:{port}/runs"
    with pytest.raises(StoreError) as caught:
        async with SqliteCheckpointer.from_path(url):
            pass
    message = str(caught.value)
    assert message.startswith(
        f"cannot connect to the PostgreSQL database postgresql://railgraph:***@127.0.0.1:{port}/runs"
    )
    assert "Check that the server is running" in message
    assert "s3cret" not in message


async def test_a_database_that_does_not_exist_is_a_store_error(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url("no_such_database")
    with pytest.raises(StoreError, match=r'database "no_such_database" does not exist'):
        async with open_store(url, read_only=False):
            pass


def test_the_dialect_says_sqlite_statements_postgresql_s_way() -> None:
    assert translate("INSERT OR IGNORE INTO runs (a, b) VALUES (?, ?)").sql == (
        "INSERT INTO runs (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    )
    upsert = translate(
        "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type) "
        "VALUES (?, ?, ?, ?)"
    )
    assert upsert.sql == (
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) "
        "DO UPDATE SET type = EXCLUDED.type"
    )
    numbered = translate("SELECT ?2 WHERE a = ?1 AND b = ?1 AND c LIKE 'x%'")
    assert numbered.sql == "SELECT %s WHERE a = %s AND b = %s AND c LIKE 'x%%'"
    assert numbered.params(["one", "two"]) == ["two", "one", "one"]
    assert translate("SELECT * FROM t WHERE 1 ORDER BY x LIMIT ?").sql == (
        "SELECT * FROM t WHERE TRUE ORDER BY x LIMIT NULLIF(%s, -1)"
    )
    assert translate("SELECT a FROM t WHERE request ->> '$.graph' = ?").sql == (
        "SELECT a FROM t WHERE request::json ->> 'graph' = %s"
    )
    with pytest.raises(StoreError, match=r"no PostgreSQL form .* SQLite's 'json_each\('"):
        translate("SELECT key FROM json_each(t.x)")


async def test_an_older_store_upgrades_with_its_rows_and_a_newer_one_is_refused(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    # A store made by the first five migrations, with an event stored the old way.
    async with open_postgres(postgres_url, migrate=False) as db:
        assert await migrate_postgres(db, PG_MIGRATIONS[:5]) == 5
        async with db.connection() as conn:
            await conn.execute(
                "INSERT INTO runs (run_id, graph, graph_name, signature, status, input, budget, "
                "usage, created_at, updated_at) VALUES "
                "('r1', 'g:graph', 'g', 's', 'paused', '{}', '{}', '{}', 1, 1)"
            )
            await conn.execute(
                "INSERT INTO run_events (run_id, seq, kind, node, at, data, checkpoint_id, "
                "task_id, write_idx, position) VALUES ('r1', 1, 'note', 'a', 2, '{\"n\":1}', "
                "'c1', 't1', 0, 0)"
            )

    async with SqliteCheckpointer.from_path(postgres_url) as saver:
        assert await query(saver, "SELECT schema_version FROM railgraph_schema") == [
            (SCHEMA_VERSION,)
        ]
        [stored] = await saver.store.list_events("r1")
        assert (stored.seq, stored.kind, stored.node, stored.data) == (1, "note", "a", {"n": 1})
        await saver.store.append_events("r1", [event(2)])
        assert [e.seq for e in await saver.store.list_events("r1")] == [1, 2]

    name = postgres_url.split("/")[3].split("?")[0]
    postgres_server.psql("UPDATE railgraph.railgraph_schema SET schema_version = 99", name)
    for read_only in (False, True):
        with pytest.raises(SchemaVersionError, match=r"has schema version 99, but this railgraph"):
            async with SqliteCheckpointer.from_path(postgres_url, read_only=read_only):
                pass


async def test_prune_deletes_a_run_with_everything_stored_for_it(postgres_store_url: str) -> None:
    async with SqliteCheckpointer.from_path(postgres_store_url, clock=lambda: 50.0) as saver:
        for run_id, status in (("old", "completed"), ("kept", "paused")):
            await saver.store.create_run(run(run_id, status=status), events=[event(1)])
            await saver.store.begin_effect(
                f"k-{run_id}", run_id=run_id, node="n", tool="t", args={}
            )
            config = {"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = {"big": "x" * 10_000}
            checkpoint["channel_versions"] = {"big": "a1"}
            await saver.aput(config, checkpoint, {}, {"big": "a1"})

        report = await saver.store.prune(older_than=100.0)

        assert report.run_ids == ["old"]
        assert report.rows == {
            "runs": 1,
            "run_events": 1,
            "approvals": 0,
            "tool_effects": 1,
            "checkpoints": 1,
            "checkpoint_blobs": 1,
            "checkpoint_writes": 0,
            # The value is the same in both threads: the kept one still names it.
            "checkpoint_values": 0,
            "graph_specs": 0,
        }
        assert report.bytes_before > 0
        assert [r.run_id for r in await saver.store.list_runs()] == ["kept"]
        assert await query(saver, "SELECT thread_id FROM checkpoints") == [("kept",)]
        assert await query(saver, "SELECT COUNT(*) FROM checkpoint_values") == [(1,)]


async def test_a_cancel_racing_an_effect_claim_either_names_the_effect_or_stops_it(
    postgres_store_url: str,
) -> None:
    async with (
        SqliteCheckpointer.from_path(postgres_store_url) as a,
        SqliteCheckpointer.from_path(postgres_store_url) as b,
    ):
        for i in range(10):
            run_id = f"r{i}"
            await a.store.create_run(run(run_id))
            claim, cancel = await asyncio.gather(
                a.store.begin_effect(f"k{i}", run_id=run_id, node="n", tool="refund", args={}),
                b.store.cancel_run(run_id, by="ann", reason="stop", at=5.0),
                return_exceptions=True,
            )
            assert not isinstance(cancel, BaseException)
            cancelled, record, unknown = cancel
            assert (cancelled, record.status) == (True, "cancelled")
            if isinstance(claim, RunCancelled):
                # The cancel committed first: the effect was never claimed.
                assert unknown == []
                assert await a.store.get_effect(f"k{i}") is None
            else:
                # The claim committed first: the cancel names it as possibly made.
                assert claim is None
                assert [e.idempotency_key for e in unknown] == [f"k{i}"]
                assert record.error is not None and f"key k{i}" in record.error


async def test_without_the_driver_a_url_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError) as caught:
        async with open_store("postgres://rg@/runs", read_only=False):
            pass
    assert str(caught.value) == (
        "postgres:// names a PostgreSQL database. PostgreSQL support is an extra: install it "
        "with `pip install 'railgraph[postgres]'` (psycopg 3 and its connection pool)."
    )


async def test_two_processes_opening_a_new_database_at_once_migrate_it_once(
    postgres_url: str,
) -> None:
    async def open_and_count() -> list[tuple[Any, ...]]:
        async with SqliteCheckpointer.from_path(postgres_url) as saver:
            return await query(saver, "SELECT schema_version FROM railgraph_schema")

    assert await asyncio.gather(*(open_and_count() for _ in range(4))) == [[(SCHEMA_VERSION,)]] * 4
