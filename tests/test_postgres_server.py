"""The test suite's PostgreSQL server: real, isolated per test, reachable by socket and TCP."""

from __future__ import annotations

import psycopg

from tests.postgres_server import PostgresServer


def test_each_test_gets_an_empty_database_of_its_own(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    name = postgres_url.split("/")[-1].split("?")[0]
    assert postgres_server.psql("SELECT current_database()", name).strip() == name
    assert (
        postgres_server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name
        ).strip()
        == "0"
    )
    other = postgres_server.create_database()
    assert other != postgres_url
    assert postgres_server.psql("SHOW listen_addresses").strip() == "127.0.0.1"
    # The TCP URL reaches the same database (another host would connect this way).
    over_tcp = psycopg.connect(postgres_server.url(name, tcp=True))
    with over_tcp:
        row = over_tcp.execute("SELECT current_database(), inet_server_addr()").fetchone()
    assert row is not None and row[0] == name and str(row[1]) == "127.0.0.1"
