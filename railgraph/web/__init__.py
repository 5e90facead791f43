"""The review page and HTTP API: ``railgraph serve``.

A server-rendered Starlette app over the same :class:`railgraph.Runner` operations as the CLI
(pending, decide, cancel, resume), with users signed in by password (Argon2 hashes in the
store), sessions that expire, a CSRF token on every form, and bearer tokens for ``/api``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from railgraph.web._settings import DEFAULT_HOST, DEFAULT_PORT, WebSettings, check_host

if TYPE_CHECKING:
    from railgraph.web._app import create_app
    from railgraph.web._auth import Principal, hash_password

# The app and its sign-in load on first use: the CLI registers `serve` (whose defaults come
# from `_settings`) without importing Starlette, the runner or LangGraph.
_LAZY = {
    "create_app": "railgraph.web._app",
    "Principal": "railgraph.web._auth",
    "hash_password": "railgraph.web._auth",
}

__all__ = [
    "create_app",
    "WebSettings",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "check_host",
    "Principal",
    "hash_password",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'railgraph.web' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
