"""Benchmark railgraph's `SqliteCheckpointer` against LangGraph's own savers.

Run it from the repository root::

    .venv/bin/python bench/checkpointer.py                  # full run, one to two minutes
    .venv/bin/python bench/checkpointer.py --quick          # smoke run, about ten seconds
    .venv/bin/python bench/checkpointer.py --json out.json  # also write the numbers

It prints the machine, one table comparing four configurations on the same graphs
and inputs, and the targets `SqliteCheckpointer` is held to, each PASS or FAIL.
The table is the report: the exit code is 0 even when a target is missed, unless
`--strict` is given. Everything runs locally, on files in a temporary directory.

Timings are medians of repetitions taken after a warm-up, with the configurations
interleaved (in a rotating order) so that drift in the machine hits all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import string
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TypedDict

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability

from checkpointers import SqliteCheckpointer

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


# -- graphs -------------------------------------------------------------------


class SmallState(TypedDict):
    """The state of (a), (c), (d) and (e): a counter and a short string."""

    counter: int
    text: str


class BigState(SmallState):
    """(b)'s state: the same, plus a 100 KB string that never changes after the input."""

    payload: str


SMALL_INPUT: Final[SmallState] = {"counter": 0, "text": "hello"}
BIG_INPUT: Final[BigState] = {
    "counter": 0,
    "text": "hello",
    "payload": "".join(
        random.Random(0).choices(string.ascii_letters + string.digits, k=PAYLOAD_BYTES)
    ),
}


async def step(state: SmallState) -> dict[str, Any]:
    """Every node: count one step."""
    return {"counter": state["counter"] + 1}


def linear_graph(state: type[SmallState]) -> StateGraph[Any]:
    """`NODES` nodes in a line, START to END."""
    builder: StateGraph[Any] = StateGraph(state)
    previous = START
    for index in range(NODES):
        name = f"node_{index:02}"
        builder.add_node(name, step)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


def loop_graph(ticks: int) -> StateGraph[Any]:
    """One node that runs `ticks` times; with a saver it leaves `ticks + 2` checkpoints."""

    def again(state: SmallState) -> str:
        return "tick" if state["counter"] < ticks else END

    builder: StateGraph[Any] = StateGraph(SmallState)
    builder.add_node("tick", step)
    builder.add_edge(START, "tick")
    builder.add_conditional_edges("tick", again, ["tick", END])
    return builder


def thread(thread_id: str, *, recursion_limit: int | None = None) -> RunnableConfig:
    """The config of one thread, with a step limit if given."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    if recursion_limit is not None:
        config["recursion_limit"] = recursion_limit
    return config


@dataclass(frozen=True)
class Bound:
    """A compiled graph and how it is invoked."""

    graph: Graph
    durability: Durability | None

    async def run(self, inputs: Mapping[str, Any], thread_id: str) -> None:
        """Invoke once on a thread."""
        await self.graph.ainvoke(dict(inputs), thread(thread_id), durability=self.durability)

    async def runs(self, inputs: Mapping[str, Any], thread_ids: Sequence[str]) -> None:
        """Invoke once per thread, one after another."""
        for thread_id in thread_ids:
            await self.run(inputs, thread_id)

    async def together(self, inputs: Mapping[str, Any], thread_ids: Sequence[str]) -> None:
        """Invoke once per thread, all at once."""
        await asyncio.gather(*(self.run(inputs, thread_id) for thread_id in thread_ids))


# -- the four configurations --------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One configuration: how to open (and reopen) its saver on a file."""

    name: str
    open: Opener
    on_disk: bool


@asynccontextmanager
async def _no_saver(path: Path) -> AsyncIterator[Saver | None]:
    yield None


def _in_memory() -> Opener:
    savers: dict[Path, InMemorySaver] = {}

    @asynccontextmanager
    async def open_memory(path: Path) -> AsyncIterator[Saver | None]:
        # Memory cannot be closed and reopened: "reopening" a path gives back its saver.
        yield savers.setdefault(path, InMemorySaver())

    return open_memory


