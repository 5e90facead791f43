"""The graphs: which graphs have runs, a graph as designed, its traffic, and a diff."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from railgraph._spec import GraphSpec
from railgraph.errors import RailgraphError
from railgraph.web._auth import Principal
from railgraph.web._guard import form_text, guard
from railgraph.web._state import web
from railgraph.web._views import graph_of

__all__ = ["graph_page", "graphs_page"]

_RUNS_SCANNED = 1000
_MAX_TRAFFIC = 200
_MAX_SPEC_BYTES = 1_000_000


async def graphs_page(request: Request) -> Response:
    """GET /graphs: every graph with runs in this database, with its run count by status."""
    user = await guard(request)
    if not isinstance(user, Principal):
        return user
    state = web(request)
    runs = await state.runner.store.list_runs(limit=_RUNS_SCANNED)
    counts: dict[str, Counter[str]] = {}
    names: dict[str, str] = {}
    for r in runs:
        counts.setdefault(r.graph, Counter())[r.status] += 1
        names[r.graph] = r.graph_name
    graphs = [
        {"ref": ref, "name": names[ref], "runs": sum(c.values()), "statuses": dict(c)}
        for ref, c in sorted(counts.items())
    ]
    return await state.page(request, "graphs.html", {"graphs": graphs}, user=user)


async def _spec_from_form(form: FormData) -> tuple[GraphSpec | None, str | None, str]:
    """The saved spec a reviewer uploaded or pasted, or why it cannot be read."""
    upload = form.get("spec")
    text = form_text(form, "spec_text")
    name = "pasted spec"
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(_MAX_SPEC_BYTES + 1)
        if len(data) > _MAX_SPEC_BYTES:
            return None, "the spec file is over 1 MB; is it a spec from `railgraph spec`?", name
        text, name = data.decode(errors="replace"), upload.filename
    if not text.strip():
        return None, "choose a spec file written by `railgraph spec REF > FILE`", name
    try:
        return GraphSpec.from_json(text), None, name
    except RailgraphError as exc:
        return None, f"{name} is {exc}", name


async def graph_page(request: Request) -> Response:
    """GET /graphs/{ref}: designed diagram and traffic; POST with a saved spec: the diff too."""
    if request.method != "POST":
        return await _graph_page(request, None)
    async with request.form() as form:  # closes an uploaded file's temporary file
        return await _graph_page(request, form)


async def _graph_page(request: Request, form: FormData | None) -> Response:
    state = web(request)
    user = await guard(request, form=form)
    if not isinstance(user, Principal):
        return user
    ref = request.path_params["ref"]
    rail = graph_of(state, ref)
    if rail is None:
        return state.refused(
            user,
            404,
            f"graph {ref!r} cannot be imported by this server; start `railgraph serve` from "
            "the project's directory so that its module is on the import path",
        )
    try:
        count = min(_MAX_TRAFFIC, max(1, int(request.query_params.get("runs", "20"))))
    except ValueError:
        count = 20
    store = state.runner.store
    records = await store.list_runs(graph=ref, limit=count)
    runs = []
    for r in reversed(records):
        events = await store.list_events(r.run_id)
        runs.append((r, events, await store.list_approvals(run_id=r.run_id, status=None)))
    design, no_design = await state.drawings.design(rail.spec)
    traffic: str | None = None
    no_traffic: str | None = "no runs of this graph yet"
    if runs:
        traffic, no_traffic = await state.drawings.traffic(rail.spec, runs)
    context: dict[str, Any] = {
        "ref": ref,
        "graph": rail,
        "design": design,
        "no_design": no_design,
        "traffic": traffic,
        "no_traffic": no_traffic,
        "count": count,
        "shown_runs": len(runs),
        "diff": None,
        "diff_error": None,
    }
    status = 200
    if form is not None:
        old, error, name = await _spec_from_form(form)
        if old is None:
            context["diff_error"], status = error, 400
        else:
            diff, why = await state.drawings.diff(old, rail.spec, old_name=name, new_name=ref)
            context["diff"], context["diff_error"] = diff, why
            context["changes"] = old.changes(rail.spec)
    return await state.page(request, "graph.html", context, user=user, status=status)
