"""The ``railgraph`` command: run graphs, list and show runs, decide review requests, draw.

Exit codes: 0 the run completed or is paused; 1 it failed, was rejected, was cancelled or ran
out of budget; 2 the command was used wrongly (bad input, unknown run, refused decision).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checkpointers import ApprovalRecord, RunRecord
from nodes import BudgetEnvelope
from railgraph._report import trace
from railgraph._runner import Runner, RunOutcome
from railgraph._settings import load_graph
from railgraph.errors import InputError, RailgraphError
from visualize import (
    FORMATS,
    Diagram,
    RunPath,
    design_diagram,
    diff_diagram,
    load_source,
    load_spec,
    output_format,
    read_run,
    read_runs,
    run_diagram,
    traffic_diagram,
    write_diagram,
)

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="railgraph",
    help="Run agent graphs on rails: durable runs, budgets, verification and human approval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output is read by people too (in CI logs, pagers): give tables room there.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="Database file [default: .railgraph/railgraph.db or $RAILGRAPH_DB]."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (a list for listings).")
]
RequestOpt = Annotated[
    str | None, typer.Option("--request", help="Which request, when a run has several pending.")
]
_FAILED = {"failed", "rejected", "budget_exhausted", "cancelled"}


def _with_runner(db: Path | None, work: Callable[[Runner], Awaitable[T]]) -> T:
    async def go() -> T:
        async with Runner.open(db) as runner:
            return await work(runner)

    try:
        return asyncio.run(go())
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        raise typer.Exit(2) from None


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f'{what} is not valid JSON ({exc.msg}); e.g. \'{{"ticket_id": "T-1001"}}\''
        ) from None
    if not isinstance(value, dict):
        raise InputError(f'{what} must be a JSON object, e.g. \'{{"ticket_id": "T-1001"}}\'')
    return value


def _finish(outcome: RunOutcome, as_json: bool) -> None:
    if as_json:
        _json(outcome.to_json())
    else:
        colour = "red" if outcome.status in _FAILED else "green"
        out.print(f"run [bold]{outcome.run_id}[/bold]: [{colour}]{outcome.status}[/{colour}]")
        if outcome.reason:
            out.print(f"  reason: {outcome.reason}", highlight=False)
        if outcome.pending:
            _print_pending(outcome.pending)
    raise typer.Exit(1 if outcome.status in _FAILED else 0)


def _print_pending(pending: list[ApprovalRecord]) -> None:
    for p in pending:
        action = p.request.get("action") or {}
        spend = p.request.get("spend") or {}
        out.print(
            f"[bold]request {p.request_id}[/bold]  run {p.run_id} "
            f"({p.request.get('graph', p.graph)})"
            f", gate {p.node}, since {_when(p.created_at)}",
            highlight=False,
        )
        if action:
            out.print(
                f"  action:    {action.get('tool')} ({action.get('tier')}, policy "
                f"{action.get('policy')})",
                highlight=False,
            )
            out.print(
                f"  arguments: {json.dumps(action.get('args'), sort_keys=True)}", highlight=False
            )
        else:
            out.print("  action:    let the run go on", highlight=False)
        out.print(f"  reason:    {p.request.get('reason', '')}", highlight=False)
        out.print(
            f"  spent:     {spend.get('steps', 0):g} steps, {spend.get('tool_calls', 0):g} tool "
            f"calls, {spend.get('tokens', 0):g} tokens, ${spend.get('cost_usd', 0):.6f}",
            highlight=False,
        )
        out.print(
            f"  decide:    railgraph approve {p.run_id} --by NAME [--edit JSON]  |  "
            f"railgraph reject {p.run_id} --by NAME --reason TEXT",
            highlight=False,
        )


def _pending_json(p: ApprovalRecord) -> dict[str, Any]:
    action = p.request.get("action") or {}
    return {
        "request_id": p.request_id,
        "run_id": p.run_id,
        "graph": p.request.get("graph", p.graph),
        "ref": p.graph,
        "node": p.node,
        "action": action.get("tool"),
        "arguments": action.get("args"),
        "risk": action.get("tier"),
        "policy": action.get("policy"),
        "reason": p.request.get("reason"),
        "spend": p.request.get("spend"),
        "path": p.request.get("path"),
        "failures": p.request.get("failures", []),
        "created_at": p.created_at,
        "expires_at": p.expires_at,
    }


@app.command()
def run(
    ref: Annotated[
        str, typer.Argument(help="Graph as module:attribute, e.g. graphs.refund:graph.")
    ],
    input: Annotated[str, typer.Option("--input", help="The run's input as a JSON object.")] = "{}",
    budget: Annotated[
        list[str] | None,
        typer.Option("--budget", help="Override a budget limit, KEY=VALUE; repeatable."),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who starts the run.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run and drive it until it pauses for approval or ends."""

    async def work(runner: Runner) -> RunOutcome:
        overrides = BudgetEnvelope.parse_overrides(budget or [])
        return await runner.start(
            ref, _parse_json(input, "--input"), budget=overrides, started_by=by
        )

    _finish(_with_runner(db, work), as_json)


