"""Constants, types and plans the benchmark modules share."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from contextlib import (
    AbstractAsyncContextManager,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

NODES: Final = 20
"""Nodes in the linear graph of measurements (a), (b) and (e)."""
PAYLOAD_BYTES: Final = 100_000
"""The size of (b)'s extra string field, which no node changes.

Its text is seeded random letters and digits, which compress about as well as
prose does, so a saver that compressed values would not look better than it is.
"""
BYTES_RUNS: Final = 10
"""Runs (one thread each) of (b)'s graph before its database is measured."""
PACKAGES: Final = ("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "aiosqlite")

PLAIN, MEMORY, ASYNC_SQLITE, RAILGRAPH = (
    "plain LangGraph",
    "InMemorySaver",
    "AsyncSqliteSaver",
    "SqliteCheckpointer",
)
NA: Final = "n/a"

Saver = BaseCheckpointSaver[Any]
Graph = CompiledStateGraph[Any, Any, Any, Any]
Opener = Callable[[Path], AbstractAsyncContextManager[Saver | None]]
Results = dict[str, dict[str, float | None]]


class BenchError(Exception):
    """The benchmark could not measure what it set out to (a setup went wrong)."""


@dataclass(frozen=True)
class Plan:
    """How much work each measurement does; `--quick` shrinks it."""

    reps: int
    """Timed repetitions per measurement and configuration; the median is reported."""
    runs_per_rep: int
    """Sequential runs of the 20-node graph in one repetition of (a)."""
    big_runs_per_rep: int
    """Sequential runs of the 100 KB graph in one repetition of (b)."""
    checkpoints: int
    """Checkpoints on the thread that (c) resumes and (d) lists."""
    reopen_cycles: int
    """Times (c) and (d) reopen each saver before measuring."""
    resume_calls: int
    """Timed `aget_tuple` calls per reopen cycle."""
    list_calls: int
    """Timed full `alist` listings per reopen cycle."""
    concurrency: tuple[int, ...]
    """Concurrent runs in (e)."""
    concurrent_reps: int
    """Timed repetitions per concurrency level in (e)."""
    nodes_per_concurrent_rep: int
    """At least this many nodes run in one repetition of (e) (whole rounds of runs)."""


FULL = Plan(
    reps=9,
    runs_per_rep=10,
    big_runs_per_rep=4,
    checkpoints=1_000,
    reopen_cycles=5,
    resume_calls=20,
    list_calls=2,
    concurrency=(1, 10, 50),
    concurrent_reps=5,
    nodes_per_concurrent_rep=400,
)
QUICK = Plan(
    reps=3,
    runs_per_rep=3,
    big_runs_per_rep=1,
    checkpoints=200,
    reopen_cycles=2,
    resume_calls=5,
    list_calls=1,
    concurrency=(1, 10),
    concurrent_reps=1,
    nodes_per_concurrent_rep=20,
)


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print rows as a Markdown table, each column as wide as its widest cell."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
