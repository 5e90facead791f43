"""One benchmark run: every measurement, and the targets checked against it."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import (
    contextmanager,
)
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiosqlite
from _common import (
    ASYNC_SQLITE,
    MEMORY,
    NA,
    RAILGRAPH,
    Plan,
    Results,
)
from _graphs import (
    BIG_INPUT,
    SMALL_INPUT,
    BigState,
    Bound,
    SmallState,
    contenders,
    linear_graph,
    plain_durability,
)
from _timing import (
    bytes_on_disk,
    history,
    nodes_per_second,
    opened,
    per_node_us,
)

# -- the run ------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One run: where it ran, how, and what it measured."""

    machine: dict[str, Any]
    """Platform, Python, CPUs, SQLite and package versions, temp dir."""
    notes: list[str]
    """How the configurations were run, where that needs saying."""
    plan: Plan
    """How much work each measurement did."""
    results: Results
    """Metric -> configuration -> value (`None` where it does not apply)."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values, with the targets and their verdicts."""
        targets = [{**asdict(t), "passed": t.passed} for t in check_targets(self.results)]
        return {**asdict(self), "targets": targets}


async def measure(plan: Plan, workdir: Path) -> tuple[Results, list[str]]:
    """Take every measurement; returns metric -> configuration -> value, and notes."""
    warnings.filterwarnings("ignore", message=r"`durability` has no effect")
    plain, durability_note = await plain_durability()
    lineup = contenders()
    names = [c.name for c in lineup]
    results: Results = {}

    def put(metric: str, values: Mapping[str, float | None]) -> None:
        results[metric] = {name: values.get(name) for name in names}

    small, big = linear_graph(SmallState), linear_graph(BigState)
    with stage("(a) the 20-node graph"):
        async with opened(lineup, small, workdir / "a.db", plain) as bound:
            a = await per_node_us(bound, SMALL_INPUT, plan.runs_per_rep, plan.reps, "a")
            sqlite_note = await _sqlite_settings(bound)
        put("a_us_per_node", a)
    with stage("(b) the 20-node graph with a 100 KB field"):
        async with opened(lineup, big, workdir / "b.db", plain) as bound:
            b = await per_node_us(bound, BIG_INPUT, plan.big_runs_per_rep, plan.reps, "b")
        put("b_us_per_node", b)
        put("b_bytes", {c.name: await bytes_on_disk(c, workdir / "bytes.db") for c in lineup})
    with stage(f"(c), (d) a thread of {plan.checkpoints:,} checkpoints"):
        first, resume, listing = await history(lineup, plan, workdir / "history.db")
        put("c_first_ms", first)
        put("c_ms", resume)
        put("d_ms", listing)
    async with opened(lineup, small, workdir / "e.db", plain) as bound:
        for graph in bound.values():
            await graph.runs(SMALL_INPUT, ["e-warm"])
        for level in plan.concurrency:
            with stage(f"(e) {level} concurrent run(s)"):
                put(f"e_{level}", await nodes_per_second(bound, plan, level))
    return results, [durability_note, sqlite_note]


async def _sqlite_settings(bound: Mapping[str, Bound]) -> str:
    """Each SQLite saver's journal mode and `synchronous` setting, as it runs them."""
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    parts = []
    for name, graph in bound.items():
        conn = getattr(graph.graph.checkpointer, "conn", None)
        if isinstance(conn, aiosqlite.Connection):
            journal = await conn.execute_fetchall("PRAGMA journal_mode")
            synchronous = await conn.execute_fetchall("PRAGMA synchronous")
            level = levels.get(next(iter(synchronous))[0], "?")
            parts.append(f"{name} journal_mode={next(iter(journal))[0]} synchronous={level}")
    return "SQLite as each saver sets it: " + "; ".join(parts)


@contextmanager
def stage(what: str) -> Iterator[None]:
    """Say on stderr what is being measured and how long it took (stdout is the report)."""
    print(f"measuring {what} ...", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        yield
    finally:
        print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Target:
    """One target for SqliteCheckpointer and what this run measured."""

    name: str
    """What is required, in words."""
    value: float | None
    """The measured ratio (`unit` "x") or time (`unit` "ms"); `None` if not measured."""
    at_most: bool
    """Whether `value` must be at most `limit` (else at least)."""
    limit: float
    """The bound."""
    unit: str
    """"x" for a ratio, "ms" for a time."""

    @property
    def passed(self) -> bool:
        """Whether the measured value meets the bound."""
        if self.value is None:
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def line(self) -> str:
        """The target as one report line."""
        sign = "<=" if self.at_most else ">="
        value = NA if self.value is None else _with_unit(self.value, self.unit)
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"- {verdict} {self.name}: {value} (needs {sign} {_with_unit(self.limit, self.unit)})"
        )


def _with_unit(value: float, unit: str) -> str:
    return f"{value:,.2f}x" if unit == "x" else f"{value:,.2f} {unit}"


def check_targets(results: Results) -> list[Target]:
    """The targets for SqliteCheckpointer, from this run's results."""
    a, b, c, d = (results[k] for k in ("a_us_per_node", "b_bytes", "c_ms", "d_ms"))
    return [
        Target(
            "(a) time per node vs InMemorySaver", _ratio(a[RAILGRAPH], a[MEMORY]), True, 1.3, "x"
        ),
        Target(
            "(a) AsyncSqliteSaver time per node / this",
            _ratio(a[ASYNC_SQLITE], a[RAILGRAPH]),
            False,
            2.0,
            "x",
        ),
        Target(
            "(b) AsyncSqliteSaver bytes on disk / this",
            _ratio(b[ASYNC_SQLITE], b[RAILGRAPH]),
            False,
            10.0,
            "x",
        ),
        Target("(c) resume: aget_tuple of the latest checkpoint", c[RAILGRAPH], True, 5.0, "ms"),
        Target(
            "(d) AsyncSqliteSaver list time / this",
            _ratio(d[ASYNC_SQLITE], d[RAILGRAPH]),
            False,
            10.0,
            "x",
        ),
    ]


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or bottom is None or bottom == 0 else top / bottom
