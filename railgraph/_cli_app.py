"""What the ``railgraph`` commands share: the typer app, consoles, options and output helpers.

The JSON that commands take as input is read by `_cli_input`."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from railgraph._cli_text import esc, plain, quote
from railgraph._settings import DB_ENV, db_exists, default_db, is_postgres_url
from railgraph.errors import RailgraphError
from railgraph.vocab import ENDED, ReviewKind, RunStatus

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

    from railgraph._runner import Runner, RunOutcome

    # Only for annotations. Commands that only read never import the runner (nor LangGraph),
    # and `--help` imports neither the store nor asyncio: what a command needs, it imports.
    from railgraph.checkpointers import ApprovalRecord, RunStore

__all__ = [
    "FAILED",
    "CommandGroup",
    "DbOpt",
    "JsonOpt",
    "RequestOpt",
    "app",
    "clip",
    "command",
    "err",
    "fail",
    "finish",
    "group",
    "out",
    "pending_json",
    "print_json",
    "print_pending",
    "register",
    "safe_file_name",
    "when",
    "with_runner",
    "with_store",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class CommandGroup(TyperGroup):
    """A group whose help lists each command with its whole first sentence, not cut at ~60
    characters with "..." as Click's plain help does."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="railgraph",
    cls=CommandGroup,
    help="Run agent graphs on rails: durable runs, budgets, verification and human approval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: Rich's panels import rich.markdown, rich.traceback and more,
    # as much again as `--help` costs without them (and Rich markup would swallow any square
    # brackets in a help text).
    rich_markup_mode=None,
)

_DEFINED: dict[str, Callable[..., Any] | typer.Typer] = {}
"""Every command (or group of commands) the imported modules define, by name."""
_REGISTERED: set[str] = set()
"""The names of those added to `app` so far."""


def command(fn: F) -> F:
    """Define a command of `app`, named after ``fn``; `register` adds it.

    Typer builds the parameters of every command an app holds each time it runs, and a
    module defines several: a command line adds the one it names, not its neighbours.
    """
    _DEFINED[fn.__name__.replace("_", "-")] = fn
    return fn


def group(commands: typer.Typer) -> None:
    """Define a group of commands (``railgraph users ...``); `register` adds it."""
    name = commands.info.name
    if not isinstance(name, str):
        raise TypeError("a group of commands needs a name: typer.Typer(name=...)")
    _DEFINED[name] = commands


def register(names: Iterable[str]) -> typer.Typer:
    """`app` with the commands ``names`` added, in that order (the order ``--help`` lists).

    Their modules must be imported first; a command added before stays, once.
    """
    for name in names:
        if name not in _REGISTERED:
            defined = _DEFINED[name]
            if isinstance(defined, typer.Typer):
                app.add_typer(defined)
            else:
                app.command()(defined)
            _REGISTERED.add(name)
    return app


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


# Piped output is read by people too (in CI logs, pagers): give tables room there. No emoji:
# Rich would turn a stored ":warning:" into a sign, even with markup off.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database file, or a PostgreSQL URL (postgresql://...); by default "
        "$RAILGRAPH_DB, else .railgraph/railgraph.db.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (a list for listings).")
]
RequestOpt = Annotated[
    str | None, typer.Option("--request", help="Which request, when a run has several pending.")
]
FAILED = ENDED - {RunStatus.COMPLETED}
"""Final statuses of a run that did not complete (its command exits 1)."""


def with_runner(
    db: str | Path | None, work: Callable[[Runner], Awaitable[T]], *, read_only: bool = False
) -> T:
    """Run ``work`` on a runner over ``db``; a railgraph error is printed and exits 2.

    ``read_only`` opens an existing database without creating or changing anything; when
    the default database does not exist yet, the command reads an empty store held in
    memory (a ``--db`` that does not exist is an error).
    """
    where: str | Path | None = db
    if read_only and db is None and not db_exists(default_db()):
        where, read_only = ":memory:", False  # nothing on disk to read, nothing to create

    import asyncio

    from railgraph._runner import Runner  # here: LangGraph loads only for commands that run

    async def go() -> T:
        async with Runner.open(where, read_only=read_only) as runner:
            return await work(runner)

    try:
        return asyncio.run(go())
    except RailgraphError as exc:
        fail(exc)


