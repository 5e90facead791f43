"""The runs list and a run's page, with cancel and resume."""

from __future__ import annotations

from typing import cast, get_args

from starlette.requests import Request
from starlette.responses import Response

from railgraph._outcome import RunStatus
from railgraph.web._auth import Principal
from railgraph.web._decide import DecideError, cancel, resume
from railgraph.web._guard import form_text, guard
from railgraph.web._state import web
from railgraph.web._views import Card, card, paged, run_view

__all__ = ["cancel_page", "render_run", "resume_page", "run_page", "runs_page"]

STATUSES: tuple[str, ...] = get_args(RunStatus)


async def runs_page(request: Request) -> Response:
    """GET /runs: runs, newest first, filtered by status and graph, paged."""
    user = await guard(request)
    if not isinstance(user, Principal):
        return user
    state = web(request)
    query = request.query_params
    status = query.get("status", "")
    graph = query.get("graph", "").strip()
    try:
        number = max(1, int(query.get("page", "1")))
    except ValueError:
        number = 1
    size = state.settings.page_size
    records = await state.runner.store.list_runs(
        status=cast(RunStatus, status) if status in STATUSES else None,
        graph=graph or None,
        limit=number * size + 1,
    )
    return await state.page(
        request,
        "runs.html",
        {
            "page": paged(records, number, size),
            "status": status if status in STATUSES else "",
            "graph": graph,
            "statuses": STATUSES,
        },
        user=user,
    )


async def render_run(
    request: Request,
    user: Principal,
    run_id: str,
    *,
    override: Card | None = None,
    status: int = 200,
    cancel_error: str | None = None,
    here: str | None = None,
) -> Response:
    """A run's page: diagram, pending requests, timeline, tool calls, decisions and spend."""
    state = web(request)
    record = await state.runner.store.get_run(run_id)
    if record is None:
        return state.refused(user, 404, f"no run {run_id!r} in this database; see the list of runs")
    view = await run_view(state, record)
    shown = [await card(state, a) for a in view.pop("pending")]
    if override is not None:
        mine = override.record.request_id
        shown = [override if c.record.request_id == mine else c for c in shown]
    return await state.page(
        request,
        "run.html",
        {**view, "cards": shown, "cancel_error": cancel_error, "here": here},
        user=user,
        status=status,
    )


async def run_page(request: Request) -> Response:
    """GET /runs/{run_id}."""
    user = await guard(request)
    if not isinstance(user, Principal):
        return user
    return await render_run(request, user, request.path_params["run_id"])


async def cancel_page(request: Request) -> Response:
    """POST /runs/{run_id}/cancel: stop the run for good (admins only; a reason is required)."""
    state = web(request)
    form = await request.form()
    user = await guard(request, form=form)
    if not isinstance(user, Principal):
        return user
    run_id = request.path_params["run_id"]
    try:
        outcome = await cancel(state, run_id, user=user, reason=form_text(form, "reason"))
    except DecideError as exc:
        if exc.status != 400:
            return state.refused(user, exc.status, str(exc))
        return await render_run(
            request, user, run_id, status=exc.status, cancel_error=str(exc), here=f"/runs/{run_id}"
        )
    return state.back(f"/runs/{run_id}", f"run {run_id} is now {outcome.status}")


async def resume_page(request: Request) -> Response:
    """POST /runs/{run_id}/resume: continue a run a crash interrupted."""
    state = web(request)
    form = await request.form()
    user = await guard(request, form=form)
    if not isinstance(user, Principal):
        return user
    run_id = request.path_params["run_id"]
    try:
        outcome = await resume(state, run_id)
    except DecideError as exc:
        return state.refused(user, exc.status, str(exc))
    return state.back(f"/runs/{run_id}", f"run {run_id} resumed; it is now {outcome.status}")
