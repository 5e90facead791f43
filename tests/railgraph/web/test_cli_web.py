"""``railgraph users`` and ``railgraph serve``'s refusal to listen unguarded, in process."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient
from typer.testing import CliRunner

from railgraph._cli import app
from railgraph.web import WebSettings, create_app


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), input=stdin)
    return done.exit_code, done.stdout, done.stderr


def test_users_add_token_and_list(isolated: Path) -> None:
    db = str(isolated / "rg.db")
    assert run("users", "add", "alice", "--db", db, stdin="long enough\n") == (
        0,
        "added reviewer alice\n",
        "",
    )
    code, out, _ = run("users", "add", "root", "--role", "admin", "--db", db, stdin="x" * 12)
    assert (code, out) == (0, "added admin root\n")
    code, _, err = run("users", "add", "ALICE", "--db", db, stdin="another one\n")
    assert code == 2
    assert "user 'ALICE' already exists" in err
    code, token, _ = run("users", "token", "alice", "--db", db)
    assert code == 0 and re.fullmatch(r"[A-Za-z0-9_-]{43}\n", token)
    code, out, _ = run("users", "list", "--db", db)
    assert re.findall(r"^(\w+)  (\w+)  added", out, re.M) == [
        ("alice", "reviewer"),
        ("root", "admin"),
    ]

    with TestClient(create_app(WebSettings(db=Path(db)))) as client:
        headers = {"Authorization": f"Bearer {token.strip()}"}
        assert client.get("/api/pending", headers=headers).json() == []


def test_users_add_refuses_short_passwords_and_unknown_roles(isolated: Path) -> None:
    db = str(isolated / "rg.db")
    code, _, err = run("users", "add", "alice", "--db", db, stdin="short\n")
    assert code == 2
    assert "the password must be at least 8 characters" in err
    code, _, err = run(
        "users", "add", "alice", "--role", "owner", "--db", db, stdin="long enough\n"
    )
    assert code == 2
    assert "unknown role 'owner'; use reviewer or admin" in err
    code, _, err = run("users", "token", "nobody", "--db", db)
    assert code == 2
    assert "no user 'nobody'; add them with `railgraph users add nobody`" in err


def test_serve_refuses_other_hosts_until_someone_can_sign_in(isolated: Path) -> None:
    db = str(isolated / "rg.db")
    code, _, err = run("serve", "--host", "0.0.0.0", "--db", db)
    assert code == 2
    assert "refusing to listen on 0.0.0.0: nobody can sign in yet" in err