def with_store(db: str | Path | None, work: Callable[[RunStore], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` on the run store alone, read-only; a railgraph error is printed and exits 2.

    For commands that only read: neither LangGraph nor langchain-core is imported. A
    database file is read on this thread, without an event loop (``work`` awaits nothing
    but the store's reads); a PostgreSQL database through one. When the default database
    does not exist yet, the command reads an empty store in memory (a ``--db`` that does
    not exist is an error).
    """
    where: str | Path = db if db is not None else default_db()
    if db is None and not db_exists(where):
        where = ":memory:"  # nothing on disk to read, nothing to create

    from railgraph._report import display_redactor

    try:
        with _without_pydantic_plugins():
            if str(where) != ":memory:" and not is_postgres_url(where):
                from railgraph.checkpointers._read_now import open_file_now, read_now

                with open_file_now(where, redactor=display_redactor()) as store:
                    return read_now(work(store))

            import asyncio

            from railgraph.checkpointers import open_store

            async def go() -> T:
                async with open_store(where, redactor=display_redactor()) as store:
                    return await work(store)

            return asyncio.run(go())
    except RailgraphError as exc:
        fail(exc)


_PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"


@contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    """Build the store's record types without pydantic's plugins, as typer builds its own.

    The first record a command reads builds its type's validator, and pydantic then looks
    for plugins among the entry points of every installed distribution: a scan that costs
    a reading command a tenth of its start-up. The records read here are railgraph's own,
    from its own tables, and the process ends once they are printed.
    """
    before = os.environ.get(_PLUGINS_ENV)
    os.environ[_PLUGINS_ENV] = "__all__"
    try:
        yield
    finally:
        if before is None:
            del os.environ[_PLUGINS_ENV]
        else:
            os.environ[_PLUGINS_ENV] = before


def fail(exc: BaseException | str, code: int = 2) -> NoReturn:
    """Print an error (its text printed literally) and exit with ``code``."""
    err.print(f"[red]error:[/red] {esc(exc)}", highlight=False, markup=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def finish(outcome: RunOutcome, as_json: bool) -> None:
    from railgraph._report import display_redactor

    redactor = display_redactor()
    outcome = dataclasses.replace(
        outcome,
        result=redactor.redact(outcome.result),
        pending=[redactor.approval(p) for p in outcome.pending],
    )
    if as_json:
        print_json(outcome.to_json())
    else:
        colour = "red" if outcome.status in FAILED else "green"
        out.print(
            f"run [bold]{esc(outcome.run_id)}[/bold]: [{colour}]{esc(outcome.status)}[/{colour}]"
        )
        if outcome.reason:
            out.print(f"  reason: {plain(outcome.reason)}", highlight=False, markup=False)
        if outcome.pending:
            print_pending(outcome.pending)
    raise typer.Exit(1 if outcome.status in FAILED else 0)


def print_pending(
    pending: list[ApprovalRecord],
    drawn: dict[str, str | None] | None = None,
    now: float | None = None,
) -> None:
    per_run = Counter(p.run_id for p in pending)

    def line(text: str) -> None:
        out.print(text, highlight=False, markup=False)

    for p in pending:
        action = p.request.get("action") or {}
        spend = p.request.get("spend") or {}
        out.print(
            f"[bold]request {esc(p.request_id)}[/bold]  run {esc(p.run_id)} "
            f"({esc(p.request.get('graph', p.graph))})"
            f", gate {esc(p.node)}, since {when(p.created_at)}",
            highlight=False,
        )
        if action:
            line(
                f"  action:    {plain(action.get('tool'))} ({plain(action.get('tier'))}, policy "
                f"{plain(action.get('policy'))})"
            )
            line(f"  arguments: {plain(json.dumps(action.get('args'), sort_keys=True))}")
        else:
            line("  action:    let the run go on")
        line(f"  reason:    {plain(p.request.get('reason', ''))}")
        if p.request.get("call_id"):
            # A call an agent's model chose: which call, and what led to it.
            line(
                f"  call:      {plain(p.request['call_id'])} (turn {p.request.get('turn')}); "
                f"rule: {plain(p.request.get('rule'))}"
            )
            for said in p.request.get("conversation") or []:
                line(f"    {plain(said['role']):>6}: {plain(str(said.get('content', ''))[:160])}")
        line(
            f"  spent:     {spend.get('steps', 0):g} steps, {spend.get('tool_calls', 0):g} tool "
            f"calls, {spend.get('tokens', 0):g} tokens, ${spend.get('cost_usd', 0):.6f}"
        )
        if now is not None and p.expires_at is not None and p.expires_at <= now:
            line(
                f"  expired:   at {when(p.expires_at)}; `railgraph expire` gives its run the "
                "gate's timeout outcome"
            )
        run = quote(p.run_id)
        which = f" --request {quote(p.request_id)}" if per_run[p.run_id] > 1 else ""
        approve = f"railgraph approve {run}{which} --by NAME"
        if p.request.get("kind") == ReviewKind.UNKNOWN_EFFECT:
            # Send it again, say it happened (with what the target system shows), or stop.
            approve += f"  |  {approve} --happened RESULT"
        else:
            approve += " [--edit JSON]"
        reject = f"railgraph reject {run}{which} --by NAME --reason TEXT"
        line(f"  decide:    {approve}  |  {reject}")
        if drawn and drawn.get(p.run_id):
            line(f"  diagram:   {plain(drawn[p.run_id])}")


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,119}")


def safe_file_name(name: str) -> str:
    """``name`` as one file name: no directories, no dots first, nothing a shell would read.

    Ids from the Python API are free text; ``../x`` must not become a path out of a folder.
    """
    if _SAFE_NAME.fullmatch(name):
        return name
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)
    import hashlib

    # Distinct ids that clean to the same text keep distinct names.
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[:80]}-{digest}"


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
        "kind": p.request.get("kind", ReviewKind.APPROVAL.value),
        "call_id": p.request.get("call_id"),
        "turn": p.request.get("turn"),
        "rule": p.request.get("rule"),
        "conversation": p.request.get("conversation", []),
        "created_at": p.created_at,
        "expires_at": p.expires_at,
        "render": f"railgraph render {quote(p.graph)} --run {quote(p.run_id)} "
        f"-o {quote(safe_file_name(p.run_id) + '.svg')}",
    }
