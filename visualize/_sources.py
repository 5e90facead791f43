"""Where diagrams get their data: graph references, saved specs, and the run database.

A reference ``module:attribute`` names a railgraph graph or a compiled plain LangGraph graph;
a path to a JSON file names a spec saved with ``railgraph spec REF > FILE``. Runs are read from
the database, never run: a railgraph run from the run store's events, a plain LangGraph
thread from its checkpoints.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from railgraph._graph import RailGraph
from railgraph._report import display_redactor
from railgraph._settings import default_db, import_ref, is_postgres_url
from railgraph._spec import GraphSpec
from railgraph.checkpointers import (
    ApprovalRecord,
    EventRecord,
    RunRecord,
    SqliteCheckpointer,
    model_types,
)
from railgraph.errors import InputError
from railgraph.visualize._checkpoints import (
    path_from_checkpoints,
    read_checkpoints,
    spec_from_langgraph,
)
from railgraph.visualize._path import RunPath, path_from_events

__all__ = ["GraphSource", "load_source", "load_spec", "read_run", "read_runs"]


@dataclass(frozen=True)
class GraphSource:
    """A graph to draw: its reference and spec, and whether railgraph built it."""

    ref: str
    """The ``module:attribute`` reference (or the spec file's path)."""
    spec: GraphSpec
    """The designed graph."""
    plain: bool = False
    """True for a plain LangGraph graph: its runs are read from checkpoints."""
    types: tuple[type, ...] = ()
    """For a plain graph: its state's classes, the only ones (with LangGraph's safe types)
    its checkpoints may name when they are read."""


def load_source(ref: str) -> GraphSource:
    """The graph a reference names: a railgraph graph, or a compiled LangGraph graph.

    Raises:
        InputError: The reference is malformed or names something else.
    """
    value = import_ref(ref)
    if isinstance(value, RailGraph):
        return GraphSource(ref=ref, spec=value.spec)
    if callable(getattr(value, "get_graph", None)) and hasattr(value, "checkpointer"):
        name = ref.partition(":")[2]
        schemas = getattr(getattr(value, "builder", None), "schemas", None) or {}
        types = {t for schema in schemas for t in model_types(schema)}
        return GraphSource(
            ref=ref,
            spec=spec_from_langgraph(value, name=name),
            plain=True,
            types=tuple(sorted(types, key=lambda t: (t.__module__, t.__qualname__))),
        )
    raise InputError(
        f"{ref} is a {type(value).__name__}, neither a railgraph graph nor a compiled LangGraph "
        "graph; point at GraphBuilder(...).build() or StateGraph(...).compile()"
    )


def load_spec(ref_or_file: str) -> GraphSource:
    """A graph from a reference, or from a spec JSON file written by ``railgraph spec``.

    Raises:
        InputError: The file is not a spec, or the reference cannot be loaded.
    """
    path = Path(ref_or_file)
    if path.suffix.lower() == ".json" or (path.exists() and ":" not in ref_or_file):
        if not path.is_file():
            raise InputError(
                f"no spec file {ref_or_file!r}; write one with `railgraph spec REF > FILE`"
            )
        return GraphSource(ref=ref_or_file, spec=GraphSpec.from_json(path.read_text()))
    return load_source(ref_or_file)


def _database(db: str | Path | None) -> str | Path:
    where = db if db is not None else default_db()
    if is_postgres_url(where):
        return where  # the server says whether it holds a store
    path = Path(where)
    if not path.is_file():
        raise InputError(
            f"no database at {path}; pass --db PATH (or set RAILGRAPH_DB) to the file the "
            "runs were stored in"
        )
    return path


def _redacted_path(
    spec: GraphSpec,
    record: RunRecord,
    events: list[EventRecord],
    approvals: list[ApprovalRecord],
) -> RunPath:
    """A run's path with its secrets redacted: diagrams and HTML reports are for people."""
    redactor = display_redactor()
    return path_from_events(
        spec,
        redactor.run(record),
        [redactor.event(e) for e in events],
        [redactor.approval(a) for a in approvals],
    )


async def read_run(source: GraphSource, run_id: str, db: str | Path | None = None) -> RunPath:
    """One run of ``source`` as a path: a railgraph run, or a plain graph's thread.

    Raises:
        InputError: No database, no such run or thread, or a run of another graph.
    """
    async with SqliteCheckpointer.from_path(
        _database(db), read_only=True, allowed_types=source.types
    ) as saver:
        if source.plain:
            checkpoints = await read_checkpoints(saver, run_id)
            if not checkpoints:
                raise InputError(
                    f"thread {run_id!r} has no checkpoints in this database; pass the "
                    "thread_id the graph ran with, and --db for its checkpointer's file"
                )
            return path_from_checkpoints(source.spec, run_id, checkpoints)
        record = await saver.store.get_run(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in this database; list runs with `railgraph runs`")
        if record.graph != source.ref and record.graph_name != source.spec.name:
            raise InputError(
                f"run {run_id} is a run of {record.graph}, not of {source.ref}; render it "
                f"with `railgraph render {shlex.quote(record.graph)} --run {shlex.quote(run_id)}`"
            )
        events = await saver.store.list_events(run_id)
        approvals = await saver.store.list_approvals(run_id=run_id, status=None)
        return _redacted_path(source.spec, record, events, approvals)


async def read_runs(source: GraphSource, limit: int, db: str | Path | None = None) -> list[RunPath]:
    """The last ``limit`` runs of ``source``, oldest first.

    Raises:
        InputError: No database, a plain LangGraph graph (it has no run records), or no runs.
    """
    if source.plain:
        raise InputError(
            f"{source.ref} is a plain LangGraph graph: its threads have no run records to "
            "aggregate; draw one thread with --run THREAD_ID"
        )
    if limit < 1:
        raise InputError(f"--runs must be at least 1, got {limit}")
    async with SqliteCheckpointer.from_path(_database(db), read_only=True) as saver:
        records = await saver.store.list_runs(graph=source.ref, limit=limit)
        if not records:
            records = await saver.store.list_runs(graph=source.spec.name, limit=limit)
        if not records:
            raise InputError(
                f"no runs of {source.ref} in this database; start some with "
                f"`railgraph run {source.ref}`"
            )
        paths = []
        for record in reversed(records):
            events = await saver.store.list_events(record.run_id)
            approvals = await saver.store.list_approvals(run_id=record.run_id, status=None)
            paths.append(_redacted_path(source.spec, record, events, approvals))
        return paths
