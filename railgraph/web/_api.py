"""The HTTP API under ``/api``, for chat bots and scripts, with bearer tokens.

Bodies are JSON in the shapes of the CLI's ``--json``; an error is ``{"error": message}`` with
the runner's message and the status that fits: 400 malformed, 401 no or unknown token, 403 not
allowed, 404 unknown run or request, 409 already decided or not in a state to be decided.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from railgraph._cli_app import pending_json
from railgraph._outcome import RunStatus
from railgraph._report import trace
from railgraph.vocab import shown
from railgraph.web._auth import Principal
from railgraph.web._decide import DecideError, cancel, decide, decision_of, resume
from railgraph.web._state import WebState, web

__all__ = ["api_cancel", "api_decide", "api_pending", "api_resume", "api_run", "api_runs"]

Handler = Callable[[Request, WebState, Principal], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="railgraph"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _signed(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = web(request)
        user = await state.who(request, api=True)
        if user is None:
            return _error(
                401,
                "no valid API token; send 'Authorization: Bearer TOKEN' with a token from "
                "`railgraph users token NAME`",
            )
        try:
            return await handler(request, state, user)
        except DecideError as exc:
            return _error(exc.status, str(exc))

    endpoint.__doc__ = handler.__doc__
    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object.

    Raises:
        DecideError: The body is not a JSON object (400).
    """
    try:
        value = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DecideError(f"the body is not valid JSON ({exc}); send a JSON object", 400) from None
    if not isinstance(value, dict):
        raise DecideError('the body must be a JSON object, e.g. {"decision": "approve"}', 400)
    return value


@_signed
async def api_pending(request: Request, state: WebState, user: Principal) -> Response:
    """GET /api/pending[?graph=G]: the queue, as ``railgraph pending --json``."""
    graph = request.query_params.get("graph") or None
    pending = await state.op(lambda: state.runner.pending(graph=graph))
    # As `railgraph pending --json` without --diagrams: no drawing was written.
    return JSONResponse([{**pending_json(p), "diagram": None} for p in pending])


@_signed
async def api_runs(request: Request, state: WebState, user: Principal) -> Response:
    """GET /api/runs[?status=S&graph=G&limit=N]: runs newest first, as ``railgraph runs --json``."""
    query = request.query_params
    status = query.get("status")
    if status is not None and status not in {s.value for s in RunStatus}:
        raise DecideError(f"unknown status {status!r}; use one of {', '.join(RunStatus)}", 400)
    try:
        limit = int(query.get("limit", "50"))
    except ValueError:
        given = query.get("limit")
        raise DecideError(f"limit must be a whole number, not {given!r}", 400) from None
    records = await state.runner.store.list_runs(
        status=None if status is None else RunStatus(status),
        graph=query.get("graph") or None,
        limit=limit,
    )
    # Python's form, then shown: JSON's form would turn a NaN in an input into null.
    return JSONResponse([shown(r.model_dump()) for r in records])


@_signed
async def api_run(request: Request, state: WebState, user: Principal) -> Response:
    """GET /api/runs/{run_id}: the run's trace, as ``railgraph show RUN --json``."""
    run_id = request.path_params["run_id"]
    store = state.runner.store
    record = await store.get_run(run_id)
    if record is None:
        raise DecideError(
            f"no run {run_id!r} in this database; list runs with `railgraph runs`", 404
        )
    events = await store.list_events(run_id)
    approvals = await store.list_approvals(run_id=run_id, status=None)
    return JSONResponse(json.loads(json.dumps(trace(record, events, approvals), default=str)))


@_signed
async def api_decide(request: Request, state: WebState, user: Principal) -> Response:
    """POST /api/runs/{run_id}/decisions: approve, edit or reject a request as the token's user.

    Body: ``{"request_id": ..., "decision": "approve" | "edit" | "reject", "args": {...},
    "reason": "..."}``, or for an effect a crash left unknown ``{"decision": "happened",
    "result": {...}}``; answers with the run's outcome, as ``railgraph approve --json``.
    """
    run_id = request.path_params["run_id"]
    body = await _body(request)
    request_id = body.get("request_id")
    args = body.get("args")
    reason = body.get("reason")
    if request_id is not None and not isinstance(request_id, str):
        raise DecideError("request_id must be a string; see GET /api/pending", 400)
    if args is not None and not isinstance(args, dict):
        raise DecideError('args must be a JSON object, e.g. {"amount": 50}', 400)
    if reason is not None and not isinstance(reason, str):
        raise DecideError("reason must be a string", 400)
    result = body.get("result")
    if result is not None and not isinstance(result, dict):
        raise DecideError('result must be a JSON object, e.g. {"refund_id": 7}', 400)
    decision = decision_of(
        str(body.get("decision", "")), user, args=args, reason=reason, result=result
    )
    outcome = await decide(state, run_id, decision, user=user, request_id=request_id)
    return JSONResponse(outcome.to_json())


@_signed
async def api_cancel(request: Request, state: WebState, user: Principal) -> Response:
    """POST /api/runs/{run_id}/cancel ``{"reason": ...}``: stop the run (admins only)."""
    body = await _body(request)
    reason = body.get("reason")
    outcome = await cancel(
        state,
        request.path_params["run_id"],
        user=user,
        reason=reason if isinstance(reason, str) else "",
    )
    return JSONResponse(outcome.to_json())


@_signed
async def api_resume(request: Request, state: WebState, user: Principal) -> Response:
    """POST /api/runs/{run_id}/resume: continue an interrupted run."""
    outcome = await resume(state, request.path_params["run_id"])
    return JSONResponse(outcome.to_json())


async def api_missing(request: Request) -> Response:
    """Any other path under /api."""
    return _error(404, f"no API route {request.method} {request.url.path}; see the README")
