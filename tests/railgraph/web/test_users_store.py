"""The user store: users by name in any case, tokens and sessions kept as hashes, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.errors import StoreError
from tests.checkpointers.conftest import query


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_users_tokens_and_sessions(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    clock = Clock()
    where = str(tmp_path / "u.db")
    if backend == "postgresql":
        where = str(request.getfixturevalue("postgres_url"))
    async with SqliteCheckpointer.from_path(where, clock=clock) as saver:
        users = saver.users
        alice = await users.add_user(" Alice ", role="reviewer", password_hash="h1")
        assert (alice.name, alice.role, alice.created_at) == ("Alice", "reviewer", 1000.0)
        with pytest.raises(StoreError, match=r"user 'alice' already exists"):
            await users.add_user("alice", role="admin", password_hash="h2")
        with pytest.raises(StoreError, match=r"unknown role 'owner'; use one of reviewer, admin"):
            await users.add_user("bob", role="owner", password_hash="h")  # type: ignore[arg-type]
        with pytest.raises(StoreError, match=r"a user needs a name"):
            await users.add_user("  ", role="admin", password_hash="h")
        assert await users.get_user("ALICE") == alice
        assert await users.get_user("nobody") is None

        await users.add_token("alice", "tokenhash")
        assert await users.user_for_token("tokenhash") == alice
        assert await users.user_for_token("other") is None
        with pytest.raises(StoreError, match=r"no user 'zed'; add them with"):
            await users.add_token("zed", "t2")

        session = await users.add_session("alice", session_hash="s1", csrf="c", lifetime_s=60)
        assert session.expires_at == 1060.0
        assert await users.get_session("s1") == (session, alice)
        clock.now = 1060.0
        assert await users.get_session("s1") is None
        await users.add_session("alice", session_hash="s2", csrf="c", lifetime_s=60)
        rows = await query(saver, "SELECT session_hash FROM user_sessions")
        assert [r[0] for r in rows] == ["s2"]  # the ended one was dropped
        await users.end_session("s2")
        assert await users.get_session("s2") is None
        assert [u.name for u in await users.list_users()] == ["Alice"]
