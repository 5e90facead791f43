"""Who is asking: passwords, API tokens, sign-in sessions, a trusted proxy's header, CSRF.

Pages identify a person by a session cookie (or, when the server is told to trust one, a
reverse proxy's identity header); the HTTP API by a bearer token from
``railgraph users token NAME``. Every form carries the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

from railgraph.checkpointers import UserRecord, UserRole, UserStore

__all__ = [
    "SESSION_COOKIE",
    "SIGNIN_COOKIE",
    "Principal",
    "check_password",
    "digest",
    "hash_password",
    "identify",
    "new_secret",
    "same",
]

SESSION_COOKIE = "railgraph_session"
"""The cookie holding a signed-in browser's session id."""
SIGNIN_COOKIE = "railgraph_signin"
"""The cookie the sign-in form's CSRF token is checked against (double submit)."""

_HASHER = PasswordHasher()
# Checked against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The Argon2id hash of a password, for the user store."""
    return _HASHER.hash(password)


def check_password(user: UserRecord | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s (always ``False`` without a user, in the same time)."""
    try:
        _HASHER.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def new_secret() -> str:
    """Random text for a token, a session id or a CSRF token (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How the store keeps a token or session id: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(given: str | None, expected: str) -> bool:
    """Compare a submitted token with the expected one in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Principal:
    """A signed-in user, and how they proved it."""

    name: str
    """The user's name, as stored: decisions are recorded under it."""
    role: UserRole
    """What they may do."""
    via: Literal["session", "token", "header"]
    """A session cookie, a bearer token, or the trusted proxy's header."""
    csrf: str
    """The token this user's forms carry (unused for bearer tokens)."""
    session_hash: str | None = None
    """The session's key in the store, to end it on sign-out."""

    @property
    def admin(self) -> bool:
        """Whether the user may cancel runs and see the users."""
        return self.role == "admin"


async def identify(
    request: Request,
    users: UserStore,
    *,
    api: bool,
    trusted_header: str | None,
    header_secret: str,
) -> Principal | None:
    """The user behind a request, or ``None``.

    The API takes a bearer token; pages take the session cookie. The trusted proxy's header
    counts for both, and only when the server was started with ``--trusted-header``.
    """
    if trusted_header is not None and (claimed := request.headers.get(trusted_header)):
        user = await users.get_user(claimed)
        if user is None:
            return None
        csrf = hmac.new(header_secret.encode(), user.name.casefold().encode(), "sha256")
        return Principal(user.name, user.role, "header", csrf.hexdigest())
    if api:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user = await users.user_for_token(digest(token.strip()))
        return None if user is None else Principal(user.name, user.role, "token", "")
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    found = await users.get_session(digest(session_id))
    if found is None:
        return None
    session, user = found
    return Principal(user.name, user.role, "session", session.csrf, session.session_hash)
