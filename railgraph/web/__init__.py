"""The review page and HTTP API: ``railgraph serve``.

A server-rendered Starlette app over the same :class:`railgraph.Runner` operations as the CLI
(pending, decide, cancel, resume), with users signed in by password (Argon2 hashes in the
store), sessions that expire, a CSRF token on every form, and bearer tokens for ``/api``.
"""

from railgraph.web._app import create_app
from railgraph.web._auth import Principal, hash_password
from railgraph.web._settings import DEFAULT_HOST, DEFAULT_PORT, WebSettings, check_host

__all__ = [
    "create_app",
    "WebSettings",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "check_host",
    "Principal",
    "hash_password",
]
