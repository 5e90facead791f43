"""The ``railgraph`` command: run graphs, list and show runs, decide review requests, draw.

Exit codes: 0 the run completed or is paused; 1 it failed, was rejected, was cancelled or ran
out of budget; 2 the command was used wrongly (bad input, unknown run, refused decision).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from railgraph import (
    _cli_profile,
    _cli_prune,
    _cli_render,
    _cli_review,
    _cli_runs,
    _cli_web,
    _cli_worker,
)
from railgraph._cli_app import app, err
from railgraph._cli_text import esc
from railgraph._settings import DB_ENV

__all__ = ["DEBUG_ENV", "app", "main"]

# Importing the command modules registers their commands on the app.
_COMMANDS = (_cli_runs, _cli_review, _cli_render, _cli_web, _cli_profile, _cli_prune, _cli_worker)

DEBUG_ENV = "RAILGRAPH_DEBUG"
"""Set to 1 to see the Python traceback of an unexpected error instead of a message."""


def _version() -> str:
    # Here: importlib.metadata costs every command's start-up a few dozen ms.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("railgraph")
    except PackageNotFoundError:
        return "unknown (not installed; run ./scripts/setup)"


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"railgraph {_version()}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print railgraph's version and exit.",
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database of every command: a file, or a PostgreSQL URL (postgresql://...); "
            "by default $RAILGRAPH_DB, else .railgraph/railgraph.db. A command's own --db wins.",
        ),
    ] = None,
) -> None:
    """Run agent graphs on rails: durable runs, budgets, verification and human approval."""
    if db is not None:
        # Commands find their database through the variable, as when it is set outside.
        os.environ[DB_ENV] = db


def main() -> None:
    """Entry point of the ``railgraph`` console script.

    Errors railgraph expects are printed by the commands (exit 2 for misuse). Anything
    else is a bug: it is printed as one line saying so, with exit 1, unless
    ``RAILGRAPH_DEBUG=1`` asks for the traceback.
    """
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        err.print(
            f"[red]error:[/red] unexpected {esc(type(exc).__name__)}: {esc(exc)}. This is a bug "
            f"in railgraph or in the graph's code; rerun with {DEBUG_ENV}=1 to see where, and "
            "report it.",
            highlight=False,
        )
        sys.exit(1)
