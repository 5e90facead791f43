"""The web app: routes, security headers, and the runner opened for the app's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from railgraph._runner import Runner
from railgraph.web import _api as api
from railgraph.web._auth import new_secret
from railgraph.web._pages_auth import live, signin_form, signin_submit, signout, users_page
from railgraph.web._pages_graphs import graph_page, graphs_page
from railgraph.web._pages_queue import decide_page, queue_page
from railgraph.web._pages_runs import cancel_page, resume_page, run_page, runs_page
from railgraph.web._settings import WebSettings
from railgraph.web._state import WebState

__all__ = ["create_app"]

_STATIC = Path(__file__).parent / "static"

# No inline scripts: a value that slipped past escaping still could not run. (Graphviz's SVG
# carries style attributes, so styles may be inline.)
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


async def _secure(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _home(request: Request) -> Response:
    return RedirectResponse("/queue", status_code=303)


def create_app(settings: WebSettings | None = None) -> Starlette:
    """The review page and HTTP API on the database ``settings.db``.

    The runner opens when the app starts and closes when it stops (uvicorn and Starlette's
    ``TestClient`` both run the app's lifespan).
    """
    settings = settings or WebSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Runner.open(settings.db, clock=settings.clock) as runner:
            app.state.web = WebState(runner=runner, settings=settings, header_secret=new_secret())
            yield

    routes = [
        Route("/", _home),
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin_submit, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/queue", queue_page),
        Route("/runs", runs_page),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/requests/{request_id}", decide_page, methods=["POST"]),
        Route("/runs/{run_id}/cancel", cancel_page, methods=["POST"]),
        Route("/runs/{run_id}/resume", resume_page, methods=["POST"]),
        Route("/graphs", graphs_page),
        Route("/graphs/{ref}", graph_page, methods=["GET", "POST"]),
        Route("/users", users_page),
        Route("/live", live),
        Route("/api/pending", api.api_pending),
        Route("/api/runs", api.api_runs),
        Route("/api/runs/{run_id}", api.api_run),
        Route("/api/runs/{run_id}/decisions", api.api_decide, methods=["POST"]),
        Route("/api/runs/{run_id}/cancel", api.api_cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/resume", api.api_resume, methods=["POST"]),
        Route("/api/{rest:path}", api.api_missing, methods=["GET", "POST", "PUT", "DELETE"]),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=_secure)],
        lifespan=lifespan,
    )
