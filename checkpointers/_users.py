"""People who may use the review page and the HTTP API: users, API tokens and sign-in sessions.

The store keeps hashes only. A password's hash is made by the caller (the web app hashes with
Argon2); a token or a session id is high-entropy random text, so the caller stores its SHA-256
and looks it up by that. Names are unique without regard to case (``Alice`` is ``alice``).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict

from railgraph.errors import StoreError

from ._backend import Backend
from ._rows import Table
from ._tx import Body, execute, fetchall, fetchone

__all__ = ["USERS_MIGRATION", "SessionRecord", "UserRecord", "UserRole", "UserStore"]

UserRole = Literal["reviewer", "admin"]
"""What a user may do: a reviewer reads and decides; an admin also cancels runs and sees users."""

USERS_MIGRATION: Final[tuple[str, ...]] = (
    # COLLATE NOCASE: a name is one person however it is capitalised.
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE user_tokens (
        token_hash TEXT PRIMARY KEY,
        name TEXT NOT NULL COLLATE NOCASE,
        created_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE user_sessions (
        session_hash TEXT PRIMARY KEY,
        name TEXT NOT NULL COLLATE NOCASE,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    "CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at)",
)
"""The migration that adds the tables of this module (see `_schema.MIGRATIONS`)."""


class UserRecord(BaseModel):
    """A person who signs in to the review page or calls the HTTP API."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The name decisions are recorded under."""
    role: UserRole
    """What the user may do."""
    password_hash: str
    """The password's hash (Argon2, made by the caller)."""
    created_at: float
    """When the user was added, in unix seconds."""


class SessionRecord(BaseModel):
    """A signed-in browser session."""

    model_config = ConfigDict(frozen=True)

    session_hash: str
    """SHA-256 of the session id the browser holds."""
    name: str
    """Who signed in."""
    csrf: str
    """The token every form of this session must carry."""
    created_at: float
    """When the user signed in."""
    expires_at: float
    """When the session ends."""


_USERS: Final = Table(
    name="users",
    record=UserRecord,
    columns=tuple(UserRecord.model_fields),
    json_columns=frozenset(),
)
_SESSIONS: Final = Table(
    name="user_sessions",
    record=SessionRecord,
    columns=tuple(SessionRecord.model_fields),
    json_columns=frozenset(),
)
_ROLES: Final[tuple[str, ...]] = get_args(UserRole)


class UserStore:
    """Users, their API tokens and their sessions, in the checkpointer's database.

    Reach it as `SqliteCheckpointer.users`. Times come from the database's clock.

    Args:
        db: The checkpointer's open database.
    """

    def __init__(self, db: Backend) -> None:
        self._db = db

    def now(self) -> float:
        """The database's clock (injected in tests)."""
        return self._db.clock()

    async def add_user(self, name: str, *, role: UserRole, password_hash: str) -> UserRecord:
        """Add a user.

        Raises:
            StoreError: The name is empty, the role unknown, or the name is taken (in any case).
        """
        name = name.strip()
        if not name:
            raise StoreError("a user needs a name; pass one, e.g. `railgraph users add alice`.")
        if role not in _ROLES:
            raise StoreError(f"unknown role {role!r}; use one of {', '.join(_ROLES)}.")
        record = UserRecord(
            name=name, role=role, password_hash=password_hash, created_at=self.now()
        )
        params = _USERS.params(record)
        added = await self._db.write(
            lambda: execute(_USERS.insert(or_ignore=True), params), short=True
        )
        if not added:
            raise StoreError(
                f"user {name!r} already exists; pick another name, or issue them a token with "
                f"`railgraph users token {name}`."
            )
        return record

    async def get_user(self, name: str) -> UserRecord | None:
        """The user with this name (in any case), or `None`."""
        row = await self._db.read(fetchone(f"{_USERS.select} WHERE name = ?", (name.strip(),)))
        return None if row is None else _USERS.load(row)

    async def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        rows = await self._db.read(fetchall(f"{_USERS.select} ORDER BY name"))
        return _USERS.load_all(rows)

    async def add_token(self, name: str, token_hash: str) -> None:
        """Record an API token (by its hash) for an existing user.

        Raises:
            StoreError: There is no such user.
        """
        user = await self.get_user(name)
        if user is None:
            raise StoreError(f"no user {name!r}; add them with `railgraph users add {name}`.")
        row = (token_hash, user.name, self.now())
        await self._db.write(
            lambda: execute(
                "INSERT INTO user_tokens (token_hash, name, created_at) VALUES (?, ?, ?)", row
            ),
            short=True,
        )

    async def user_for_token(self, token_hash: str) -> UserRecord | None:
        """The user an API token (by its hash) belongs to, or `None`."""
        row = await self._db.read(
            fetchone(
                f"SELECT {', '.join('u.' + c for c in _USERS.columns)} FROM user_tokens t "
                "JOIN users u ON u.name = t.name WHERE t.token_hash = ?",
                (token_hash,),
            )
        )
        return None if row is None else _USERS.load(row)

    async def add_session(
        self, name: str, *, session_hash: str, csrf: str, lifetime_s: float
    ) -> SessionRecord:
        """Open a session for a user; it ends ``lifetime_s`` seconds from now."""
        now = self.now()
        record = SessionRecord(
            session_hash=session_hash,
            name=name,
            csrf=csrf,
            created_at=now,
            expires_at=now + lifetime_s,
        )
        # Sessions past their end are dropped as new ones open, so the table stays small.
        await self._db.write(lambda: _open_session(record, now), short=True)
        return record

    async def get_session(self, session_hash: str) -> tuple[SessionRecord, UserRecord] | None:
        """A live session and its user; `None` when unknown, ended, or its user is gone."""
        row = await self._db.read(
            fetchone(f"{_SESSIONS.select} WHERE session_hash = ?", (session_hash,))
        )
        if row is None:
            return None
        session = _SESSIONS.load(row)
        if session.expires_at <= self.now():
            return None
        user = await self.get_user(session.name)
        return None if user is None else (session, user)

    async def end_session(self, session_hash: str) -> None:
        """End a session (signing out); unknown sessions are ignored."""
        await self._db.write(
            lambda: execute("DELETE FROM user_sessions WHERE session_hash = ?", (session_hash,)),
            short=True,
        )


def _open_session(record: SessionRecord, now: float) -> Body[None]:
    yield from execute("DELETE FROM user_sessions WHERE expires_at <= ?", (now,))
    yield from execute(_SESSIONS.insert(), _SESSIONS.params(record))
