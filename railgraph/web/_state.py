"""What every handler of the web app shares: the runner, settings, templates and guards.

Pages and the API reach it through :func:`web`. Operations that change runs (decide, cancel,
resume, and listing the queue, which expires overdue requests) go through :meth:`WebState.op`
one at a time, so two reviewers clicking at once are decided in turn by the one runner; the
store's compare-and-set keeps a request from being decided twice across processes too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from railgraph._runner import Runner
from railgraph.web._auth import Principal, identify, same
from railgraph.web._diagrams import Drawings
from railgraph.web._settings import WebSettings

__all__ = ["FLASH_COOKIE", "WebState", "local_path", "web"]

T = TypeVar("T")
FLASH_COOKIE = "railgraph_flash"
SIGNIN_ATTEMPTS = 5
"""Failed sign-ins for one name within `SIGNIN_WINDOW_S` after which it must wait."""
SIGNIN_WINDOW_S = 15 * 60
_HERE = Path(__file__).parent


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["compact"] = lambda v: json.dumps(v, sort_keys=True, default=str)
    env.filters["when"] = when
    env.filters["num"] = lambda v: f"{float(v or 0):g}"
    env.filters["spend"] = spend
    env.globals["with_page"] = with_page
    return env


def when(ts: float | None) -> str:
    """A unix time as UTC, to the second."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else ""


def spend(usage: Mapping[str, Any] | None) -> str:
    """What a run spent, in one line."""
    u = usage or {}
    return (
        f"{float(u.get('steps', 0)):g} steps, {float(u.get('llm_calls', 0)):g} LLM calls, "
        f"{float(u.get('tool_calls', 0)):g} tool calls, {float(u.get('tokens', 0)):g} tokens, "
        f"${float(u.get('cost_usd', 0)):.6f}"
    )


def with_page(here: str, number: int) -> str:
    """The current page's address with another page number (the filters kept)."""
    parts = urlsplit(here)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"]
    return urlunsplit(("", "", parts.path, urlencode([*query, ("page", str(number))]), ""))


def local_path(target: str | None, default: str = "/queue") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@dataclass
class WebState:
    """The web app's runner, settings and helpers."""

    runner: Runner
    """The one runner every page and API call goes through."""
    settings: WebSettings
    """How the server was started."""
    header_secret: str
    """Keys the CSRF tokens of users named by the trusted proxy header."""
    templates: Environment = field(default_factory=_templates)
    """The pages' Jinja templates (autoescaped)."""
    drawings: Drawings = field(default_factory=Drawings)
    """Diagrams, cached per run."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises operations that change runs."""
    failed_signins: dict[str, list[float]] = field(default_factory=dict)
    """When each name's recent sign-ins failed (in this process), to slow down guessing."""

    def signin_blocked(self, name: str) -> bool:
        """Whether ``name`` failed to sign in too often lately; forgets old failures."""
        since = self.settings.clock() - SIGNIN_WINDOW_S
        key = name.strip().casefold()
        recent = [t for t in self.failed_signins.get(key, []) if t > since]
        self.failed_signins[key] = recent
        return len(recent) >= SIGNIN_ATTEMPTS

    def signin_failed(self, name: str) -> None:
        """Count a failed sign-in for ``name``."""
        self.failed_signins.setdefault(name.strip().casefold(), []).append(self.settings.clock())

    async def op(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run an operation that changes runs, one at a time."""
        async with self.lock:
            return await work()

    async def who(self, request: Request, *, api: bool) -> Principal | None:
        """The signed-in user of a request, if any."""
        return await identify(
            request,
            self.runner.saver.users,
            api=api,
            trusted_header=self.settings.trusted_header,
            header_secret=self.header_secret,
        )

    async def version(self) -> str:
        """A short fingerprint of the queue and the latest runs; it changes when they do."""
        store = self.runner.store
        pending = await store.list_approvals(status="pending")
        runs = await store.list_runs(limit=200)
        text = json.dumps(
            [[p.request_id for p in pending], [(r.run_id, r.status, r.updated_at) for r in runs]]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    async def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        user: Principal | None,
        status: int = 200,
    ) -> HTMLResponse:
        """Render a page with what every page shows: the user, their CSRF token, a flash."""
        flash = request.cookies.get(FLASH_COOKIE)
        html = self.templates.get_template(template).render(
            {
                **{k: v for k, v in context.items() if k != "here"},
                "user": user,
                "csrf": user.csrf if user is not None else context.get("csrf", ""),
                "flash": flash,
                # After a refused form, the page it came from (not the form's address).
                "here": context.get("here")
                or request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                "poll_ms": int(self.settings.poll_seconds * 1000),
                "version": await self.version() if user is not None else "",
            }
        )
        response = HTMLResponse(html, status_code=status)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def back(self, target: str, flash: str) -> RedirectResponse:
        """Go to a page after a form, with one sentence to show there."""
        response = RedirectResponse(local_path(target), status_code=303)
        response.set_cookie(
            FLASH_COOKIE,
            flash[:300],
            max_age=60,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
        )
        return response

    def signin_redirect(self, request: Request) -> RedirectResponse:
        """Send a visitor who is not signed in to the sign-in page, coming back after."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)

    def csrf_ok(self, user: Principal, form: Mapping[str, Any]) -> bool:
        """Whether a submitted form carries the user's CSRF token."""
        token = form.get("csrf")
        return isinstance(token, str) and same(token, user.csrf)

    def refused(self, user: Principal | None, status: int, message: str) -> Response:
        """A plain page saying why a request was refused."""
        html = self.templates.get_template("refused.html").render(
            user=user, csrf=user.csrf if user else "", message=message, status=status
        )
        return HTMLResponse(html, status_code=status)


def web(request: Request) -> WebState:
    """The web app's state, from a request."""
    state: WebState = request.app.state.web
    return state
