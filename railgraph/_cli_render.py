"""The render command: diagrams of a graph, a run, traffic over runs, or a diff."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from railgraph._cli_app import (
    DbOpt,
    command,
    fail,
    out,
)
from railgraph._cli_text import plain
from railgraph.errors import InputError, RailgraphError

if TYPE_CHECKING:
    from railgraph.visualize import Diagram, RunPath

__all__: list[str] = ["FORMAT_HELP"]

FORMAT_HELP = ".dot, .mmd, .svg, .png, .html"
"""The formats `railgraph.visualize.FORMATS` knows, for `--help`, which must not import `visualize`
(it loads LangGraph); a test checks the two agree."""


@command
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
            help=f"File to write; its extension picks the format: {FORMAT_HELP}.",
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
    import asyncio

    from railgraph.visualize import (  # here: drawing loads graphs and LangGraph, `--help` does not
        FORMATS,
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

    try:
        fmt = output_format(output)
        if output.is_dir():
            raise InputError(
                f"-o {output} is a folder; name a file in it, e.g. {output / ('graph.' + fmt)}"
            )
        if not output.parent.is_dir():
            raise InputError(
                f"-o {output}: the folder {output.parent} does not exist; create it first "
                "(render never creates folders)"
            )
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
        fail(exc)
    out.print(f"wrote {plain(written)} ({FORMATS[fmt]})", highlight=False, markup=False)
