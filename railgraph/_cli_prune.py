"""The prune command: delete old runs and everything stored for them, then reclaim space."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Annotated, cast

import typer

from railgraph._cli_app import DbOpt, JsonOpt, command, fail, out, print_json
from railgraph._settings import db_exists, default_db
from railgraph.errors import InputError, RailgraphError
from railgraph.vocab import RunStatus

if TYPE_CHECKING:
    from railgraph.checkpointers._prune import PruneReport

__all__ = ["parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90d``, ``12h``, ``30m``, ``45s`` or ``2w``.

    Raises:
        InputError: The text is not a number followed by one of s, m, h, d, w.
    """
    match = _DURATION.match(text)
    if match is None:
        raise InputError(
            f"--older-than {text!r} is not a duration; write a number and a unit: "
            "s, m, h, d or w (e.g. 30d, 12h)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


@command
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Prune runs not changed for this long: 30d, 12h, 90m, 2w.",
        ),
    ],
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only runs with this status (repeatable); by default every ended status. "
            "Running and paused runs are pruned only when named here.",
        ),
    ] = None,
    graph: Annotated[str | None, typer.Option("--graph", help="Only runs of this graph.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete old runs with their checkpoints, events, requests and ledger, and reclaim space."""
    try:
        age = parse_duration(older_than)
        for s in status or ():
            if s not in {r.value for r in RunStatus}:
                raise InputError(f"unknown status {s!r}; use one of {', '.join(RunStatus)}")
    except RailgraphError as exc:
        fail(exc)
    where = db if db is not None else default_db()
    if not db_exists(where):
        fail(f"no railgraph database at {where}; there is nothing to prune")
    # Here, not at the top: `--help` and the other commands load neither the store nor asyncio.
    import asyncio

    from railgraph.checkpointers import open_store
    from railgraph.checkpointers._prune import ACTIVE, ENDED

    async def go() -> PruneReport:
        async with open_store(where, read_only=False) as store:
            return await store.prune(
                older_than=time.time() - age,
                statuses=cast(list[RunStatus], status or sorted(ENDED)),  # checked above
                graph=graph,
                dry_run=dry_run,
            )

    try:
        report = asyncio.run(go())
    except RailgraphError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "dry_run": report.dry_run,
                "runs": report.run_ids,
                "rows": report.rows,
                "bytes_before": report.bytes_before,
                "bytes_after": report.bytes_after,
            }
        )
        return
    verb = "would delete" if report.dry_run else "deleted"
    kept = sorted(ACTIVE - set(status or ()))
    out.print(
        f"{verb} {len(report.run_ids)} runs"
        + (f" (kept: {', '.join(kept)} runs; name them with --status)" if kept else ""),
        highlight=False,
        markup=False,
    )
    for table, count in report.rows.items():
        out.print(f"  {table}: {count} rows", highlight=False, markup=False)
    if not report.dry_run and report.run_ids:
        out.print(
            f"  file: {report.bytes_before:,} -> {report.bytes_after:,} bytes",
            highlight=False,
            markup=False,
        )
