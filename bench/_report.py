"""The machine and the table the benchmark prints."""

from __future__ import annotations

import os
import platform
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import (
    ASYNC_SQLITE,
    BYTES_RUNS,
    MEMORY,
    NA,
    PACKAGES,
    PLAIN,
    RAILGRAPH,
    Plan,
    Results,
    version_of,
)
from _run import (
    Report,
    _ratio,
    check_targets,
)

# -- the report ---------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the benchmark ran."""
    return {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: version_of(name) for name in PACKAGES},
        "temp_dir": f"{tempfile.gettempdir()} on {_filesystem(Path(tempfile.gettempdir()))}",
        "load_average_start": _load(),
    }


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def _filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (fsync cost depends on it), from /proc/mounts."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "an unknown filesystem"
    resolved, best, kind = path.resolve(), "", "an unknown filesystem"
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3 and resolved.is_relative_to(fields[1]) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return kind


def table(results: Results, plan: Plan) -> list[str]:
    """The results as one table, aligned as plain text and valid as Markdown."""
    names = [PLAIN, MEMORY, ASYNC_SQLITE, RAILGRAPH]
    a, d = results["a_us_per_node"], results["d_ms"]
    many = f"{plan.checkpoints:,} checkpoints"
    rows: list[tuple[str, Mapping[str, float | None], str]] = [
        ("(a) µs per node, 20-node graph", a, "{:,.1f}"),
        ("(a) ratio to InMemorySaver", {n: _ratio(a[n], a[MEMORY]) for n in names}, "{:.2f}x"),
        ("(b) µs per node, + 100 KB field", results["b_us_per_node"], "{:,.1f}"),
        (f"(b) bytes on disk after {BYTES_RUNS} runs", results["b_bytes"], "{:,.0f}"),
        (f"(c) ms aget_tuple, thread of {many}", results["c_ms"], "{:,.3f}"),
        ("(c) ms first aget_tuple after reopen", results["c_first_ms"], "{:,.3f}"),
        (f"(d) ms alist of {many}", d, "{:,.1f}"),
        (
            "(d) AsyncSqliteSaver / this",
            {n: _ratio(d[ASYNC_SQLITE], d[n]) for n in names},
            "{:.2f}x",
        ),
    ]
    for level in plan.concurrency:
        label = f"(e) nodes/s, {level} concurrent run{'s' if level > 1 else ''}"
        rows.append((label, results[f"e_{level}"], "{:,.0f}"))
    cells = [
        ["measurement", *names],
        *(
            [label, *(NA if values[n] is None else spec.format(values[n]) for n in names)]
            for label, values, spec in rows
        ),
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(names) + 1)]

    def line(row: Sequence[str]) -> str:
        label, *values = row
        padded = (v.rjust(w) for v, w in zip(values, widths[1:], strict=True))
        return "| " + " | ".join([label.ljust(widths[0]), *padded]) + " |"

    rule = "|:" + "-" * (widths[0] + 1) + "|" + "|".join("-" * (w + 1) + ":" for w in widths[1:])
    return [line(cells[0]), rule + "|", *map(line, cells[1:])]


def render(report: Report, *, quick: bool) -> str:
    """The whole printed report: the machine, the table, the targets."""
    info, plan = report.machine, report.plan
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    return "\n".join(
        [
            f"# railgraph checkpointer benchmark{' (--quick: rough numbers)' if quick else ''}",
            "",
            f"- machine: {info['platform']}, {info['python']}, {info['cpus']} CPUs; "
            f"load average {info['load_average_start']} at the start, "
            f"{info['load_average_end']} at the end",
            f"- packages: {packages}; SQLite {info['sqlite']}",
            f"- databases in {info['temp_dir']}; (b) bytes = database file + its -wal, "
            "stat'ed after closing the saver (which checkpoints the WAL)",
            *(f"- {note}" for note in report.notes),
            f"- medians of {plan.reps} repetitions ((e): {plan.concurrent_reps}) after a "
            f"warm-up; (c), (d): {plan.reopen_cycles} reopenings of each saver",
            "",
            *table(report.results, plan),
            "",
            "## targets (SqliteCheckpointer, this run)",
            "",
            *(target.line() for target in check_targets(report.results)),
        ]
    )
