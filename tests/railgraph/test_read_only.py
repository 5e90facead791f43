"""Commands that only read never write: no file, folder, table, migration or journal switch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from railgraph import Runner
from railgraph._cli import app
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.errors import StoreError

READERS = [
    ["runs"],
    ["show", "r1"],
    ["pending"],
    ["render", "railgraph.graphs.refund:graph", "--run", "r1", "-o", "run.dot"],
    ["render", "railgraph.graphs.refund:graph", "--runs", "3", "-o", "runs.dot"],
]


def run_cli(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("command", READERS, ids=lambda c: "-".join(c[:2]))
def test_another_apps_database_is_refused_and_left_byte_identical(
    tmp_path: Path, command: list[str]
) -> None:
    other = tmp_path / "data" / "other-app.sqlite"
    other.parent.mkdir()
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('keep me')")
    conn.close()
    before = fingerprint(tmp_path / "data")

    code, _, stderr = run_cli(*command, "--db", str(other))

    assert code == 2
    assert "is not a railgraph database (it has none of railgraph's tables)" in stderr
    assert "it was left untouched" in stderr
    assert fingerprint(tmp_path / "data") == before
    with sqlite3.connect(other) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database at all, but my notes")
    code, _, stderr = run_cli("runs", "--db", "notes.db")
    assert code == 2
    assert "notes.db is not a railgraph database (file is not a database)" in stderr
    assert (tmp_path / "notes.db").read_text() == "not a database at all, but my notes"


@pytest.mark.parametrize("command", READERS, ids=lambda c: "-".join(c[:2]))
def test_a_missing_database_creates_no_folder(tmp_path: Path, command: list[str]) -> None:
    code, _, stderr = run_cli(*command, "--db", "typo/dir/x.db")
    assert code == 2
    assert "typo/dir/x.db" in stderr
    assert list(tmp_path.iterdir()) == []


def test_reading_in_a_fresh_folder_creates_nothing(tmp_path: Path) -> None:
    assert run_cli("pending") == (0, "no pending review requests\n", "")
    code, stdout, _ = run_cli("runs", "--json")
    assert (code, json.loads(stdout)) == (0, [])
    assert list(tmp_path.iterdir()) == []


def test_reading_a_railgraph_database_changes_none_of_its_bytes(tmp_path: Path) -> None:
    async def start() -> str:
        # Two hours ago: the rollback request (one hour to decide) is past its expiry now.
        async with Runner.open(clock=lambda: time.time() - 7200) as runner:
            paused = await runner.start("railgraph.graphs.incident:graph", {"service": "checkout"})
            assert paused.status == "paused"
            return paused.run_id

    run_id = asyncio.run(start())
    db = tmp_path / ".railgraph" / "railgraph.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for command in (
        ["runs"],
        ["show", run_id],
        ["pending"],
        ["pending", "--json"],
        ["render", "railgraph.graphs.incident:graph", "--run", run_id, "-o", "run.dot"],
    ):
        code, _, stderr = run_cli(*command)
        assert code == 0, (command, stderr)
    assert "expired:   at" in run_cli("pending")[1]
    assert [p["expired"] for p in json.loads(run_cli("pending", "--json")[1])] == [True, False]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with sqlite3.connect(db) as conn:
        statuses = conn.execute("SELECT status FROM approvals ORDER BY created_at").fetchall()
    conn.close()
    assert statuses == [("pending",), ("pending",)]


def test_an_older_schema_is_not_upgraded_by_a_read(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE checkpoints (x); CREATE TABLE runs (x); PRAGMA user_version = 2;"
        )
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code, _, stderr = run_cli("runs", "--db", str(db))
    assert code == 2
    assert "has schema version 2, older than this railgraph's" in stderr
    assert "reading commands never upgrade it" in stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


async def test_a_read_only_saver_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "railgraph.db"
    async with SqliteCheckpointer.from_path(db):
        pass
    async with SqliteCheckpointer.from_path(db, read_only=True) as saver:
        assert await saver.store.list_runs() == []
        with pytest.raises(StoreError, match="readonly database"):
            await saver.store.append_events(
                "r1", [{"kind": "note", "node": None, "at": 1.0, "data": {}}]
            )
