"""Where data lives and how durable it is, from arguments and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from railgraph import InputError, Runner
from railgraph._settings import DB_ENV, SYNCHRONOUS_ENV, db_exists, default_db, default_db_path


async def synchronous_of(runner: Runner) -> int:
    async with runner.saver.conn.execute("PRAGMA synchronous") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_normal_by_default_and_full_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Runner.open(tmp_path / "a.db") as runner:
        assert await synchronous_of(runner) == 1  # NORMAL
    async with Runner.open(tmp_path / "b.db", synchronous="FULL") as runner:
        assert await synchronous_of(runner) == 2  # FULL
    monkeypatch.setenv(SYNCHRONOUS_ENV, "full")
    async with Runner.open(tmp_path / "c.db") as runner:
        assert await synchronous_of(runner) == 2


async def test_a_bad_durability_setting_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, "sometimes")
    with pytest.raises(
        InputError, match="RAILGRAPH_SYNCHRONOUS='SOMETIMES'; set it to NORMAL or FULL"
    ):
        async with Runner.open(tmp_path / "d.db"):
            pass


def test_database_path_defaults_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_db_path() == tmp_path / ".railgraph" / "railgraph.db"
    monkeypatch.setenv(DB_ENV, str(tmp_path / "elsewhere.db"))
    assert default_db_path() == tmp_path / "elsewhere.db"


def test_a_postgresql_url_in_the_variable_stays_a_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_db() == tmp_path / ".railgraph" / "railgraph.db"
    assert not db_exists(default_db())
    for url in ("postgresql://rg:pw@db.internal:5432/runs", "postgres://rg@/runs?host=/run/pg"):
        monkeypatch.setenv(DB_ENV, url)
        assert default_db() == url
        assert db_exists(url)
    monkeypatch.setenv(DB_ENV, str(tmp_path / "elsewhere.db"))
    assert default_db() == tmp_path / "elsewhere.db"
