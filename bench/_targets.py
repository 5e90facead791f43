"""The issue-10 measurements beyond the per-node ones: saver alone, CLI start-up, big stores, WAL.

Every figure is a ratio of two things measured in the same run, on the same machine, so
that the machine's load cancels out as far as it can. Processes are timed by the CPU they
use (user + system, from `wait4`), not by wall time.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _rails import settle_heap
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from railgraph.checkpointers import SqliteCheckpointer

__all__ = [
    "cli_ratios",
    "pending_ratio",
    "runs_page_ratio",
    "saver_ratio",
    "wal_peak_mb",
]


class _Counter(TypedDict):
    counter: int
    text: str


def _chain(nodes: int) -> StateGraph[_Counter]:
    builder: StateGraph[_Counter] = StateGraph(_Counter)
    ids = [f"n{i}" for i in range(nodes)]
    for n in ids:
        builder.add_node(n, lambda s: {"counter": s["counter"] + 1})
    builder.add_edge(START, ids[0])
    for a, b in itertools.pairwise(ids):
        builder.add_edge(a, b)
    builder.add_edge(ids[-1], END)
    return builder


async def saver_ratio(workdir: Path, *, reps: int, runs: int) -> tuple[float, float, float]:
    """CPU per node of a 20-node graph on `SqliteCheckpointer` over `InMemorySaver`.

    The two run in turn, `runs` runs each, `reps` times; as for the runner's rows, only
    runs next to each other are compared (this machine's speed drifts within a second).

    Returns:
        The median of the pairs' ratios, and their quartiles.
    """
    builder = _chain(20)
    memory = builder.compile(checkpointer=InMemorySaver())
    async with SqliteCheckpointer.from_path(workdir / "saver.db") as saver:
        sqlite = builder.compile(checkpointer=saver)

        async def drive(app: Any) -> float:
            gc.collect()
            start = time.process_time()
            for _ in range(runs):
                await app.ainvoke(
                    {"counter": 0, "text": "hello"},
                    {"configurable": {"thread_id": uuid.uuid4().hex}},
                    durability="sync",
                )
            return time.process_time() - start

        await drive(memory)
        await drive(sqlite)
        settle_heap()
        ratios = []
        for rep in range(reps):
            order = [sqlite, memory] if rep % 2 else [memory, sqlite]
            took = {id(app): await drive(app) for app in order}
            ratios.append(took[id(sqlite)] / took[id(memory)])
    low, _, high = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), low, high


def _cpu_of(args: list[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds (user + system) one process took."""
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or os.environ.copy()
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def _median_cpu(args: list[str], reps: int) -> float:
    return statistics.median(_cpu_of(args) for _ in range(reps))


def _railgraph(*args: str) -> list[str]:
    return [sys.executable, "-m", "railgraph", *args]


def cli_ratios(db: Path, run_id: str, *, reps: int) -> dict[str, float]:
    """CPU of each reading command over that of `python -c "import langgraph.graph"`."""
    commands = {
        "--help": _railgraph("--help"),
        "runs": _railgraph("runs", "--db", str(db)),
        "show": _railgraph("show", run_id, "--db", str(db)),
        "pending": _railgraph("pending", "--db", str(db)),
    }
    base = [sys.executable, "-c", "import langgraph.graph"]
    # An installed railgraph starts from cached bytecode, as `import langgraph.graph` does
    # (pip compiles a package when it installs it). Under PYTHONDONTWRITEBYTECODE a source
    # checkout has none, and every timed run would compile railgraph's modules again, a fifth
    # of a reading command's work: one untimed run of each, allowed to write it, caches it.
    cache = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for args in commands.values():
        _cpu_of(args, cache)
    ratios: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(reps):
        langgraph = _cpu_of(base)
        for name, args in commands.items():
            ratios[name].append(_cpu_of(args) / langgraph)
    return {name: statistics.median(values) for name, values in ratios.items()}


def _fill(db: Path, runs: int, *, paused: bool, graph: str = "bench.big:graph") -> None:
    """Add `runs` run records (and, when `paused`, a pending request each) by plain SQL."""
    now = time.time()
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO runs (run_id, graph, graph_name, signature, status, input, budget, "
            "usage, created_at, updated_at) VALUES (?, ?, 'big', 's', ?, '{}', '{}', '{}', ?, ?)",
            [
                (f"{graph}-{i}", graph, "paused" if paused else "completed", now + i, now + i)
                for i in range(runs)
            ],
        )
        if paused:
            request = (
                '{"graph": "big", "action": {"tool": "refund", "args": {"amount": 42.5}}, '
                '"reason": "over the limit", "spend": {}}'
            )
            conn.executemany(
                "INSERT INTO approvals (request_id, run_id, graph, node, status, request, "
                "created_at) VALUES (?, ?, ?, 'approve', 'pending', ?, ?)",
                [(f"q{i}", f"{graph}-{i}", graph, request, now + i) for i in range(runs)],
            )
    conn.close()


async def _empty(db: Path) -> None:
    async with SqliteCheckpointer.from_path(db):
        pass


def pending_ratio(workdir: Path, *, paused: int, reps: int) -> float:
    """CPU of `railgraph pending` with `paused` runs waiting over that with an empty store."""
    empty, full = workdir / "pending-empty.db", workdir / "pending-full.db"
    for db in (empty, full):
        asyncio.run(_empty(db))
    _fill(full, paused, paused=True)
    ratios = [
        _cpu_of(_railgraph("pending", "--db", str(full)))
        / _cpu_of(_railgraph("pending", "--db", str(empty)))
        for _ in range(reps)
    ]
    return statistics.median(ratios)


def runs_page_ratio(workdir: Path, *, many: int, few: int, reps: int) -> float:
    """CPU of `runs --graph G --limit 20` with `many` runs of G over that with `few`."""
    dbs = {}
    for n in (few, many):
        db = dbs[n] = workdir / f"runs-{n}.db"
        asyncio.run(_empty(db))
        _fill(db, n, paused=False)
    ratios = []
    for _ in range(reps):
        took = {
            n: _cpu_of(_railgraph("runs", "--graph", "big", "--limit", "20", "--db", str(db)))
            for n, db in dbs.items()
        }
        ratios.append(took[many] / took[few])
    return statistics.median(ratios)


_WRITER = """
import asyncio, sys, time
sys.path.insert(0, sys.argv[3])
from _rails import _rail
from railgraph import Runner

async def main(db, until):
    rail = _rail("step")
    async with Runner.open(db) as runner:
        while time.time() < until:
            await runner.start(rail, {"counter": 0, "text": "x" * 2000})

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""

_READER = """
import sqlite3, sys, time
until = float(sys.argv[2])
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
while time.time() < until:
    # A long reader: each snapshot is held for a second, as a report or a backup would.
    conn.execute("BEGIN")
    conn.execute("SELECT COUNT(*) FROM run_events").fetchone()
    time.sleep(1.0)
    conn.execute("COMMIT")
"""


def wal_peak_mb(workdir: Path, *, seconds: float, writers: int = 4) -> tuple[float, int]:
    """The largest WAL file seen while `writers` processes run graphs and one reads long.

    Returns:
        The peak WAL size in MB, and how many runs the writers completed.
    """
    db = workdir / "wal.db"
    asyncio.run(_empty(db))
    wal = db.with_name(db.name + "-wal")
    until = time.time() + seconds
    bench = str(Path(__file__).parent)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(db), str(until), bench])
        for _ in range(writers)
    ]
    procs.append(subprocess.Popen([sys.executable, "-c", _READER, str(db), str(until)]))
    peak = 0
    while any(p.poll() is None for p in procs):
        if wal.exists():
            peak = max(peak, wal.stat().st_size)
        time.sleep(0.05)
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError("a WAL benchmark process failed")
    with sqlite3.connect(db) as conn:
        (runs,) = conn.execute("SELECT COUNT(*) FROM runs").fetchone()
    conn.close()
    return peak / 1e6, int(runs)
