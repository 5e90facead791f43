"""``railgraph render`` in process: every mode in every format writes its file; misuse exits 2."""

from __future__ import annotations

import asyncio
import html
import importlib.util
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from railgraph._cli import app
from railgraph.checkpointers import SqliteCheckpointer
from railgraph.graphs._helpdesk import HELPDESK_ENV
from railgraph.visualize import FORMATS

REFUND = "railgraph.graphs.refund:graph"
PLAIN_MODULE = """
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    n: int


def bump(state: State) -> State:
    return {"n": state["n"] + 1}


def more(state: State) -> str:
    return "again" if state["n"] < 2 else "done"


builder = StateGraph(State)
builder.add_node("bump", bump)
builder.add_node("report", lambda state: {})
builder.add_edge(START, "bump")
builder.add_conditional_edges("bump", more, {"again": "bump", "done": "report"})
builder.add_edge("report", END)
graph = builder.compile()
"""


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), env=env)
    return done.exit_code, done.stdout, done.stderr


def start(ticket: str, db: Path, env: dict[str, str]) -> str:
    ticket_input = json.dumps({"ticket_id": ticket})
    code, stdout, stderr = cli(
        "run", REFUND, "--input", ticket_input, "--db", str(db), "--json", env=env
    )
    assert code == 0, stderr
    run_id: str = json.loads(stdout)["run_id"]
    return run_id


@dataclass(frozen=True)
class Stored:
    db: Path
    """A database with one run of each refund lane."""
    paused: str
    """The run of T-1002, paused at approve_refund."""
    spec: Path
    """The research graph's spec, saved by `railgraph spec`."""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """Runs made once, through the CLI, for the module's tests to draw."""
    where = tmp_path_factory.mktemp("render")
    env = {HELPDESK_ENV: str(where / "helpdesk.db")}
    db = where / "runs.db"
    paused = start("T-1002", db, env)
    for ticket in ("T-1001", "T-1003", "T-1004"):
        start(ticket, db, env)
    code, spec_json, stderr = cli("spec", "railgraph.graphs.research:graph")
    assert code == 0, stderr
    (where / "research.json").write_text(spec_json)
    return Stored(db=db, paused=paused, spec=where / "research.json")


MODES: dict[str, Callable[[Stored], list[str]]] = {
    "design": lambda s: [],
    "run": lambda s: ["--run", s.paused],
    "runs": lambda s: ["--runs", "4"],
    "diff": lambda s: ["--diff", str(s.spec)],
}
HEADS = {
    "dot": b"digraph refund {",
    "mmd": '---\ntitle: "refund — '.encode(),
    "svg": b"<?xml",
    "png": b"\x89PNG\r\n\x1a\n",
    "html": b"<!DOCTYPE html>",
}
TITLES = {
    "design": "refund — designed graph",
    "run": "refund — run {paused}: paused",
    "runs": "refund — traffic of the last 4 runs",
    "diff": "refund — {spec} → railgraph.graphs.refund:graph",
}


@pytest.mark.parametrize("ext", list(HEADS))
@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_in_every_format(stored: Stored, tmp_path: Path, mode: str, ext: str) -> None:
    target = tmp_path / f"{mode}.{ext}"

    code, stdout, stderr = cli(
        "render", REFUND, *MODES[mode](stored), "--db", str(stored.db), "-o", str(target)
    )

    assert code == 0, stderr
    assert stdout == f"wrote {target} ({FORMATS[ext]})\n"
    data = target.read_bytes()
    assert data.startswith(HEADS[ext])
    if ext != "png":
        title = TITLES[mode].format(paused=stored.paused, spec=stored.spec)
        assert title in html.unescape(data.decode())  # SVG writes "-" as "&#45;"


def test_the_svg_of_a_run_marks_the_paused_node(stored: Stored, tmp_path: Path) -> None:
    target = tmp_path / "run.svg"

    code, _, stderr = cli(
        "render", REFUND, "--run", stored.paused, "--db", str(stored.db), "-o", str(target)
    )

    assert code == 0, stderr
    root = ET.fromstring(target.read_text())
    marked = {g.get("id"): g.get("class") for g in root.iter() if "rg-stop-" in g.get("class", "")}
    assert marked == {"node-approve_refund": "node rg-node rg-kind-approve rg-taken rg-stop-paused"}


