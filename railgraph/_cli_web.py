"""Commands for the review page: ``serve``, and ``users`` (add people, issue API tokens)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from railgraph._cli_app import (
    CommandGroup,
    DbOpt,
    JsonOpt,
    command,
    err,
    group,
    out,
    print_json,
    when,
    with_runner,
)
from railgraph._settings import default_db
from railgraph.errors import InputError, RailgraphError
from railgraph.web._settings import DEFAULT_HOST, DEFAULT_PORT, WebSettings, check_host

if TYPE_CHECKING:
    from railgraph.checkpointers import UserRole

__all__: list[str] = []

users_app = typer.Typer(
    name="users",
    cls=CommandGroup,
    help="People who may sign in to the review page, and API tokens for bots and scripts.",
    no_args_is_help=True,
)
group(users_app)

MIN_PASSWORD = 8


def _read_password() -> str:
    """The new password: typed twice at a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise InputError("the two passwords differ; run the command again")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"the password must be at least {MIN_PASSWORD} characters; pipe it on standard "
            "input, e.g. `printf '%s\\n' \"$PASSWORD\" | railgraph users add alice`"
        )
    return password


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The name decisions are recorded under.")],
    role: Annotated[
        str, typer.Option("--role", help="reviewer (read and decide) or admin (also cancel).")
    ] = "reviewer",
    db: DbOpt = None,
) -> None:
    """Add a user; the password is read from standard input (typed twice at a terminal)."""
    if role not in ("reviewer", "admin"):
        err.print(f"[red]error:[/red] unknown role {role!r}; use reviewer or admin")
        raise typer.Exit(2)
    chosen: UserRole = "admin" if role == "admin" else "reviewer"

    try:
        password = _read_password()
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    from railgraph.web._auth import hash_password  # here: `--help` loads no web stack

    hashed = hash_password(password)
    added = with_runner(
        db,
        lambda runner: runner.saver.users.add_user(name, role=chosen, password_hash=hashed),
    )
    out.print(f"added {added.role} {added.name}", highlight=False, markup=False)


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    db: DbOpt = None,
) -> None:
    """Issue an API token for a user and print it (only its hash is stored)."""
    from railgraph.web._auth import digest, new_secret  # here: `--help` loads no web stack

    token = new_secret()
    with_runner(db, lambda runner: runner.saver.users.add_token(name, digest(token)))
    sys.stdout.write(token + "\n")


@users_app.command("list")
def users_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List users and their roles."""
    users = with_runner(db, lambda runner: runner.saver.users.list_users())
    if as_json:
        print_json([{"name": u.name, "role": u.role, "created_at": u.created_at} for u in users])
        return
    for u in users:
        out.print(f"{u.name}  {u.role}  added {when(u.created_at)}", highlight=False, markup=False)
    if not users:
        out.print("no users; add one with `railgraph users add NAME`", markup=False)


async def _count_users(db: str | Path | None) -> int:
    from railgraph.checkpointers import SqliteCheckpointer  # here: it loads LangGraph

    async with SqliteCheckpointer.from_path(db if db is not None else default_db()) as saver:
        return len(await saver.users.list_users())


@command
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; others need users to exist.")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
    trusted_header: Annotated[
        str | None,
        typer.Option(
            "--trusted-header",
            help="Trust this header (set by your reverse proxy) to name the signed-in user.",
        ),
    ] = None,
    session_hours: Annotated[
        float, typer.Option("--session-hours", help="How long a sign-in lasts.")
    ] = 8.0,
    poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", help="How often open pages look for changes.")
    ] = 2.0,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Send cookies over HTTPS only.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Serve the review page and the HTTP API (sign-in required for everything)."""
    import asyncio  # here: `--help` and the other commands do not load it

    try:
        check_host(host, users=asyncio.run(_count_users(db)), trusted_header=trusted_header)
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    settings = WebSettings(
        db=db,
        session_hours=session_hours,
        trusted_header=trusted_header,
        poll_seconds=poll_seconds,
        secure_cookies=secure_cookies,
    )
    err.print(f"railgraph: serving http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
    import uvicorn  # here: only `serve` needs the server and the app

    from railgraph.web import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
