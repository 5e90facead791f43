"""Commands that work the review queue and runs: pending, expire, resume, cancel.

They import nothing of `_cli_worker` (approve and reject, which can hand a decision to
workers, are in `_cli_decide`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from railgraph._cli_app import (
    DbOpt,
    JsonOpt,
    command,
    err,
    fail,
    finish,
    out,
    pending_json,
    print_json,
    print_pending,
    safe_file_name,
    with_runner,
    with_store,
)
from railgraph._cli_text import esc, plain
from railgraph.errors import RailgraphError
from railgraph.vocab import ApprovalStatus

if TYPE_CHECKING:
    from railgraph.checkpointers import ApprovalRecord, EffectRecord, RunStore

__all__: list[str] = []


@command
def pending(
    graph: Annotated[
        str | None, typer.Option("--graph", help="Only requests of this graph.")
    ] = None,
    diagrams: Annotated[
        Path | None,
        typer.Option("--diagrams", help="Also draw each request's run into this folder (SVG)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, oldest first.")] = 50,
    every: Annotated[bool, typer.Option("--all", help="Every request (no --limit).")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List review requests waiting for a person, oldest first.

    It only reads: requests past their expiry are marked, and `railgraph expire` applies
    their gates' timeout outcomes. Effects of ended runs that may have happened are named.
    """

    async def work(
        store: RunStore,
    ) -> tuple[list[ApprovalRecord], list[EffectRecord], float]:
        # One more than shown, to say whether more wait.
        found = await store.list_approvals(
            status=ApprovalStatus.PENDING, graph=graph, limit=None if every else limit + 1
        )
        redacted = [store.redactor.approval(a) for a in found]
        return redacted, await store.list_unknown_effects(), time.time()

    requests, unknown, now = with_store(db, work)
    more = not every and len(requests) > limit
    requests = requests if every else requests[:limit]
    drawn = _draw_runs(requests, diagrams, db) if diagrams is not None else {}
    if as_json:
        print_json(
            [
                {
                    **pending_json(p),
                    "diagram": drawn.get(p.run_id),
                    "expired": p.expires_at is not None and p.expires_at <= now,
                }
                for p in requests
            ]
        )
        return
    if requests:
        print_pending(requests, drawn, now=now)
        if more:
            out.print(
                f"more requests wait than these {limit}: pass --limit N or --all to see them",
                highlight=False,
                markup=False,
            )
    else:
        out.print("no pending review requests")
    for effect in unknown:
        # The run ended (cancelled) before anyone learnt whether this effect happened.
        out.print(
            plain(
                f"effect may have happened: run {effect.run_id}, tool {effect.tool} at node "
                f"{effect.node} (key {effect.idempotency_key}) started but was never confirmed; "
                "check the target system"
            ),
            highlight=False,
            markup=False,
        )


def _draw_runs(
    requests: list[ApprovalRecord], folder: Path, db: str | Path | None
) -> dict[str, str | None]:
    """Draw each pending run's path as SVG into ``folder``; a run that cannot be drawn
    (its graph is not importable, or Graphviz is missing) gets None and a warning."""
    if not folder.parent.is_dir():
        fail(f"--diagrams: the folder {folder.parent} does not exist; create it first")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        fail(f"--diagrams: cannot create the folder {folder} ({exc.strerror or exc})")
    # Here: drawing loads graphs (and LangGraph); the queue itself never does.
    import asyncio

    from railgraph.visualize import load_source, read_run, run_diagram, write_diagram

    drawn: dict[str, str | None] = {}
    for request in requests:
        if request.run_id in drawn:
            continue
        # Run ids from the Python API are free text: never a path out of the folder.
        target = folder / f"{safe_file_name(request.run_id)}.svg"
        try:
            source = load_source(request.graph)
            path = asyncio.run(read_run(source, request.run_id, db))
            write_diagram(run_diagram(source.spec, path), target, run=path)
            drawn[request.run_id] = str(target)
        except RailgraphError as exc:
            err.print(
                f"[yellow]warning:[/yellow] no diagram for run {esc(request.run_id)}: {esc(exc)}"
            )
            drawn[request.run_id] = None
    return drawn


@command
def expire(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Expire requests past their expiry; their runs take the gates' timeout outcomes."""
    outcomes = with_runner(db, lambda runner: runner.expire())
    if as_json:
        print_json([o.to_json() for o in outcomes])
        return
    for outcome in outcomes:
        out.print(f"run [bold]{esc(outcome.run_id)}[/bold]: {esc(outcome.status)}")
    if not outcomes:
        out.print("no requests past their expiry")


@command
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run to continue.")],
    allow_changed_graph: Annotated[
        bool, typer.Option("--allow-changed-graph", help="Resume even if the graph changed.")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Continue a run that a crash interrupted, or whose requests were decided."""
    outcome = with_runner(
        db, lambda runner: runner.resume(run_id, allow_changed_graph=allow_changed_graph)
    )
    finish(outcome, as_json)


@command
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run to stop.")],
    by: Annotated[str, typer.Option("--by", help="Who stops it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a paused or running run for good; it ends cancelled and makes no further LLM or tool
    call."""
    outcome = with_runner(db, lambda runner: runner.cancel(run_id, by=by, reason=reason))
    if as_json:
        print_json(outcome.to_json())
    else:
        out.print(f"run [bold]{esc(outcome.run_id)}[/bold]: {esc(outcome.status)}")
        if outcome.reason:  # names effects made, and ones that may have happened
            out.print(f"  reason: {plain(outcome.reason)}", highlight=False, markup=False)