def test_traffic_counts_the_runs(stored: Stored, tmp_path: Path) -> None:
    target = tmp_path / "traffic.mmd"

    code, _, stderr = cli(
        "render", REFUND, "--runs", "4", "--db", str(stored.db), "-o", str(target)
    )

    assert code == 0, stderr
    text = target.read_text()
    assert "    %% 1 completed · 3 paused\n" in text
    assert "    %% escalated: 3 of 4 runs (75%)\n" in text


def test_diff_against_the_same_ref_shows_no_change(tmp_path: Path) -> None:
    target = tmp_path / "same.dot"

    code, _, stderr = cli("render", REFUND, "--diff", REFUND, "-o", str(target))

    assert code == 0, stderr
    assert "no structural change" in target.read_text()


def test_a_plain_langgraph_threads_path(tmp_path: Path) -> None:
    (tmp_path / "plain_flow.py").write_text(PLAIN_MODULE)
    db = tmp_path / "plain.db"
    found = importlib.util.spec_from_file_location("plain_setup", tmp_path / "plain_flow.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)

    async def run_thread() -> None:
        async with SqliteCheckpointer.from_path(db) as saver:
            graph = module.builder.compile(checkpointer=saver)
            config: Any = {"configurable": {"thread_id": "thread-7"}}
            await graph.ainvoke({"n": 0}, config, durability="sync")

    asyncio.run(run_thread())
    target = tmp_path / "plain.dot"

    code, _, stderr = cli(
        "render", "plain_flow:graph", "--run", "thread-7", "--db", str(db), "-o", str(target)
    )

    assert code == 0, stderr
    text = target.read_text()
    assert "graph — run thread-7: completed" in text
    assert "<b>2 visits</b>" in text  # bump looped once
    traffic = tmp_path / "t.dot"
    code, _, stderr = cli(
        "render", "plain_flow:graph", "--runs", "5", "--db", str(db), "-o", str(traffic)
    )
    assert code == 2
    assert "plain LangGraph graph" in stderr and "--run THREAD_ID" in stderr


def test_a_bad_extension_exits_2_with_the_formats(tmp_path: Path) -> None:
    code, _, stderr = cli("render", REFUND, "-o", str(tmp_path / "refund.jpeg"))

    assert code == 2
    assert "end the file name with one of .dot, .mmd, .svg, .png, .html" in stderr
    assert not (tmp_path / "refund.jpeg").exists()


def test_two_modes_at_once_exit_2(tmp_path: Path) -> None:
    code, _, stderr = cli(
        "render", REFUND, "--run", "x", "--runs", "3", "-o", str(tmp_path / "a.dot")
    )

    assert code == 2
    assert "--run and --runs draw different pictures; pass one of them" in stderr


def test_unknown_run_bad_counts_and_missing_database_exit_2(stored: Stored, tmp_path: Path) -> None:
    out = str(tmp_path / "r.svg")
    missing = tmp_path / "missing.db"

    code, _, stderr = cli("render", REFUND, "--run", "nope", "--db", str(missing), "-o", out)
    assert code == 2
    assert f"no database at {missing}; pass --db PATH" in stderr

    code, _, stderr = cli("render", REFUND, "--run", "nope", "--db", str(stored.db), "-o", out)
    assert code == 2
    assert "no run 'nope' in this database" in stderr

    code, _, stderr = cli("render", REFUND, "--runs", "0", "--db", str(stored.db), "-o", out)
    assert code == 2
    assert "--runs must be at least 1, got 0" in stderr

    code, _, stderr = cli("render", "railgraph.graphs.refund:nothing", "-o", out)
    assert code == 2
    assert "module 'railgraph.graphs.refund' has no attribute 'nothing'" in stderr


def test_without_graphviz_images_fail_clearly_and_text_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    code, _, stderr = cli("render", REFUND, "-o", str(tmp_path / "refund.png"))
    assert code == 2
    assert "`dot` program is not on PATH" in stderr
    assert "./scripts/setup" in stderr and "apt-get install graphviz" in stderr

    code, _, stderr = cli("render", REFUND, "-o", str(tmp_path / "refund.dot"))
    assert code == 0, stderr
    assert (tmp_path / "refund.dot").read_text().startswith("digraph refund {")