@app.command()
def runs(
    status: Annotated[
        str | None, typer.Option("--status", help="Only runs with this status.")
    ] = None,
    graph: Annotated[str | None, typer.Option("--graph", help="Only runs of this graph.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""

    async def work(runner: Runner) -> list[RunRecord]:
        return await runner.store.list_runs(status=status, graph=graph, limit=limit)  # type: ignore[arg-type]

    records = _with_runner(db, work)
    if as_json:
        _json([r.model_dump(mode="json") for r in records])
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
        table.add_row(
            r.run_id,
            r.graph_name,
            r.status,
            f"{r.usage.get('steps', 0):g}",
            f"{r.usage.get('tool_calls', 0):g}",
            f"{r.usage.get('cost_usd', 0):.6f}",
            _when(r.created_at),
            _clip(r.error or "", 60),
        )
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: status, path, tool calls, decisions and spend."""

    async def work(runner: Runner) -> dict[str, Any]:
        record = await runner.store.get_run(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in this database; list runs with `railgraph runs`")
        events = await runner.store.list_events(run_id)
        approvals = await runner.store.list_approvals(run_id=run_id, status=None)
        return trace(record, events, approvals)

    report = _with_runner(db, work)
    if as_json:
        _json(report)
        return
    out.print(
        f"run [bold]{report['run_id']}[/bold] of {report['agent']['graph']}: {report['status']}"
    )
    if report["outcome"]["reason"]:
        out.print(f"  reason: {report['outcome']['reason']}", highlight=False)
    out.print(f"  path: {' -> '.join(report['path'])}", highlight=False)
    usage = report["usage"]
    out.print(
        f"  spent: {usage.get('steps', 0):g} steps, {usage.get('llm_calls', 0):g} llm calls, "
        f"{usage.get('tool_calls', 0):g} tool calls, {usage.get('tokens', 0):g} tokens, "
        f"${usage.get('cost_usd', 0):.6f}",
        highlight=False,
    )
    if report["tool_calls"]:
        table = Table("node", "tool", "status", "try", "ms", "arguments", box=box.SIMPLE_HEAD)
        for c in report["tool_calls"]:
            table.add_row(
                c["node"],
                c["tool"],
                c["status"],
                str(c["attempt"]),
                f"{c['latency_ms']:.1f}",
                json.dumps(c["args"], sort_keys=True),
            )
        out.print(table)
    for d in report["decisions"]:
        out.print(
            f"  {d['node']}: {d['status']} by {d['by'] or '-'}"
            + (f" ({d['reason']})" if d["reason"] else "")
        )


@app.command()
def pending(
    graph: Annotated[
        str | None, typer.Option("--graph", help="Only requests of this graph.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List review requests waiting for a person, oldest first."""
    requests = _with_runner(db, lambda runner: runner.pending(graph=graph))
    if as_json:
        _json([_pending_json(p) for p in requests])
    elif requests:
        _print_pending(requests)
    else:
        out.print("no pending review requests")


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The paused run.")],
    by: Annotated[str, typer.Option("--by", help="The reviewer's name.")],
    edit: Annotated[
        str | None, typer.Option("--edit", help="JSON object merged into the action's arguments.")
    ] = None,
    request: RequestOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a paused run's request (optionally with edited arguments) and resume it."""

    async def work(runner: Runner) -> RunOutcome:
        changes = _parse_json(edit, "--edit") if edit is not None else None
        return await runner.approve(run_id, by=by, edit=changes, request_id=request)

    _finish(_with_runner(db, work), as_json)


@app.command()
def reject(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The paused run.")],
    by: Annotated[str, typer.Option("--by", help="The reviewer's name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the action is rejected.")],
    request: RequestOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a paused run's request; the run takes the gate's rejected outcome."""
    outcome = _with_runner(
        db, lambda runner: runner.reject(run_id, by=by, reason=reason, request_id=request)
    )
    _finish(outcome, as_json)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run to continue.")],
    allow_changed_graph: Annotated[
        bool, typer.Option("--allow-changed-graph", help="Resume even if the graph changed.")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Continue a run that a crash interrupted, or whose requests were decided."""
    outcome = _with_runner(
        db, lambda runner: runner.resume(run_id, allow_changed_graph=allow_changed_graph)
    )
    _finish(outcome, as_json)


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run to stop.")],
    by: Annotated[str, typer.Option("--by", help="Who stops it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a paused run for good; it ends cancelled."""
    outcome = _with_runner(db, lambda runner: runner.cancel(run_id, by=by, reason=reason))
    if as_json:
        _json(outcome.to_json())
    else:
        out.print(f"run [bold]{outcome.run_id}[/bold]: {outcome.status}")


@app.command()
def spec(
    ref: Annotated[str, typer.Argument(help="Graph as module:attribute.")],
) -> None:
    """Print a graph's spec (the designed graph as data) as JSON."""
    try:
        sys.stdout.write(load_graph(ref).spec.to_json())
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def render(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF",
            help="Graph as module:attribute: a railgraph graph or a compiled LangGraph graph.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="File to write; its extension picks the format: "
            + ", ".join(f".{ext}" for ext in FORMATS)
            + ".",
        ),
    ],
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="RUN",
            help="Draw this run's path (for a plain LangGraph graph: its thread id).",
        ),
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option("--runs", metavar="N", help="Draw the traffic of the graph's last N runs."),
    ] = None,
    diff: Annotated[
        str | None,
        typer.Option(
            "--diff",
            metavar="OTHER",
            help="Draw what changed from OTHER (a reference, or a JSON file written by "
            "`railgraph spec`) to REF.",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Draw a graph as designed, a run's path on it, many runs' traffic, or a diff."""
    try:
        fmt = output_format(output)
        modes = (("--run", run_id), ("--runs", runs), ("--diff", diff))
        chosen = [flag for flag, value in modes if value is not None]
        if len(chosen) > 1:
            raise InputError(f"{' and '.join(chosen)} draw different pictures; pass one of them")
        source = load_source(ref)
        path: RunPath | None = None
        diagram: Diagram
        if diff is not None:
            other = load_spec(diff)
            diagram = diff_diagram(other.spec, source.spec, old_name=diff, new_name=ref)
        elif run_id is not None:
            path = asyncio.run(read_run(source, run_id, db))
            diagram = run_diagram(source.spec, path)
        elif runs is not None:
            diagram = traffic_diagram(source.spec, asyncio.run(read_runs(source, runs, db)))
        else:
            diagram = design_diagram(source.spec)
        written = write_diagram(diagram, output, run=path)
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True)
        raise typer.Exit(2) from None
    out.print(f"wrote {written} ({FORMATS[fmt]})", highlight=False, markup=False)


def main() -> None:
    """Entry point of the ``railgraph`` console script."""
    app()
