"""What the ``railgraph`` commands share: the typer app, consoles, options and output helpers."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from checkpointers import ApprovalRecord
from railgraph._runner import Runner, RunOutcome
from railgraph.errors import InputError, RailgraphError

__all__ = [
    "FAILED",
    "DbOpt",
    "JsonOpt",
    "RequestOpt",
    "app",
    "clip",
    "err",
    "finish",
    "out",
    "parse_json",
    "pending_json",
    "print_json",
    "print_pending",
    "when",
    "with_runner",
]

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
FAILED = {"failed", "rejected", "budget_exhausted", "cancelled"}


def with_runner(db: Path | None, work: Callable[[Runner], Awaitable[T]]) -> T:
    async def go() -> T:
        async with Runner.open(db) as runner:
            return await work(runner)

    try:
        return asyncio.run(go())
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        raise typer.Exit(2) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f'{what} is not valid JSON ({exc.msg}); e.g. \'{{"ticket_id": "T-1001"}}\''
        ) from None
    if not isinstance(value, dict):
        raise InputError(f'{what} must be a JSON object, e.g. \'{{"ticket_id": "T-1001"}}\'')
    return value


def finish(outcome: RunOutcome, as_json: bool) -> None:
    if as_json:
        print_json(outcome.to_json())
    else:
        colour = "red" if outcome.status in FAILED else "green"
        out.print(f"run [bold]{outcome.run_id}[/bold]: [{colour}]{outcome.status}[/{colour}]")
        if outcome.reason:
            out.print(f"  reason: {outcome.reason}", highlight=False)
        if outcome.pending:
            print_pending(outcome.pending)
    raise typer.Exit(1 if outcome.status in FAILED else 0)


def print_pending(
    pending: list[ApprovalRecord], drawn: dict[str, str | None] | None = None
) -> None:
    per_run = Counter(p.run_id for p in pending)
    for p in pending:
        action = p.request.get("action") or {}
        spend = p.request.get("spend") or {}
        out.print(
            f"[bold]request {p.request_id}[/bold]  run {p.run_id} "
            f"({p.request.get('graph', p.graph)})"
            f", gate {p.node}, since {when(p.created_at)}",
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
        which = f" --request {p.request_id}" if per_run[p.run_id] > 1 else ""
        approve = f"railgraph approve {p.run_id}{which} --by NAME"
        if p.request.get("kind") == "unknown_effect":
            # Send it again, say it happened (with what the target system shows), or stop.
            approve += f"  |  {approve} --happened RESULT"
        else:
            approve += " [--edit JSON]"
        reject = f"railgraph reject {p.run_id}{which} --by NAME --reason TEXT"
        out.print(f"  decide:    {approve}  |  {reject}", highlight=False)
        if drawn and drawn.get(p.run_id):
            out.print(f"  diagram:   {drawn[p.run_id]}", highlight=False)


def pending_json(p: ApprovalRecord) -> dict[str, Any]:
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
        "kind": p.request.get("kind", "approval"),
        "created_at": p.created_at,
        "expires_at": p.expires_at,
        "render": f"railgraph render {p.graph} --run {p.run_id} -o {p.run_id}.svg",
    }
