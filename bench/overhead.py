"""Where a railgraph node's time goes beyond plain LangGraph: the rails taken off one by one.

Run it from the repository root::

    .venv/bin/python bench/overhead.py            # about four minutes
    .venv/bin/python bench/overhead.py --quick    # rough numbers, under a minute

`bench/rails.py` says how far the rails are from their targets; this says why. It runs the
llm and read-tier tool graphs of `bench/rails.py` (the same pairs, the same saver) with the
chat model replaced on both sides by one that answers at once, so the model's own cost (a
worker thread and langchain-core's callbacks, about half of a plain llm node) does not hide
the rails'; then again with parts of the rails switched off by replacing them in this process:

- the kill switch (the run's status read before each LLM and tool call);
- storing the node's events (they are made, checked and redacted as usual, then dropped
  from the node's update: no `llm_call`, `tool_call` or `node_finished` event reaches
  LangGraph's channel or the store);
- the node's usage write (the budget's running total in the state);
- all three.

Each row prints the median ratio of the pairs and what it is per node in microseconds over
plain LangGraph (CPU; the ratio times the graph's plain time, the median over all rows).
What is left with all three off is the node wrapper (state checks, budget, the call's
bookkeeping), LangGraph's work on railgraph's channels and the per-run work (run row,
lease, settle). The parts switched off here are not optional in railgraph: this is a
measurement, never a configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import _rails
from _common import print_table
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from railgraph.nodes import _node, _runtime
from railgraph.nodes._state import EVENTS, USAGE


class InstantModel(FakeListChatModel):
    """A chat model that answers "ok" at once: no worker thread, no callbacks."""

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kw: Any) -> Any:
        return AIMessage("ok")


@contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def _no_kill_switch() -> Any:
    async def ensure_running(self: Any, what: str) -> None:
        return None

    return _patched(_runtime.NodeContext, "ensure_running", ensure_running)


def _without(*channels: str) -> Any:
    call = _node.RailNode.__call__

    # Named `config`: LangGraph passes the config only to a parameter of that name.
    async def without(self: Any, state: Any, config: RunnableConfig) -> dict[str, Any]:
        out = await call(self, state, config)
        for channel in channels:
            out.pop(channel, None)
        return out

    return _patched(_node.RailNode, "__call__", without)


VARIANTS: dict[str, Callable[[], list[Any]]] = {
    "all rails": list,
    "without the kill switch": lambda: [_no_kill_switch()],
    "without storing events": lambda: [_without(EVENTS)],
    "without the usage write": lambda: [_without(USAGE)],
    "without all three": lambda: [_no_kill_switch(), _without(EVENTS, USAGE)],
}


async def _measure(kinds: Sequence[str], reps: int) -> list[list[str]]:
    measured: list[tuple[str, _rails.RailResult]] = []
    for variant, patches in VARIANTS.items():
        with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="railgraph-over-") as tmp:
            for patch in patches():
                stack.enter_context(patch)
            results = await _rails.measure_rails(
                Path(tmp),
                reps=reps,
                runs=1,
                graphs=kinds,
                make_model=lambda: InstantModel(responses=[]),
            )
            measured += [(variant, r) for r in results]
    # The machine's speed drifts between variants: each ratio (of pairs of runs next to
    # each other) is turned into microseconds with the graph's one plain time, the median
    # over all variants, so that the rows compare.
    plain = {
        kind: statistics.median(r.plain_us for _, r in measured if r.graph == kind)
        for kind in kinds
    }
    return [
        [r.graph, variant, f"{r.ratio:.2f}x", f"{(r.ratio - 1) * plain[r.graph]:,.0f}"]
        for variant, r in measured
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough numbers)")
    args = parser.parse_args(argv)
    rows = asyncio.run(_measure(("llm", "tool_read"), reps=15 if args.quick else 201))
    rows.sort(key=lambda row: row[0])
    header = ["graph", "rails", "ratio", "µs per node over plain"]
    print_table(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
