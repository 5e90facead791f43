"""Hostile input to the ``railgraph`` command: printed literally, refused with a message, exit 2."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from railgraph import Runner
from railgraph._cli import app
from railgraph.errors import RenderError
from railgraph.graphs import refund
from railgraph.visualize import design_diagram, write_diagram

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), input=stdin)
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done.exit_code, done.stdout, done.stderr


def run_json(*args: str, code: int = 0) -> Any:
    exit_code, stdout, stderr = run_cli(*args, "--json")
    assert exit_code == code, stderr
    return json.loads(stdout)


# -- stored text is printed literally -----------------------------------------------------


def test_markup_in_a_reason_and_a_name_prints_literally_in_every_listing() -> None:
    paused = run_json("run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1003"}')
    reason = "dup of [/r/refunds]"
    by = "[bold red]SYSTEM[/bold red]"
    run_json("reject", paused["run_id"], "--by", by, "--reason", reason, code=1)
    run_json("run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1002"}')

    code, listing, stderr = run_cli("runs")
    assert (code, stderr) == (0, "")
    assert "rejected by [bold red]SYSTEM[/bold red]: dup of [/r/" in listing
    code, shown, stderr = run_cli("show", paused["run_id"])
    assert (code, stderr) == (0, "")
    assert f"approve_refund: rejected by {by} ({reason})" in shown
    assert f"  reason: rejected by {by}: {reason}\n" in shown
    code, queue, stderr = run_cli("pending")
    assert (code, stderr) == (0, "")
    assert "action:    create_refund" in queue


def test_emoji_codes_in_a_reason_and_a_name_print_literally() -> None:
    paused = run_json("run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1003"}')
    run_json("reject", paused["run_id"], "--by", ":smile: bob", "--reason", ":warning: x", code=1)

    for command in (["runs"], ["show", paused["run_id"]]):
        code, stdout, stderr = run_cli(*command)
        assert (code, stderr) == (0, "")
        assert "rejected by :smile: bob: :warning: x" in stdout
    _, shown, _ = run_cli("show", paused["run_id"])
    assert "approve_refund: rejected by :smile: bob (:warning: x)" in shown


def test_terminal_control_characters_are_shown_escaped() -> None:
    paused = run_json("run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1003"}')
    run_json(
        "reject", paused["run_id"], "--by", "eve\x1b]0;owned\x07", "--reason", "\x1b[2Jgone", code=1
    )
    for command in (["runs"], ["show", paused["run_id"]]):
        code, stdout, _ = run_cli(*command)
        assert code == 0
        assert "\x1b" not in stdout and "\x07" not in stdout
        assert "rejected by eve\\x1b]0;owned\\x07: \\x1b[2J" in stdout
    _, shown, _ = run_cli("show", paused["run_id"])
    assert "rejected by eve\\x1b]0;owned\\x07 (\\x1b[2Jgone)" in shown


def test_run_ids_become_safe_file_names_and_quoted_hints(tmp_path: Path) -> None:
    async def start() -> None:
        async with Runner.open() as runner:
            await runner.start(refund.graph, {"ticket_id": "T-1002"}, run_id="../x")
            await runner.start(refund.graph, {"ticket_id": "T-1003"}, run_id="a b;touch pwned")

    asyncio.run(start())
    reviews = tmp_path / "reviews"
    queue = run_json("pending", "--diagrams", str(reviews))
    assert [q["run_id"] for q in queue] == ["../x", "a b;touch pwned"]
    assert not (tmp_path / "x.svg").exists()
    drawn = sorted(p.name for p in reviews.iterdir())
    assert len(drawn) == 2
    assert all(Path(q["diagram"]).parent == reviews for q in queue)
    assert queue[1]["render"].startswith(
        "railgraph render railgraph.graphs.refund:graph --run 'a b;touch"
    )
    _, listing, _ = run_cli("pending")
    assert "railgraph approve 'a b;touch pwned' --by NAME" in listing


# -- bad input is a message and exit 2, never a traceback ----------------------------------


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("rg_raises", "raise RuntimeError('boom at import')\n", "raised RuntimeError: boom at"),
        ("rg_syntax", "def broken(:\n", "has a syntax error at"),
    ],
)
def test_a_ref_whose_module_fails_is_a_message(
    tmp_path: Path, name: str, source: str, message: str
) -> None:
    (tmp_path / f"{name}.py").write_text(source)
    for command in (["run", f"{name}:graph"], ["spec", f"{name}:graph"]):
        code, _, stderr = run_cli(*command)
        assert code == 2
        assert message in stderr
        assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", '{"ticket_id": "T-1\udcff"}'], "not valid Unicode"),
        (["--input", '{"ticket_id": "\\ud800"}'], "lone surrogate"),
        (["--input", "[" * 50_000 + "]" * 50_000], "nests deeper than 64 levels"),
        (["--input", '{"a":' * 50_000 + "1" + "}" * 50_000], "nests deeper than 64 levels"),
        (["--input", '{"ticket_id": NaN}'], "NaN is not a JSON number"),
        (["--input", "@missing.json"], "cannot read --input file missing.json"),
        (["--budget", "steps=1e23"], "a limit is a finite number from 0 to 1e+12"),
        (["--budget", "cost_usd=1e400"], "a limit is a finite number from 0 to 1e+12"),
        (["--budget", "steps=3", "--budget", "steps=4"], "gives steps twice"),
    ],
)
def test_bad_run_input_is_refused_before_anything_is_stored(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, stderr = run_cli("run", "railgraph.graphs.refund:graph", *args)
    assert code == 2
    assert message in stderr
    assert not (tmp_path / ".railgraph" / "railgraph.db").exists()


def test_input_from_a_file_and_from_stdin_and_budget_lists(tmp_path: Path) -> None:
    (tmp_path / "input.json").write_text('{"ticket_id": "T-1001"}')
    assert run_json("run", "railgraph.graphs.refund:graph", "--input", "@input.json")["status"] == (
        "completed"
    )
    code, stdout, stderr = run_cli(
        "run",
        "railgraph.graphs.refund:graph",
        "--input",
        "-",
        "--json",
        stdin='{"ticket_id": "T-1002"}',
    )
    assert (code, json.loads(stdout)["status"]) == (0, "paused"), stderr
    starved = run_json(
        "run",
        "railgraph.graphs.refund:graph",
        "--input",
        '{"ticket_id": "T-1001"}',
        "--budget",
        "tool_calls=2,steps=40",
        "--budget",
        "llm_calls=5",
        code=1,
    )
    assert starved["status"] == "budget_exhausted"
    shown = run_json("show", starved["run_id"])
    limits = shown["policy"]["budget"]
    assert (limits["tool_calls"], limits["steps"], limits["llm_calls"]) == (2, 40, 5)


def test_version() -> None:
    code, stdout, _ = run_cli("--version")
    assert (code, stdout) == (0, "railgraph 0.1.0\n")


def test_render_onto_a_folder_or_into_a_missing_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.svg").mkdir()
    code, _, stderr = run_cli("render", "railgraph.graphs.refund:graph", "-o", "out.svg")
    assert code == 2
    assert "-o out.svg is a folder; name a file in it" in stderr
    code, _, stderr = run_cli("render", "railgraph.graphs.refund:graph", "-o", "typo/dir/graph.dot")
    assert code == 2
    assert "the folder typo/dir does not exist; create it first" in stderr
    assert not (tmp_path / "typo").exists()


def test_a_diagram_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "graph.dot"
    target.write_text("the previous diagram")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RenderError, match="No space left on device; check that the folder"):
        write_diagram(design_diagram(refund.graph.spec), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.dot"]
    assert target.read_text() == "the previous diagram"


@pytest.mark.slow
def test_an_unexpected_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "rg_weird.py").write_text(
        "class Weird:\n"
        "    @property\n"
        "    def spec(self):\n"
        "        raise ZeroDivisionError('inside the graph')\n"
        "import railgraph._graph as g\n"
        "graph = object.__new__(g.RailGraph)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "railgraph", "spec", "rg_weird:graph"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "error: unexpected AttributeError" in done.stderr
    assert "rerun with RAILGRAPH_DEBUG=1" in done.stderr
