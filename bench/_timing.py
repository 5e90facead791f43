"""Timing the configurations: per node, throughput, bytes, resume and list."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import (
    AsyncExitStack,
    asynccontextmanager,
)
from pathlib import Path
from typing import Any

from _common import (
    BYTES_RUNS,
    NODES,
    PLAIN,
    BenchError,
    Plan,
    Saver,
)
from _graphs import (
    BIG_INPUT,
    SMALL_INPUT,
    BigState,
    Bound,
    Contender,
    linear_graph,
    loop_graph,
    thread,
)
from langgraph.graph import StateGraph
from langgraph.types import Durability

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
