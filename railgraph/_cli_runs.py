"""Commands that read runs and graphs: runs, show, spec.

They import nothing of the commands that write (``run`` is in `_cli_start`).
"""

from __future__ import annotations

import json
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
    out,
    print_json,
    when,
    with_store,
)
from railgraph._cli_text import esc, plain, quote
from railgraph._settings import load_graph
from railgraph.errors import InputError, RailgraphError
from railgraph.vocab import RunStatus, shown

if TYPE_CHECKING:
    from railgraph.checkpointers import RunRecord, RunStore

# The store and Rich's tables are imported by the commands that use them: `railgraph --help`
# and every other command load neither.

__all__: list[str] = []


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
        # Python's form, then shown: JSON's form would turn a NaN in an input into null.
        print_json([shown(redactor.run(r).model_dump()) for r in records])
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
        status = shown_status(r, lease_live(r, time.time()))
        table.add_row(
            esc(r.run_id),
            esc(r.graph_name),
            esc(status),
            f"{r.usage.get('steps', 0):g}",
            f"{r.usage.get('tool_calls', 0):g}",
            f"{r.usage.get('cost_usd', 0):.6f}",
            when(r.created_at),
            esc(
                clip(
                    plain(r.error or (next_step(r, quote(r.run_id)) if status != r.status else "")),
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
