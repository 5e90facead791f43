"""The refund agent on PostgreSQL, chosen by URL: `--db`, `RAILGRAPH_DB`, `Runner.open` and the
database LangGraph's server serves from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from railgraph import Runner
from railgraph._cli import app
from railgraph._served_db import DATABASES, db_key
from railgraph._settings import DB_ENV
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import make_graph
from railgraph.server import ServedGraph
from tests.conftest import FakeTime
from tests.railgraph.test_server import answer, drive


def run_cli_json(*args: str) -> Any:
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def test_the_walkthrough_on_postgresql_by_flag_and_by_variable(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The global flag sets the variable for the commands; set here first, so that the
    # test's end puts it back.
    monkeypatch.setenv(DB_ENV, "unused")
    done = run_cli_json(
        "--db",
        postgres_url,
        "run",
        "railgraph.graphs.refund:graph",
        "--input",
        '{"ticket_id":"T-1001"}',
    )
    assert done["status"] == "completed"

    monkeypatch.setenv(DB_ENV, postgres_url)
    paused = run_cli_json(
        "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1002"}'
    )
    assert paused["status"] == "paused"
    [pending] = run_cli_json("pending")
    assert (pending["run_id"], pending["action"]) == (paused["run_id"], "create_refund")
    approved = run_cli_json("approve", paused["run_id"], "--by", "alice")
    assert approved["status"] == "completed"

    monkeypatch.delenv(DB_ENV)
    listed = run_cli_json("runs", "--db", postgres_url)
    assert sorted((r["run_id"], r["status"]) for r in listed) == sorted(
        [(done["run_id"], "completed"), (paused["run_id"], "completed")]
    )
    # Nothing went to the default SQLite file.
    assert not (tmp_path / ".railgraph" / "railgraph.db").exists()


async def test_runner_open_takes_a_url(postgres_url: str) -> None:
    async with Runner.open(postgres_url) as runner:
        outcome = await runner.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1001"})
        assert outcome.status == "completed"
    async with Runner.open(postgres_url, read_only=True) as runner:
        record = await runner.store.get_run(outcome.run_id)
        assert record is not None
        assert record.status == "completed"
        effects = await runner.store.list_effects(outcome.run_id)
        assert [(e.tool, e.status) for e in effects] == [
            ("create_refund", "completed"),
            ("notify_customer", "completed"),
        ]


async def test_a_graph_served_by_langgraphs_server_runs_on_postgresql(
    postgres_url: str, tmp_path: Path, fake_time: FakeTime
) -> None:
    helpdesk = Helpdesk(tmp_path / "helpdesk.db")
    served = ServedGraph(
        make_graph(helpdesk=helpdesk), db=postgres_url, clock=fake_time.clock, timer=fake_time.timer
    )
    async with DATABASES.hold(db_key(postgres_url)) as saver:
        assert saver._db.engine == "postgresql"
        paused = await drive(served, saver, "r1", {"ticket_id": "T-1002"})
        (asked,) = paused.interrupts
        assert [request["action_request"]["action"] for request in asked.value] == ["create_refund"]
        done = await drive(served, saver, "r1", answer("accept"))

        assert (done.next, done.interrupts) == ((), ())
        record = await saver.store.get_run("r1")
        assert record is not None
        assert (record.status, record.lease_owner) == ("completed", None)
        assert [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()] == [("T-1002", 480.0)]
