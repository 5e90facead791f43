"""Commands that start and inspect runs: run, runs, show, spec."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from railgraph._cli_app import (
    DbOpt,
    JsonOpt,
    clip,
    command,
    fail,
    finish,
    out,
    parse_json,
    print_json,
    when,
    with_runner,
    with_store,
)
from railgraph._cli_text import esc, plain, quote
from railgraph._cli_worker import QueueDbOpt, QueueOpt, with_workers
from railgraph._settings import load_graph
from railgraph.errors import InputError, RailgraphError
from railgraph.vocab import RunStatus

if TYPE_CHECKING:
    from railgraph._runner import Runner, RunOutcome
    from railgraph.checkpointers import RunRecord, RunStore

# The store, Rich's tables and the runner are imported by the commands that use them:
# `railgraph --help` and every other command load none of them.

__all__: list[str] = []


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
    finish(with_workers(db, queue_db, work) if queue else with_runner(db, work), as_json)


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


@command
def runs(
    status: Annotated[
        str | None, typer.Option("--status", help="Only runs with this status.")
    ] = None,
    graph: Annotated[str | None, typer.Option("--graph", help="Only runs of this graph.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    every: Annotated[bool, typer.Option("--all", help="Every run (no --limit).")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    from rich import box
    from rich.table import Table

    from railgraph._lease import next_step, shown_status
    from railgraph._report import display_redactor
    from railgraph.checkpointers import lease_live

    async def work(store: RunStore) -> list[RunRecord]:
        if status in ("queued", "interrupted"):
            raise InputError(
                f"{status!r} is how runs and show print a running run that nobody drives; "
                "it is stored running: use --status running"
            )
        if status is not None and status not in {s.value for s in RunStatus}:
            raise InputError(f"unknown status {status!r}; use one of {', '.join(RunStatus)}")
        wanted = None if status is None else RunStatus(status)
        return await store.list_runs(status=wanted, graph=graph, limit=None if every else limit)

    records = with_store(db, work)
    if as_json:
        redactor = display_redactor()
        print_json([redactor.run(r).model_dump(mode="json") for r in records])
        return
    table = Table(
        "run",
        "graph",
        "status",
        "steps",
        "tools",
        "cost $",
        "started",
        "reason",
        box=box.SIMPLE_HEAD,
    )
    for column in table.columns:
        column.no_wrap = True
    for column, width in zip(table.columns, (12, 10, 16, 5, 5, 8, 19), strict=False):
        column.min_width = width
    for r in records:
        shown = shown_status(r, lease_live(r, time.time()))
        table.add_row(
            esc(r.run_id),
            esc(r.graph_name),
            esc(shown),
            f"{r.usage.get('steps', 0):g}",
            f"{r.usage.get('tool_calls', 0):g}",
            f"{r.usage.get('cost_usd', 0):.6f}",
            when(r.created_at),
            esc(
                clip(
                    plain(r.error or (next_step(r, quote(r.run_id)) if shown != r.status else "")),
                    60,
                )
            ),
        )
    out.print(table)


@command
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: status, path, tool calls, decisions and spend."""
    from rich import box
    from rich.table import Table

    from railgraph._lease import driver_line, shown_status
    from railgraph._report import trace
    from railgraph.checkpointers import lease_live

    async def work(store: RunStore) -> dict[str, Any]:
        record = await store.get_run(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in this database; list runs with `railgraph runs`")
        events = await store.list_events(run_id)
        approvals = await store.list_approvals(run_id=run_id, status=None)
        report = trace(record, events, approvals, store.redactor)
        live = lease_live(record, time.time())
        report["shown_status"] = shown_status(record, live)
        report["driver"] = driver_line(record, live)
        return report

    report = with_store(db, work)
    if as_json:
        print_json(report)
        return
    out.print(
        f"run [bold]{esc(report['run_id'])}[/bold] of {esc(report['agent']['graph'])}: "
        f"{esc(report['shown_status'])}",
        highlight=False,  # stored text is not styled, as on every other line
    )
    if report["driver"]:
        out.print(f"  {report['driver']}", highlight=False, markup=False)
    if report["outcome"]["reason"]:
        out.print(f"  reason: {plain(report['outcome']['reason'])}", highlight=False, markup=False)
    out.print(f"  path: {plain(' -> '.join(report['path']))}", highlight=False, markup=False)
    usage = report["usage"]
    out.print(
        f"  spent: {usage.get('steps', 0):g} steps, {usage.get('llm_calls', 0):g} llm calls, "
        f"{usage.get('tool_calls', 0):g} tool calls, {usage.get('tokens', 0):g} tokens, "
        f"${usage.get('cost_usd', 0):.6f}",
        highlight=False,
        markup=False,
    )
    if report["tool_calls"]:
        table = Table("node", "tool", "status", "try", "ms", "arguments", box=box.SIMPLE_HEAD)
        for c in report["tool_calls"]:
            table.add_row(
                esc(c["node"]),
                esc(c["tool"]),
                esc(c["status"]),
                esc(c["attempt"]),
                f"{c['latency_ms']:.1f}" if isinstance(c["latency_ms"], int | float) else "",
                esc(json.dumps(c["args"], sort_keys=True)),
            )
        out.print(table)
    if report["agent_calls"]:
        calls = Table("node", "turn", "tool", "status", "decision", "by", box=box.SIMPLE_HEAD)
        for c in report["agent_calls"]:
            calls.add_row(
                esc(c["node"]),
                esc(c["turn"]),
                esc(c["tool"]),
                esc(c["status"]),
                esc(c["decision"] or "-"),
                esc(c["by"] or "-"),
            )
        out.print(calls)
    for d in report["decisions"]:
        out.print(
            plain(
                f"  {d['node']}: {d['status']} by {d['by'] or '-'}"
                + (f" ({d['reason']})" if d["reason"] else "")
            ),
            highlight=False,
            markup=False,
        )


@command
def spec(
    ref: Annotated[str, typer.Argument(help="Graph as module:attribute.")],
) -> None:
    """Print a graph's spec (the designed graph as data) as JSON."""
    try:
        sys.stdout.write(load_graph(ref).spec.to_json())
    except RailgraphError as exc:
        fail(exc)
