"""Deciding review requests: approve and reject (with --queue, a worker delivers them)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated

import typer

from railgraph._cli_app import (
    DbOpt,
    JsonOpt,
    RequestOpt,
    command,
    finish,
)
from railgraph._cli_input import parse_json
from railgraph._cli_worker import DeliverOpt, QueueDbOpt, run_or_queue
from railgraph.errors import InputError

if TYPE_CHECKING:
    from railgraph._runner import Runner, RunOutcome

__all__: list[str] = []


@command
def approve(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The paused run.")],
    by: Annotated[str, typer.Option("--by", help="The reviewer's name.")],
    edit: Annotated[
        str | None, typer.Option("--edit", help="JSON object merged into the action's arguments.")
    ] = None,
    happened: Annotated[
        str | None,
        typer.Option(
            "--happened",
            metavar="RESULT",
            help="For an effect a crash left unknown: it did happen, with this result (JSON) "
            "seen in the target system; the run goes on with it and the call is not sent again.",
        ),
    ] = None,
    request: RequestOpt = None,
    queue: DeliverOpt = False,
    queue_db: QueueDbOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a paused run's request (optionally with edited arguments) and resume it
    (with --queue, a worker resumes it)."""

    async def work(runner: Runner) -> RunOutcome:
        if happened is not None:
            if edit is not None:
                raise InputError(
                    "--happened and --edit cannot be given together: --happened answers a "
                    "request about an effect a crash left unknown, --edit an approval"
                )
            result = parse_json(happened, "--happened")
            return await runner.happened(
                run_id, by=by, result=result, request_id=request, deliver=not queue
            )
        changes = parse_json(edit, "--edit") if edit is not None else None
        return await runner.approve(
            run_id, by=by, edit=changes, request_id=request, deliver=not queue
        )

    finish(run_or_queue(db, queue_db, queue, work), as_json)


@command
def reject(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The paused run.")],
    by: Annotated[str, typer.Option("--by", help="The reviewer's name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the action is rejected.")],
    request: RequestOpt = None,
    queue: DeliverOpt = False,
    queue_db: QueueDbOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a paused run's request; the run takes the gate's rejected outcome (with
    --queue, a worker delivers it)."""

    def work(runner: Runner) -> Awaitable[RunOutcome]:
        return runner.reject(run_id, by=by, reason=reason, request_id=request, deliver=not queue)

    finish(run_or_queue(db, queue_db, queue, work), as_json)
