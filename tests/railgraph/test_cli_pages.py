"""`pending` and `runs` read one page at the database: --limit, --all."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from railgraph._cli import app
from railgraph.checkpointers import ApprovalRecord, RunRecord, SqliteCheckpointer


def seed(db: Path, n: int) -> None:
    async def go() -> None:
        async with SqliteCheckpointer.from_path(db) as saver:
            for i in range(n):
                await saver.store.create_run(
                    RunRecord(
                        run_id=f"r{i}",
                        graph="railgraph.graphs.refund:graph",
                        graph_name="refund",
                        signature="s",
                        status="paused",
                        input={},
                        budget={},
                        usage={},
                        created_at=float(i),
                        updated_at=float(i),
                    )
                )
                await saver.store.add_approval(
                    ApprovalRecord(
                        request_id=f"q{i}",
                        run_id=f"r{i}",
                        graph="railgraph.graphs.refund:graph",
                        node="approve",
                        status="pending",
                        request={"graph": "refund", "action": {"tool": "refund", "args": {}}},
                        created_at=float(i),
                    )
                )

    asyncio.run(go())


def test_pending_and_runs_page_with_limit_and_all(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    seed(db, 3)
    cli = CliRunner()

    page = cli.invoke(app, ["pending", "--db", str(db), "--limit", "2"])
    every = cli.invoke(app, ["pending", "--db", str(db), "--all"])
    runs = cli.invoke(app, ["runs", "--db", str(db), "--limit", "2"])
    all_runs = cli.invoke(app, ["runs", "--db", str(db), "--all", "--graph", "refund"])

    assert (page.exit_code, every.exit_code, runs.exit_code) == (0, 0, 0)
    assert ("q0" in page.stdout, "q1" in page.stdout, "q2" in page.stdout) == (True, True, False)
    assert page.stdout.rstrip().endswith(
        "more requests wait than these 2: pass --limit N or --all to see them"
    )
    assert all(f"q{i}" in every.stdout for i in range(3))
    assert "more requests wait" not in every.stdout
    assert ("r2" in runs.stdout, "r1" in runs.stdout, "r0" in runs.stdout) == (True, True, False)
    assert all(f"r{i}" in all_runs.stdout for i in range(3))
