"""The checks in front of every page: signed in, the right role, the form's CSRF token."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from railgraph.web._auth import Principal
from railgraph.web._state import web

__all__ = ["form_text", "guard"]


async def guard(
    request: Request, *, admin: bool = False, form: FormData | None = None
) -> Principal | Response:
    """The signed-in user, or the response that refuses the request.

    Not signed in: to the sign-in page (303). Not an admin where one is needed: 403. A
    submitted form without the user's CSRF token: 403, and nothing is done.
    """
    state = web(request)
    user = await state.who(request, api=False)
    if user is None:
        return state.signin_redirect(request)
    if admin and not user.admin:
        return state.refused(user, 403, f"{user.name} is a reviewer; this page is for admins only")
    if form is not None and not state.csrf_ok(user, form):
        return state.refused(
            user,
            403,
            "the form's CSRF token is missing or does not match your session; nothing was "
            "done — reload the page and try again",
        )
    return user


def form_text(form: FormData, name: str) -> str:
    """A text field of a submitted form ('' when missing or a file)."""
    value: Any = form.get(name)
    return value if isinstance(value, str) else ""
