"""Secrets are redacted from everything stored or shown for people; the run keeps real values."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from railgraph import Runner
from railgraph._cli import app
from railgraph._settings import REDACT_ENV, default_secret_words
from railgraph.checkpointers import REDACTED, Redactor

SECRET = "sk-live-4242-do-not-print"
TOKEN = "tok-9f8e7d6c5b4a"

GRAPH = '''
from pydantic import BaseModel

from railgraph.nodes import ToolRegistry
from railgraph import END, START, GraphBuilder

tools = ToolRegistry()
sent: list[dict] = []


class Call(BaseModel):
    url: str
    api_key: str
    headers: dict[str, str]


class Reply(BaseModel):
    status: int
    session_token: str


@tools.tool(tier="irreversible")
def post(args: Call) -> Reply:
    """Post to a partner's API."""
    sent.append(args.model_dump())
    return Reply(status=201, session_token="tok-9f8e7d6c5b4a")


class State(BaseModel):
    url: str
    api_key: str
    reply: Reply | None = None


g = GraphBuilder("partner", State, tools=tools)
g.approve("review", action="post", approved="post", rejected=END)
g.tool(
    "post",
    args=lambda s: {
        "url": s.url,
        "api_key": s.api_key,
        "headers": {"Authorization": "Bearer " + s.api_key, "Accept": "json"},
    },
    output="reply",
)
g.edge(START, "review").edge("post", END)
graph = g.build()
'''


def test_keys_that_name_secrets_are_redacted_and_others_kept() -> None:
    redactor = Redactor()
    value = {
        "api_key": SECRET,
        "X-Api-Key": SECRET,
        "apiKey": SECRET,
        "db_password": SECRET,
        "access_token": SECRET,
        "headers": {"Authorization": "Bearer x", "Accept": "json"},
        "items": [{"client_secret": SECRET, "sku": "A"}],
        "tokens": 960,
        "input_tokens": 10,
        "max_tokens": 50,
        "password": None,
        "model": SecretStr(SECRET),
    }
    assert redactor.redact(value) == {
        "api_key": REDACTED,
        "X-Api-Key": REDACTED,
        "apiKey": REDACTED,
        "db_password": REDACTED,
        "access_token": REDACTED,
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "items": [{"client_secret": REDACTED, "sku": "A"}],
        "tokens": 960,
        "input_tokens": 10,
        "max_tokens": 50,
        "password": None,
        "model": REDACTED,
    }
    assert redactor.redact(redactor.redact(value)) == redactor.redact(value)


def test_the_list_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REDACT_ENV, "ssn,pin")
    assert Redactor(default_secret_words()).redact({"ssn": "1", "api_key": "k"}) == {
        "ssn": REDACTED,
        "api_key": "k",
    }
    monkeypatch.setenv(REDACT_ENV, "+ssn")
    assert Redactor(default_secret_words()).redact({"ssn": "1", "api_key": "k"}) == {
        "ssn": REDACTED,
        "api_key": REDACTED,
    }


def all_text(db: Path) -> str:
    """Every text value of the run store's tables (not the checkpoints)."""
    with sqlite3.connect(db) as conn:
        rows = [
            *conn.execute("SELECT data FROM run_events"),
            *conn.execute("SELECT request FROM approvals"),
            *conn.execute("SELECT args FROM tool_effects"),
        ]
    conn.close()
    return "\n".join(str(r[0]) for r in rows)


def cli(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code in (0, 1), done.stderr
    return done.stdout


def test_a_run_stores_and_shows_no_secret_yet_calls_with_the_real_one(tmp_path: Path) -> None:
    (tmp_path / "rg_partner.py").write_text(GRAPH)
    db = tmp_path / ".railgraph" / "railgraph.db"

    async def start() -> str:
        async with Runner.open() as runner:
            paused = await runner.start(
                "rg_partner:graph", {"url": "https://partner.example", "api_key": SECRET}
            )
            assert paused.status == "paused"
            return paused.run_id

    run_id = asyncio.run(start())
    assert SECRET not in all_text(db)
    pending = cli("pending", "--json")
    assert SECRET not in pending
    [request] = json.loads(pending)
    assert request["arguments"] == {
        "url": "https://partner.example",
        "api_key": REDACTED,
        "headers": {"Authorization": REDACTED, "Accept": "json"},
    }
    assert SECRET not in cli("pending")

    done = CliRunner().invoke(app, ["approve", run_id, "--by", "alice", "--json"])
    assert done.exit_code == 0, done.stderr
    approved: dict[str, Any] = json.loads(done.stdout)
    assert approved["status"] == "completed"
    assert approved["result"]["api_key"] == REDACTED
    assert approved["result"]["reply"] == {"status": 201, "session_token": REDACTED}

    import rg_partner  # type: ignore[import-not-found]

    assert rg_partner.sent == [
        {
            "url": "https://partner.example",
            "api_key": SECRET,
            "headers": {"Authorization": f"Bearer {SECRET}", "Accept": "json"},
        }
    ]
    assert SECRET not in all_text(db) and TOKEN not in all_text(db)
    for command in (["show", run_id], ["show", run_id, "--json"], ["runs", "--json"]):
        shown = cli(*command)
        assert SECRET not in shown and TOKEN not in shown, command
    for name in ("run.html", "run.dot", "run.mmd"):
        cli("render", "rg_partner:graph", "--run", run_id, "-o", name)
        drawn = (tmp_path / name).read_text()
        assert SECRET not in drawn and TOKEN not in drawn, name


def test_rows_stored_before_redaction_are_redacted_when_shown(tmp_path: Path) -> None:
    (tmp_path / "rg_partner_old.py").write_text(GRAPH)

    async def start() -> str:
        async with Runner.open(redact=[]) as runner:  # as an older release stored them
            paused = await runner.start(
                "rg_partner_old:graph", {"url": "https://partner.example", "api_key": SECRET}
            )
            return paused.run_id

    run_id = asyncio.run(start())
    assert SECRET in all_text(tmp_path / ".railgraph" / "railgraph.db")
    for command in (["pending"], ["pending", "--json"], ["show", run_id, "--json"]):
        assert SECRET not in cli(*command), command
