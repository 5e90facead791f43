"""Signing in and out, the users page (admins), and the live-update fingerprint."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from railgraph.web._auth import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    Principal,
    check_password,
    digest,
    new_secret,
    same,
)
from railgraph.web._guard import form_text, guard
from railgraph.web._state import local_path, web

__all__ = ["live", "signin_form", "signin_submit", "signout", "users_page"]


async def _signin(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    state = web(request)
    token = request.cookies.get(SIGNIN_COOKIE) or new_secret()
    users = await state.runner.saver.users.list_users()
    response = await state.page(
        request,
        "signin.html",
        {
            "csrf": token,
            "next": local_path(request.query_params.get("next")),
            "error": error,
            "no_users": not users,
        },
        user=None,
        status=status,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/signin",
        secure=state.settings.secure_cookies,
    )
    return response


async def signin_form(request: Request) -> Response:
    """GET /signin."""
    return await _signin(request)


async def signin_submit(request: Request) -> Response:
    """POST /signin: check the name and password, open a session that expires."""
    state = web(request)
    form = await request.form()
    expected = request.cookies.get(SIGNIN_COOKIE)
    if expected is None or not same(form_text(form, "csrf"), expected):
        return await _signin(
            request,
            error="the sign-in form expired or its CSRF token does not match; try again",
            status=403,
        )
    users = state.runner.saver.users
    name = form_text(form, "name").strip()
    if state.signin_blocked(name):
        return await _signin(
            request,
            error="too many failed sign-ins for this name; wait 15 minutes and try again",
            status=429,
        )
    user = await users.get_user(name) if name else None
    if not check_password(user, form_text(form, "password")) or user is None:
        state.signin_failed(name)
        return await _signin(request, error="wrong name or password", status=401)
    session_id = new_secret()
    lifetime = state.settings.session_hours * 3600
    await users.add_session(
        user.name, session_hash=digest(session_id), csrf=new_secret(), lifetime_s=lifetime
    )
    response = RedirectResponse(local_path(form_text(form, "next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(lifetime),
        httponly=True,
        samesite="strict",
        path="/",
        secure=state.settings.secure_cookies,
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


async def signout(request: Request) -> Response:
    """POST /signout: end the session."""
    state = web(request)
    form = await request.form()
    user = await guard(request, form=form)
    if not isinstance(user, Principal):
        return user
    if user.session_hash is not None:
        await state.runner.saver.users.end_session(user.session_hash)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def users_page(request: Request) -> Response:
    """GET /users: who may sign in, with their roles (admins only)."""
    user = await guard(request, admin=True)
    if not isinstance(user, Principal):
        return user
    state = web(request)
    users = await state.runner.saver.users.list_users()
    return await state.page(request, "users.html", {"users": users}, user=user)


async def live(request: Request) -> Response:
    """GET /live: the fingerprint of the queue and runs, polled by open pages."""
    state = web(request)
    user = await state.who(request, api=False)
    if user is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    return JSONResponse({"version": await state.version()})
