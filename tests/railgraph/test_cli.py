"""The ``railgraph`` command in real subprocesses: the acceptance walk-through and exit codes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from railgraph._cli import app

# Real subprocesses: CI runs these; the default developer run skips them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railgraph", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def cli_json(*args: str, cwd: Path, code: int = 0) -> Any:
    done = cli(*args, "--json", cwd=cwd)
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout)


def run_cli(*args: str) -> tuple[int, str, str]:
    """The command in this process (the walk-through above covers real subprocesses)."""
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def run_cli_json(*args: str, code: int = 0) -> Any:
    exit_code, stdout, stderr = run_cli(*args, "--json")
    assert exit_code == code, stderr
    return json.loads(stdout)


def refund_rows(cwd: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(cwd / ".railgraph" / "helpdesk.db") as conn:
        return conn.execute("SELECT ticket_id, amount FROM refunds ORDER BY refund_id").fetchall()


def test_acceptance_walkthrough(tmp_path: Path) -> None:
    done = cli_json(
        "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1001"}', cwd=tmp_path
    )
    assert done["status"] == "completed"
    assert (tmp_path / ".railgraph" / "railgraph.db").exists()

    paused = cli_json(
        "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1002"}', cwd=tmp_path
    )
    assert paused["status"] == "paused"
    [pending] = cli_json("pending", cwd=tmp_path)
    assert pending["run_id"] == paused["run_id"]
    assert (pending["graph"], pending["action"], pending["risk"]) == (
        "refund",
        "create_refund",
        "irreversible",
    )
    assert pending["arguments"] == {
        "ticket_id": "T-1002",
        "invoice_id": "INV-5002",
        "amount": 480.0,
    }
    assert pending["reason"] == "refund of $480.00 is over the $100.00 limit"

    approved = cli_json("approve", paused["run_id"], "--by", "alice", cwd=tmp_path)
    assert (approved["run_id"], approved["status"]) == (paused["run_id"], "completed")
    assert refund_rows(tmp_path) == [("T-1001", 42.5), ("T-1002", 480.0)]

    shown = cli_json("show", paused["run_id"], cwd=tmp_path)
    assert shown["path"][-3:] == ["approve_refund", "create_refund", "notify_customer"]
    assert [(d["node"], d["status"], d["by"]) for d in shown["decisions"]] == [
        ("approve_refund", "approved", "alice")
    ]
    assert shown["outcome"] == {"status": "completed", "reason": None}
    assert shown["agent"]["role"] == "refund"
    assert shown["model"] == "scripted-support-model"
    assert shown["policy"]["budget"]["tool_calls"] == 8
    assert [(c["tool"], c["status"]) for c in shown["tool_calls"]] == [
        ("load_ticket", "ok"),
        ("lookup_invoice", "ok"),
        ("create_refund", "ok"),
        ("notify_customer", "ok"),
    ]
    assert all(c["latency_ms"] >= 0 for c in shown["tool_calls"])

    paused = cli_json(
        "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1003"}', cwd=tmp_path
    )
    rejected = cli_json(
        "reject", paused["run_id"], "--by", "bob", "--reason", "too old", cwd=tmp_path, code=1
    )
    assert rejected["status"] == "rejected"
    assert [t for t, _ in refund_rows(tmp_path)] == ["T-1001", "T-1002"]

    starved = cli_json(
        "run",
        "railgraph.graphs.refund:graph",
        "--input",
        '{"ticket_id":"T-1001"}',
        "--budget",
        "tool_calls=2",
        cwd=tmp_path,
        code=1,
    )
    assert starved["status"] == "budget_exhausted"
    assert starved["usage"]["tool_calls"] == 2

    listed = cli_json("runs", cwd=tmp_path)
    assert [r["status"] for r in listed] == [
        "budget_exhausted",
        "rejected",
        "completed",
        "completed",
    ]


def test_human_output_shows_the_review_queue() -> None:
    code, stdout, _ = run_cli(
        "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1002"}'
    )
    assert code == 0
    assert ": paused" in stdout
    code, listing, _ = run_cli("pending")
    assert "action:    create_refund (irreversible, policy conditional)" in listing
    assert 'arguments: {"amount": 480.0, "invoice_id": "INV-5002", "ticket_id": "T-1002"}' in (
        listing
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "railgraph.graphs.refund:graph", "--input", "{not json"],
            "--input is not valid JSON",
        ),
        (
            ["run", "railgraph.graphs.refund:graph", "--input", "[]"],
            "--input must be a JSON object",
        ),
        (["run", "railgraph.graphs.nope:graph"], "cannot import module 'railgraph.graphs.nope'"),
        (["run", "railgraph.graphs.refund"], "must look like module:attribute"),
        (
            [
                "run",
                "railgraph.graphs.refund:graph",
                "--input",
                '{"ticket_id": "T-1001"}',
                "--budget",
                "coins=3",
            ],
            "unknown budget dimension 'coins'",
        ),
        (["run", "railgraph.graphs.refund:graph", "--budget", "tool_calls"], "write KEY=VALUE"),
        (["approve", "nope", "--by", "alice"], "no run 'nope'"),
        (["show", "nope"], "no run 'nope'"),
        (["runs", "--status", "done"], "unknown status 'done'; use one of running, paused"),
        (
            ["runs", "--status", "queued"],
            "'queued' is how runs and show print a running run that nobody drives; it is "
            "stored running: use --status running",
        ),
    ],
)
def test_usage_errors_exit_2_with_the_fix(args: list[str], message: str) -> None:
    code, _, stderr = run_cli(*args)
    assert code == 2
    assert message in stderr


def test_second_decision_and_invalid_edit_are_refused(tmp_path: Path) -> None:
    paused = run_cli_json(
        "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1002"}'
    )
    run_id = paused["run_id"]

    code, _, stderr = run_cli("approve", run_id, "--by", "alice", "--edit", '{"amount": -5}')
    assert code == 2
    assert "the edit does not fit tool 'create_refund'" in stderr
    assert "the request is still pending" in stderr
    assert [p["run_id"] for p in run_cli_json("pending")] == [run_id]

    assert run_cli_json("approve", run_id, "--by", "alice")["status"] == "completed"
    code, _, stderr = run_cli("approve", run_id, "--by", "bob")
    assert code == 2
    assert "has no pending request; its last request was approved by alice" in stderr
    assert refund_rows(tmp_path) == [("T-1002", 480.0)]


def test_spec_prints_the_designed_graph() -> None:
    code, stdout, _ = run_cli("spec", "railgraph.graphs.refund:graph")
    assert code == 0
    spec = json.loads(stdout)
    assert spec["name"] == "refund"
    assert len(spec["signature"]) == 16
    kinds = {n["id"]: n["kind"] for n in spec["nodes"]}
    assert (kinds["verify_invoice"], kinds["budget"], kinds["approve_refund"]) == (
        "verify",
        "budget",
        "approve",
    )


def test_the_review_queue_names_the_request_and_draws_each_run(tmp_path: Path) -> None:
    paused = run_cli_json(
        "run", "railgraph.graphs.incident:graph", "--input", '{"service":"checkout"}'
    )
    assert paused["status"] == "paused"

    code, listing, _ = run_cli("pending")
    assert code == 0
    for request in paused["pending"]:
        hint = f"railgraph approve {paused['run_id']} --request {request['request_id']} --by NAME"
        assert hint in listing

    queue = run_cli_json("pending", "--diagrams", str(tmp_path / "reviews"))
    assert [q["node"] for q in queue] == ["approve_rollback", "approve_status_page"]
    drawn = tmp_path / "reviews" / f"{paused['run_id']}.svg"
    assert {q["diagram"] for q in queue} == {str(drawn)}
    assert drawn.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert queue[0]["render"] == (
        f"railgraph render railgraph.graphs.incident:graph --run {paused['run_id']} "
        f"-o {paused['run_id']}.svg"
    )


def test_expire_with_nothing_due() -> None:
    code, stdout, _ = run_cli("expire")
    assert (code, stdout.strip()) == (0, "no requests past their expiry")
    assert run_cli_json("expire") == []
