"""Retention: `prune` deletes old runs with every row stored for them, and only those."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph._cli import app
from railgraph.nodes import ToolRegistry

TABLES = (
    "runs",
    "run_events",
    "approvals",
    "tool_effects",
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "checkpoint_values",
    "graph_specs",
)


class Order(BaseModel):
    sku: str


class Receipt(BaseModel):
    order_id: int


class State(BaseModel):
    sku: str = "A-1"
    big: str = ""
    receipt: Receipt | None = None
    gate: bool = False


def graph() -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def place(args: Order) -> Receipt:
        return Receipt(order_id=1)

    g = GraphBuilder("restock", State, tools=tools)
    g.route("gated", lambda s: "check" if s.gate else "place", targets=["check", "place"])
    g.approve("check", action="place", approved="place", rejected=END)
    g.tool("place", args=lambda s: {"sku": s.sku}, output="receipt")
    g.edge(START, "gated").edge("place", END)
    return g.build()


def counts(db: Path, run_id: str | None = None) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        found = {}
        params: tuple[str, ...]
        for table in TABLES:
            column = "thread_id" if table.startswith("checkpoint") else "run_id"
            if run_id is None or table in ("checkpoint_values", "graph_specs"):
                sql, params = f"SELECT COUNT(*) FROM {table}", ()
            else:
                sql, params = f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (run_id,)
            found[table] = conn.execute(sql, params).fetchone()[0]
    conn.close()
    return found


async def test_prune_deletes_old_ended_runs_and_everything_theirs(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    now = [1_000.0]
    rail = graph()
    async with Runner.open(db, clock=lambda: now[0]) as runner:
        old = await runner.start(rail, {"big": "x" * 20_000}, run_id="old")
        paused = await runner.start(rail, {"gate": True}, run_id="paused")
        now[0] = 100_000.0
        new = await runner.start(rail, {}, run_id="new")
    assert (old.status, paused.status, new.status) == ("completed", "paused", "completed")
    before = counts(db)
    of_old = counts(db, "old")

    async with Runner.open(db) as runner:
        dry = await runner.store.prune(older_than=50_000.0, dry_run=True)
        unchanged = counts(db)
        report = await runner.store.prune(older_than=50_000.0)
    after = counts(db)

    assert before == {
        "runs": 3,
        "run_events": 17,
        "approvals": 1,
        "tool_effects": 2,
        "checkpoints": 12,
        "checkpoint_blobs": 34,
        "checkpoint_writes": 28,
        "checkpoint_values": 2,
        "graph_specs": 1,
    }
    # (values and specs: in the whole database)
    assert of_old == {
        "runs": 1,
        "run_events": 6,
        "approvals": 0,
        "tool_effects": 1,
        "checkpoints": 4,
        "checkpoint_blobs": 11,
        "checkpoint_writes": 9,
        "checkpoint_values": 2,
        "graph_specs": 1,
    }
    assert (dry.dry_run, dry.run_ids, unchanged) == (True, ["old"], before)
    assert report.run_ids == ["old"]
    # The large values only "old" held (its input, and the field holding it) go; the spec
    # stays, other runs were started on it.
    assert report.rows == {
        **{t: n for t, n in of_old.items() if t not in ("checkpoint_values", "graph_specs")},
        "checkpoint_values": 2,
        "graph_specs": 0,
    }
    assert after == {t: before[t] - report.rows[t] for t in TABLES}
    assert report.bytes_after < report.bytes_before


def test_prune_command_keeps_paused_runs_unless_named(tmp_path: Path) -> None:
    import asyncio

    db = tmp_path / "rg.db"
    rail = graph()

    async def seed() -> None:
        async with Runner.open(db, clock=lambda: 1_000.0) as runner:
            await runner.start(rail, {}, run_id="done")
            await runner.start(rail, {"gate": True}, run_id="waiting")

    asyncio.run(seed())
    cli = CliRunner()

    dry = cli.invoke(app, ["prune", "--older-than", "1d", "--db", str(db), "--dry-run"])
    kept = cli.invoke(app, ["prune", "--older-than", "1d", "--db", str(db)])
    left = counts(db)["runs"]
    named = cli.invoke(
        app, ["prune", "--older-than", "1d", "--status", "paused", "--db", str(db), "--json"]
    )
    bad = cli.invoke(app, ["prune", "--older-than", "soon", "--db", str(db)])

    assert dry.exit_code == kept.exit_code == named.exit_code == 0
    assert dry.stdout.splitlines()[0] == (
        "would delete 1 runs (kept: paused, running runs; name them with --status)"
    )
    assert kept.stdout.splitlines()[0] == (
        "deleted 1 runs (kept: paused, running runs; name them with --status)"
    )
    assert left == 1
    assert '"runs": [\n    "waiting"\n  ]' in named.stdout
    assert counts(db)["runs"] == 0
    assert bad.exit_code == 2
    assert "--older-than 'soon' is not a duration" in bad.stderr
