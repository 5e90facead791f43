"""``railgraph run``: start a run and drive it, or hand it to workers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer

from railgraph._cli_app import DbOpt, JsonOpt, command, fail, finish
from railgraph._cli_input import parse_json
from railgraph._cli_text import plain
from railgraph._cli_worker import QueueDbOpt, QueueOpt, run_or_queue
from railgraph.errors import InputError, RailgraphError

if TYPE_CHECKING:
    from railgraph._runner import Runner, RunOutcome

__all__ = ["MAX_LIMIT", "budget_overrides"]


@command
def run(
    ref: Annotated[
        str, typer.Argument(help="Graph as module:attribute, e.g. railgraph.graphs.refund:graph.")
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            help="The run's input as a JSON object; @FILE reads it from a file, - from stdin.",
        ),
    ] = "{}",
    budget: Annotated[
        list[str] | None,
        typer.Option(
            "--budget",
            help="Override budget limits, KEY=VALUE[,KEY=VALUE...]; repeatable.",
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who starts the run.")] = None,
    queue: QueueOpt = False,
    queue_db: QueueDbOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run and drive it until it pauses for approval or ends (with --queue, a
    worker drives it)."""

    async def work(runner: Runner) -> RunOutcome:
        if queue:
            return await runner.submit(ref, data, budget=overrides, started_by=by)
        return await runner.start(ref, data, budget=overrides, started_by=by)

    try:
        data = parse_json(input, "--input")
        overrides = budget_overrides(budget or [])
    except RailgraphError as exc:
        fail(exc)
    finish(run_or_queue(db, queue_db, queue, work), as_json)


MAX_LIMIT = 1e12
"""The largest budget limit the command line takes (more is no limit: leave it out)."""


def budget_overrides(flags: list[str]) -> dict[str, float]:
    """``--budget`` flags as overrides: each flag holds one or more ``KEY=VALUE`` pairs.

    Raises:
        InputError: A pair is malformed, a key is given twice, or a value is not a finite
            number between 0 and :data:`MAX_LIMIT`.
    """
    pairs = [pair.strip() for flag in flags for pair in flag.split(",") if pair.strip()]
    seen: set[str] = set()
    for pair in pairs:
        key, _, raw = pair.partition("=")
        key = key.strip()
        if key in seen:
            raise InputError(f"--budget gives {plain(key)} twice; give each limit once")
        seen.add(key)
        try:
            number = float(raw)
        except ValueError:
            continue  # parse_overrides says what is wrong with it
        if not math.isfinite(number) or not 0 <= number <= MAX_LIMIT:
            raise InputError(
                f"bad --budget {plain(pair)}: a limit is a finite number from 0 to "
                f"{MAX_LIMIT:g}; leave the key out to keep the graph's limit"
            )
    from railgraph.nodes import BudgetEnvelope  # here: only `run` needs it, and it loads LangGraph

    return BudgetEnvelope.parse_overrides(pairs)
