"""What the rails cost: every speed target as a ratio measured in one run.

Run it from the repository root::

    .venv/bin/python bench/rails.py            # full run, several minutes
    .venv/bin/python bench/rails.py --quick    # smoke run, rough numbers

It prints the machine and one table: each measurement, the two things compared (both
measured in this run), the ratio and the target. In-process rows (the runner's and the
saver's) run one run a side in turn, 301 times, and give the median of the pairs' ratios
with its quartiles; the others give a median of repetitions. CPU time is measured, not
wall time, since the machine may be shared. The exit code is 0 even when a target is
missed: the table is the report. (`bench/checkpointer.py` compares the savers themselves.)

Speed is not bought with safety: the same code passes the crash, concurrency and
conformance tests (`pytest -m "" tests/railgraph/test_crash_resume.py tests/checkpointers`),
and every node's writes and events are committed before the next node starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import print_table, version_of
from _rails import CPU_TARGETS, RailResult, _rail, measure_rails
from _targets import cli_ratios, pending_ratio, runs_page_ratio, saver_ratio, wal_peak_mb

from railgraph import Runner

SAFETY = (
    "Durability and safety hold for these numbers: durability='sync' (each node's writes, "
    "events and next checkpoint commit before the next node starts), and the crash, "
    "concurrency and conformance tests pass on this code."
)


def _row(name: str, compared: str, ratio: str, target: str, ok: bool | None) -> list[str]:
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    return [name, compared, ratio, target, verdict]


_NAMES = {
    "step": "step graph (sync step function)",
    "step_async": "step graph (async step function)",
    "llm": "llm graph",
    "tool_read": "tool graph, read tier",
    "tool_write": "tool graph, write tier",
}
_GRAPHS: dict[str, tuple[str, float]] = {
    graph: (name, CPU_TARGETS[graph]) for graph, name in _NAMES.items()
}
"""Each graph of the runner's rows: its name in the table and its target. The step graph is
measured twice: plain LangGraph runs a sync node's function in a worker thread (about
0.2 ms a node here) and railgraph calls a sync step on the event loop, so only the async
row compares the rails alone."""


def _rails_rows(results: list[RailResult]) -> list[list[str]]:
    rows = []
    for r in results:
        low, high = r.ratio_range
        rows.append(
            _row(
                f"Runner per node, {_GRAPHS[r.graph][0]}",
                f"{r.rail_us:,.0f} vs {r.plain_us:,.0f} µs CPU (plain LangGraph, same saver)",
                f"{r.ratio:.2f}x (IQR {low:.2f}-{high:.2f})",
                f"<= {_GRAPHS[r.graph][1]}x",
                r.ratio <= _GRAPHS[r.graph][1],
            )
        )
    for r in results:
        disk = r.rail_bytes / r.plain_bytes
        rows.append(
            _row(
                f"disk per step, {_GRAPHS[r.graph][0]}",
                f"{r.rail_bytes:,.0f} vs {r.plain_bytes:,.0f} bytes per node",
                f"{disk:.2f}x",
                "<= 1.3x",
                disk <= 1.3,
            )
        )
    return rows


async def _one_run(db: Path) -> str:
    async with Runner.open(db) as runner:
        outcome = await runner.start(_rail("step"), {"counter": 0, "text": "hello"})
    return outcome.run_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough numbers)")
    args = parser.parse_args(argv)
    quick = args.quick
    print(
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"langgraph {version_of('langgraph')}, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="railgraph-bench-") as tmp:
        work = Path(tmp)
        # One run each in turn, many times: this machine's speed drifts within a second
        # by a fifth, so runs next to each other are compared, and the median pair kept.
        results = asyncio.run(measure_rails(work, reps=15 if quick else 301, runs=1))
        rows += _rails_rows(results)
        ratio, low, high = asyncio.run(saver_ratio(work, reps=15 if quick else 301, runs=1))
        rows.append(
            _row(
                "SqliteCheckpointer per node",
                "vs InMemorySaver, same 20-node graph",
                f"{ratio:.2f}x (IQR {low:.2f}-{high:.2f})",
                "<= 1.3x",
                ratio <= 1.3,
            )
        )
        cli_db = work / "cli.db"
        run_id = asyncio.run(_one_run(cli_db))
        for name, value in cli_ratios(cli_db, run_id, reps=3 if quick else 7).items():
            rows.append(
                _row(
                    f"railgraph {name}",
                    'vs python -c "import langgraph.graph"',
                    f"{value:.2f}x",
                    "<= 0.3x",
                    value <= 0.3,
                )
            )
        paused = 1_000 if quick else 10_000
        value = pending_ratio(work, paused=paused, reps=3 if quick else 5)
        rows.append(
            _row(
                "railgraph pending",
                f"{paused:,} paused runs vs an empty store",
                f"{value:.2f}x",
                "<= 2x",
                value <= 2,
            )
        )
        many = 5_000 if quick else 50_000
        value = runs_page_ratio(work, many=many, few=1_000, reps=3 if quick else 5)
        rows.append(
            _row(
                "runs --graph G --limit 20",
                f"{many:,} runs vs 1,000",
                f"{value:.2f}x",
                "<= 1.5x",
                value <= 1.5,
            )
        )
        peak, runs = wal_peak_mb(work, seconds=10 if quick else 60)
        rows.append(
            _row(
                "WAL size, 4 writer processes + a long reader",
                f"peak over {runs:,} runs (20 nodes each)",
                f"{peak:.1f} MB",
                "<= 64 MB",
                peak <= 64,
            )
        )
    header = ["measurement", "compared", "ratio", "target", ""]
    print_table(header, rows)
    print()
    print(SAFETY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
