"""``railgraph profile`` (a graph's workload profile) and ``railgraph check`` (policy checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from railgraph._cli_app import DbOpt, JsonOpt, command, err, out, print_json
from railgraph._settings import default_db, is_postgres_url, load_graph
from railgraph.errors import InputError, RailgraphError

__all__: list[str] = []

RefArg = Annotated[
    str,
    typer.Argument(
        metavar="REF", help="Graph as module:attribute, e.g. railgraph.graphs.refund:graph."
    ),
]


@command
def profile(
    ref: RefArg,
    runs: Annotated[
        int,
        typer.Option("--runs", metavar="N", help="Figures from the graph's last N stored runs."),
    ] = 50,
    as_json: JsonOpt = False,
    as_md: Annotated[
        bool, typer.Option("--md", help="Print Markdown for a review document.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """The graph's workload profile: run, tools, memory, budget, trace, owner, and its runs."""
    # Here, not at the top: `--help` and the other commands load none of this.
    import asyncio

    from railgraph._profile import design_profile  # it loads LangGraph
    from railgraph._profile_text import profile_markdown

    try:
        if as_json and as_md:
            raise InputError("--json and --md print different forms; pass one of them")
        if runs < 0:
            raise InputError(f"--runs must be 0 or more, got {runs}")
        graph = load_graph(ref)
        data: dict[str, Any] = design_profile(graph, ref)
        where = db if db is not None else default_db()
        # A database that does not exist is not created: profiling only reads.
        if runs and (is_postgres_url(where) or Path(where).is_file()):
            data["runs"] = asyncio.run(_read_runs(where, ref, graph.name, runs))
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True)
        raise typer.Exit(2) from None
    if as_json:
        print_json(data)
    elif as_md:
        out.print(profile_markdown(data), markup=False, highlight=False, end="")
    else:
        from rich.markdown import Markdown  # here: slow to import, and only this form uses it

        out.print(Markdown(profile_markdown(data)))


async def _read_runs(path: str | Path, ref: str, name: str, limit: int) -> dict[str, Any]:
    from railgraph._profile_runs import read_runs_profile
    from railgraph.checkpointers import SqliteCheckpointer  # here: it loads LangGraph

    async with SqliteCheckpointer.from_path(path) as saver:
        return await read_runs_profile(saver.store, ref, name, limit)


@command
def check(ref: RefArg, as_json: JsonOpt = False) -> None:
    """Policy checks for CI: exit 1 if the graph breaks a rule, naming the node and the fix."""
    from railgraph._policy_checks import RULES, check_policies  # here: it loads LangGraph

    try:
        graph = load_graph(ref)
    except RailgraphError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True)
        raise typer.Exit(2) from None
    violations = check_policies(graph)
    if as_json:
        print_json(
            {
                "graph": graph.name,
                "ref": ref,
                "rules": {r: r not in graph.checks.skip for r in RULES},
                "violations": [v.to_json() for v in violations],
            }
        )
    elif not violations:
        ran = [r for r in RULES if r not in graph.checks.skip]
        skipped = (
            f", {len(RULES) - len(ran)} skipped by its checks config"
            if len(ran) < len(RULES)
            else ""
        )
        out.print(
            f"graph {graph.name} ({ref}): {len(ran)} rules passed{skipped}",
            highlight=False,
            markup=False,
        )
    else:
        noun = "violation" if len(violations) == 1 else "violations"
        out.print(
            f"graph {graph.name} ({ref}): {len(violations)} {noun}", highlight=False, markup=False
        )
        for v in violations:
            out.print(f"  {v.rule} at {v.node}: {v.message}", highlight=False, markup=False)
            out.print(f"    fix: {v.fix}", highlight=False, markup=False)
    raise typer.Exit(1 if violations else 0)
