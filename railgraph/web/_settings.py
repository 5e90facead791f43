"""How the web app is set up: database, listening address, sessions, trusted proxy header."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from railgraph.errors import InputError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "WebSettings", "check_host", "is_loopback"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321


@dataclass(frozen=True)
class WebSettings:
    """What ``railgraph serve`` was started with."""

    db: str | Path | None = None
    """The database (a file or a PostgreSQL URL); ``$RAILGRAPH_DB`` or
    ``.railgraph/railgraph.db`` when unset."""
    session_hours: float = 8.0
    """How long a sign-in lasts."""
    trusted_header: str | None = None
    """A reverse proxy's header naming the signed-in user, trusted only when set."""
    poll_seconds: float = 2.0
    """How often an open page asks whether runs changed."""
    page_size: int = 20
    """Requests or runs per page."""
    secure_cookies: bool = False
    """Mark cookies ``Secure`` (set when a proxy serves the page over HTTPS)."""
    clock: Callable[[], float] = field(default=time.time)
    """Wall clock for runs, decisions and sessions (inject one in tests)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, users: int, trusted_header: str | None) -> None:
    """Refuse to listen beyond this machine while nobody could sign in.

    Raises:
        InputError: ``host`` is not a loopback address and there are no users and no
            trusted header.
    """
    if is_loopback(host) or users > 0 or trusted_header is not None:
        return
    raise InputError(
        f"refusing to listen on {host}: nobody can sign in yet, so the review queue would be "
        "reachable from other machines without a guard; add a reviewer first with "
        "`railgraph users add NAME` (password on standard input), or listen on 127.0.0.1"
    )
