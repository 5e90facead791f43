"""The queue page, and the decisions taken on its cards (also posted from a run's page)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from railgraph.web._auth import Principal
from railgraph.web._decide import DecideError, decide, decision_of
from railgraph.web._forms import EditForm, parse_edit
from railgraph.web._guard import form_text, guard
from railgraph.web._pages_runs import render_run
from railgraph.web._state import WebState, local_path, web
from railgraph.web._views import AGES, Card, QueueFilter, card, cards, graph_of, paged, tool_of

__all__ = ["decide_page", "queue_page", "render_queue"]

ARG_PREFIX = "arg."
"""Edit form inputs are named ``arg.<argument>``, apart from the form's own fields."""


async def render_queue(
    request: Request,
    user: Principal,
    query: dict[str, str],
    *,
    override: Card | None = None,
    status: int = 200,
    here: str | None = None,
) -> Response:
    """The queue: pending requests, oldest first, filtered and paged."""
    state = web(request)
    pending = await state.op(lambda: state.runner.pending())
    now = state.settings.clock()
    chosen = QueueFilter.of(query)
    kept = [p for p in pending if chosen.keep(p, now)]
    try:
        number = int(query.get("page", "1"))
    except ValueError:
        number = 1
    page = paged(kept, number, state.settings.page_size)
    shown = await cards(state, page.items)
    if override is not None:
        mine = override.record.request_id
        shown = [override if c.record.request_id == mine else c for c in shown]
        if not any(c.record.request_id == override.record.request_id for c in shown):
            shown.insert(0, override)
    choices = {
        "graph": sorted({str(p.request.get("graph", p.graph)) for p in pending}),
        "gate": sorted({p.node for p in pending}),
        "risk": sorted(
            {
                str((p.request.get("action") or {}).get("tier"))
                for p in pending
                if p.request.get("action")
            }
        ),
    }
    return await state.page(
        request,
        "queue.html",
        {
            "cards": shown,
            "page": page,
            "filter": chosen,
            "choices": choices,
            "ages": AGES,
            "now": now,
            "total_pending": len(pending),
            "here": here,
        },
        user=user,
        status=status,
    )


async def queue_page(request: Request) -> Response:
    """GET /queue."""
    user = await guard(request)
    if not isinstance(user, Principal):
        return user
    return await render_queue(request, user, dict(request.query_params))


async def _refused(
    request: Request,
    user: Principal,
    target: str,
    run_id: str,
    request_id: str,
    error: DecideError,
    form: EditForm | None,
    reason_error: bool,
) -> Response:
    """Show the page the decision came from again, the refusal next to the request."""
    state = web(request)
    approval = await state.runner.store.get_approval(request_id)
    if approval is None or approval.run_id != run_id:
        return state.refused(user, error.status, str(error))
    shown = await card(
        state,
        approval,
        form=form,
        error=None if reason_error else str(error),
        reason_error=str(error) if reason_error else None,
    )
    parts = urlsplit(target)
    if parts.path.startswith("/runs/"):
        return await render_run(
            request, user, run_id, override=shown, status=error.status, here=target
        )
    return await render_queue(
        request,
        user,
        dict(parse_qsl(parts.query)),
        override=shown,
        status=error.status,
        here=target,
    )


def _observed(text: str) -> dict[str, Any]:
    """The result a reviewer saw in the target system, as typed (a JSON object).

    Raises:
        DecideError: It is not a JSON object (400).
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecideError(
            f"the result observed is not JSON ({exc.msg}); enter it as a JSON object in the "
            "tool's output schema",
            400,
        ) from None
    if not isinstance(value, dict):
        raise DecideError('the result observed must be a JSON object, e.g. {"id": 7}', 400)
    return value


async def _edit(
    state: WebState, request_id: str, form: FormData
) -> tuple[EditForm | None, dict[str, Any]]:
    """The edit a card's form submits, checked against the tool's input schema.

    A form whose fields do not fit comes back with its errors and no arguments.

    Raises:
        DecideError: The tool's schema is unknown here (400).
    """
    approval = await state.runner.store.get_approval(request_id)
    if approval is None or approval.status != "pending":
        # Nothing to edit: the runner says why (no such request, or decided already).
        return None, {"_": None}
    action = approval.request.get("action") or {}
    tool = tool_of(graph_of(state, approval.graph), action)
    if tool is None:
        raise DecideError(
            f"the tool of request {request_id} is unknown here (its graph cannot be imported "
            "by this server), so its arguments cannot be checked; edit it with `railgraph "
            f"approve {approval.run_id} --request {request_id} --edit JSON`",
            400,
        )
    submitted = {
        k.removeprefix(ARG_PREFIX): v
        for k, v in form.multi_items()
        if k.startswith(ARG_PREFIX) and isinstance(v, str)
    }
    edit_form = parse_edit(tool.input, action.get("args") or {}, submitted)
    return edit_form, edit_form.edit


async def decide_page(request: Request) -> Response:
    """POST /runs/{run_id}/requests/{request_id}: approve, edit or reject from a card."""
    state = web(request)
    form = await request.form()
    user = await guard(request, form=form)
    if not isinstance(user, Principal):
        return user
    run_id = request.path_params["run_id"]
    request_id = request.path_params["request_id"]
    target = local_path(form_text(form, "next"))
    kind = form_text(form, "decision")
    reason = form_text(form, "reason")
    edit_form: EditForm | None = None
    args: dict[str, Any] | None = None
    try:
        if kind == "edit":
            edit_form, args = await _edit(state, request_id, form)
            if edit_form is not None and not edit_form.valid:
                message = edit_form.error or "some arguments do not fit the tool; see the fields"
                raise DecideError(message, 400)
        result = _observed(form_text(form, "result")) if kind == "happened" else None
        decision = decision_of(kind, user, args=args, reason=reason, result=result)
        outcome = await decide(state, run_id, decision, user=user, request_id=request_id)
    except DecideError as exc:
        return await _refused(
            request,
            user,
            target,
            run_id,
            request_id,
            exc,
            edit_form,
            reason_error=kind == "reject" and exc.status == 400,
        )
    done = {
        "approve": "approved",
        "edit": "approved with your edit",
        "reject": "rejected",
        "happened": "answered: the effect happened",
    }
    return state.back(
        target, f"request {request_id} {done[kind]}; run {run_id} is now {outcome.status}"
    )