@asynccontextmanager
async def _async_sqlite(path: Path) -> AsyncIterator[Saver | None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        # Create the schema on open, as SqliteCheckpointer.from_path does, so that
        # neither saver's first timed call pays for it.
        await saver.setup()
        yield saver


@asynccontextmanager
async def _railgraph(path: Path) -> AsyncIterator[Saver | None]:
    async with SqliteCheckpointer.from_path(path) as saver:
        yield saver


def contenders() -> list[Contender]:
    """The four configurations, in table order."""
    return [
        Contender(PLAIN, _no_saver, on_disk=False),
        Contender(MEMORY, _in_memory(), on_disk=False),
        Contender(ASYNC_SQLITE, _async_sqlite, on_disk=True),
        Contender(RAILGRAPH, _railgraph, on_disk=True),
    ]


async def plain_durability() -> tuple[Durability | None, str]:
    """Whether plain LangGraph accepts `durability="sync"`, and a note saying how it is run."""
    graph = linear_graph(SmallState).compile()
    try:
        await graph.ainvoke(dict(SMALL_INPUT), thread("probe"), durability="sync")
    except AttributeError as exc:
        return None, (
            f'plain LangGraph is invoked without `durability`: with durability="sync" and no '
            f"checkpointer, langgraph {_version('langgraph')} fails ({exc})"
        )
    return "sync", 'plain LangGraph is invoked with durability="sync" too (a no-op without a saver)'


# -- timing -------------------------------------------------------------------


async def elapsed(action: Callable[[], Awaitable[object]]) -> float:
    """Seconds that `action` takes, after collecting garbage left by earlier work."""
    gc.collect()
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


def rotated(names: Sequence[str], by: int) -> list[str]:
    """`names` starting at position `by`, so no configuration always runs first."""
    shift = by % len(names)
    return [*names[shift:], *names[:shift]]


async def interleaved(
    bound: Mapping[str, Bound], reps: int, measure: Callable[[Bound, int], Awaitable[float]]
) -> dict[str, float]:
    """The median of `measure(graph, rep)` per configuration, configurations interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in bound}
    for rep in range(reps):
        for name in rotated(list(bound), rep):
            samples[name].append(await measure(bound[name], rep))
    return {name: statistics.median(values) for name, values in samples.items()}


@asynccontextmanager
async def opened(
    lineup: Sequence[Contender], builder: StateGraph[Any], file: Path, plain: Durability | None
) -> AsyncIterator[dict[str, Bound]]:
    """Every configuration's saver open on its own copy of `file`, with `builder` compiled."""
    async with AsyncExitStack() as stack:
        bound: dict[str, Bound] = {}
        for contender in lineup:
            saver = await stack.enter_async_context(contender.open(_own(file, contender)))
            durability: Durability | None = plain if saver is None else "sync"
            bound[contender.name] = Bound(builder.compile(checkpointer=saver), durability)
        yield bound


def _own(file: Path, contender: Contender) -> Path:
    """A configuration's own database file for `file`'s purpose."""
    return file.parent / contender.name.replace(" ", "_") / file.name


async def per_node_us(
    bound: Mapping[str, Bound], inputs: Mapping[str, Any], runs: int, reps: int, tag: str
) -> dict[str, float]:
    """(a), (b): µs per node over `runs` sequential runs, each on a new thread."""
    for graph in bound.values():
        await graph.runs(inputs, [f"{tag}-warm-{i}" for i in range(2)])

    async def measure(graph: Bound, rep: int) -> float:
        threads = [f"{tag}-{rep}-{i}" for i in range(runs)]
        return await elapsed(lambda: graph.runs(inputs, threads)) / (runs * NODES) * 1e6

    return await interleaved(bound, reps, measure)


async def nodes_per_second(bound: Mapping[str, Bound], plan: Plan, level: int) -> dict[str, float]:
    """(e): nodes per second with `level` concurrent runs on distinct threads."""
    rounds = max(1, math.ceil(plan.nodes_per_concurrent_rep / (level * NODES)))

    async def measure(graph: Bound, rep: int) -> float:
        async def work() -> None:
            for done in range(rounds):
                threads = [f"e{level}-{rep}-{done}-{i}" for i in range(level)]
                await graph.together(SMALL_INPUT, threads)

        return rounds * level * NODES / await elapsed(work)

    return await interleaved(bound, plan.concurrent_reps, measure)


async def bytes_on_disk(contender: Contender, file: Path) -> int | None:
    """(b): bytes of the database file and its -wal after `BYTES_RUNS` runs of the big graph.

    The saver is closed first; closing SQLite's last connection checkpoints the WAL
    into the database file. The sizes of both files are summed either way.
    """
    if not contender.on_disk:
        return None
    path = _own(file, contender)
    async with contender.open(path) as saver:
        graph = Bound(linear_graph(BigState).compile(checkpointer=saver), "sync")
        await graph.runs(BIG_INPUT, [f"bytes-{i}" for i in range(BYTES_RUNS)])
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


async def history(
    lineup: Sequence[Contender], plan: Plan, file: Path
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(c), (d): resume and list a thread of `plan.checkpoints` checkpoints.

    Returns:
        Median ms of the first `aget_tuple` after reopening the saver, of later
        `aget_tuple` calls, and of consuming `alist` fully, per saver.
    """
    savers = {c.name: c for c in lineup if c.name != PLAIN}
    for contender in savers.values():
        async with contender.open(_own(file, contender)) as saver:
            graph = loop_graph(plan.checkpoints - 2).compile(checkpointer=saver)
            config = thread("history", recursion_limit=plan.checkpoints + 10)
            await graph.ainvoke(dict(SMALL_INPUT), config, durability="sync")
    first: dict[str, list[float]] = {name: [] for name in savers}
    resume: dict[str, list[float]] = {name: [] for name in savers}
    listing: dict[str, list[float]] = {name: [] for name in savers}
    for cycle in range(plan.reopen_cycles):
        for name in rotated(list(savers), cycle):
            async with savers[name].open(_own(file, savers[name])) as saver:
                cold, warm, lists = await _reopened(_present(saver), plan)
            first[name].append(cold)
            resume[name].extend(warm)
            listing[name].extend(lists)
    return _ms(first), _ms(resume), _ms(listing)


async def _reopened(saver: Saver, plan: Plan) -> tuple[float, list[float], list[float]]:
    """Seconds of the first `aget_tuple`, of later ones, and of full `alist` listings."""
    first = await _timed_get(saver)
    await _timed_get(saver)
    resume = [await _timed_get(saver) for _ in range(plan.resume_calls)]
    if (count := await _consume(saver)) != plan.checkpoints:
        raise BenchError(
            f"{type(saver).__name__} lists {count} checkpoints on the history thread, "
            f"not {plan.checkpoints}; the loop graph no longer leaves ticks + 2 checkpoints."
        )
    listing = []
    for _ in range(plan.list_calls):
        gc.collect()
        start = time.perf_counter()
        await _consume(saver)
        listing.append(time.perf_counter() - start)
    return first, resume, listing


def _present(saver: Saver | None) -> Saver:
    if saver is None:
        raise BenchError("this configuration has no saver to measure")
    return saver


async def _timed_get(saver: Saver) -> float:
    # No garbage collection per call: a few dozen small reads leave little garbage.
    start = time.perf_counter()
    found = await saver.aget_tuple(thread("history"))
    took = time.perf_counter() - start
    if found is None:
        raise BenchError(f"{type(saver).__name__} found no checkpoint on the history thread")
    return took


async def _consume(saver: Saver) -> int:
    return len([item async for item in saver.alist(thread("history"))])


def _ms(samples: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


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


# -- the report ---------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the benchmark ran."""
    return {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in PACKAGES},
        "temp_dir": f"{tempfile.gettempdir()} on {_filesystem(Path(tempfile.gettempdir()))}",
        "load_average_start": _load(),
    }


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the report; the exit code is 1 only under `--strict` misses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough numbers)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    where = machine()
    with tempfile.TemporaryDirectory(prefix="railgraph-bench-") as tmp:
        results, notes = asyncio.run(measure(plan, Path(tmp)))
    where["load_average_end"] = _load()
    report = Report(where, notes, plan, results)
    print(render(report, quick=args.quick))
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    missed = [t for t in check_targets(results) if not t.passed]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
