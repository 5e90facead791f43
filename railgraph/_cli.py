"""The ``railgraph`` command: run graphs, list and show runs, decide review requests, draw.

Exit codes: 0 the run completed or is paused; 1 it failed, was rejected, was cancelled or ran
out of budget; 2 the command was used wrongly (bad input, unknown run, refused decision).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    # At run time `app` comes from `__getattr__`, with every command registered.
    from railgraph._cli_app import app

# Typer, Rich and the app load in `load_commands`: `main` decides first whether the command
# line runs with the cyclic garbage collector, and their imports are most of what it would
# collect.

__all__ = ["COMMANDS", "DEBUG_ENV", "OPTIONS_WITH_VALUES", "app", "load_commands", "main"]

COMMANDS: dict[str, str] = {
    "profile": "railgraph._cli_profile",
    "check": "railgraph._cli_profile",
    "prune": "railgraph._cli_prune",
    "render": "railgraph._cli_render",
    "worker": "railgraph._cli_worker",
    "pending": "railgraph._cli_review",
    "expire": "railgraph._cli_review",
    "approve": "railgraph._cli_decide",
    "reject": "railgraph._cli_decide",
    "resume": "railgraph._cli_review",
    "cancel": "railgraph._cli_review",
    "run": "railgraph._cli_start",
    "runs": "railgraph._cli_runs",
    "show": "railgraph._cli_runs",
    "spec": "railgraph._cli_runs",
    "serve": "railgraph._cli_web",
    "users": "railgraph._cli_web",
}
"""Every command and the module that defines it, in the order ``--help`` lists them."""

_WITHOUT_GC = frozenset({"runs", "show", "pending"})
"""Commands that only read and end soon, so start-up is most of their work (see `main`)."""

DEBUG_ENV = "RAILGRAPH_DEBUG"
"""Set to 1 to see the Python traceback of an unexpected error instead of a message."""


def load_commands(names: Iterable[str] | None = None) -> typer.Typer:
    """The app with the commands ``names`` registered (every command when None).

    A command line runs one command, and typer builds the parameters of every registered
    command on each call: registering only the one named saves that, and importing the
    other commands' modules, from every command's start-up. A module defines commands
    with `_cli_app.command`; only the named ones are registered.
    """
    from railgraph import _cli_app

    wanted = set(COMMANDS) if names is None else set(names)
    for module in sorted({COMMANDS[name] for name in wanted}):
        importlib.import_module(module)
    # In the table's order: the order `--help` lists them in.
    return _cli_app.register(name for name in COMMANDS if name in wanted)


def __getattr__(name: str) -> Any:
    # `app` is the app with every command, for callers that drive it in-process.
    if name == "app":
        return load_commands()
    raise AttributeError(f"module 'railgraph._cli' has no attribute {name!r}")


OPTIONS_WITH_VALUES = frozenset({"--db"})
"""The app's own options that take a value (``--db PATH``): the command comes after it."""


def _named_command(args: list[str]) -> str | None:
    """The command a command line names, if it is a known one: the first argument that is
    neither an option of the app's own nor such an option's value."""
    rest = iter(args)
    for arg in rest:
        if arg in OPTIONS_WITH_VALUES:
            next(rest, None)
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main() -> None:
    """Entry point of the ``railgraph`` console script.

    Errors railgraph expects are printed by the commands (exit 2 for misuse). Anything
    else is a bug: it is printed as one line saying so, with exit 1, unless
    ``RAILGRAPH_DEBUG=1`` asks for the traceback.
    """
    # No command, or one that is not known: every command, for `--help` and Click's advice.
    command = _named_command(sys.argv[1:])
    if command is None or command in _WITHOUT_GC:
        # Start-up imports make tens of thousands of objects that live until the process
        # ends; the cyclic collector's passes over them cost about a tenth of the CPU of a
        # command that ends right after start-up, as help and the brief reading commands
        # do (reference counting frees what they make). Commands that drive graphs, load
        # them or serve keep the collector.
        gc.disable()
    app = load_commands(None if command is None else [command])
    from railgraph._cli_app import err
    from railgraph._cli_text import esc

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
