"""Fixtures for the web app's tests: a database with users and runs, and a client on the app.

The app opens its own runner (in the test client's event loop); runs and users are made
beforehand, or between requests, by a second runner on the same SQLite file, as the CLI would.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from railgraph import Runner
from railgraph.checkpointers import ApprovalRecord, EventRecord, UserRole
from railgraph.nodes._toolcall import _idempotency_key
from railgraph.web import WebSettings, create_app, hash_password

PASSWORD = "correct horse battery"
HASHED = hash_password(PASSWORD)  # once: Argon2 is slow on purpose

PAYOUTS = '''
"""A one-gate graph for the web tests: bob or carol approve a payout, never its starter."""
from typing import Literal

from pydantic import BaseModel, Field

from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph import END, START, GraphBuilder


class Payout(BaseModel):
    account: str = Field(pattern=r"^AC-\\d+$", description="The account paid")
    amount: float = Field(gt=0, le=1000)
    currency: Literal["EUR", "USD"] = "EUR"
    urgent: bool = False


class Paid(BaseModel):
    reference: str


class State(BaseModel):
    account: str
    amount: float
    paid: Paid | None = None


tools = ToolRegistry()


@tools.tool(tier="write")
def pay(args: Payout) -> Paid:
    """Send money to an account."""
    return Paid(reference=f"{args.account}:{args.amount:g}:{args.currency}:{args.urgent}")


g = GraphBuilder("payouts", State, tools=tools, policy=ToolPolicy(tools={"pay": "approve"}))
g.approve(
    "approve_pay",
    action="pay",
    reason=lambda s: f"pay {s.amount:g} to {s.account}",
    reviewers=["bob", "carol"],
    allow_self_approval=False,
    approved="pay",
    rejected=END,
)
g.tool("pay", args=lambda s: {"account": s.account, "amount": s.amount}, output="paid")
g.edge(START, "approve_pay")
g.edge("pay", END)
graph = g.build()
'''


class Clock:
    """A wall clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class World:
    """The database the app serves, and what a test does to it from outside the app."""

    def __init__(self, db: Path, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _run(self, work: Any) -> Any:
        async def go() -> Any:
            async with Runner.open(self.db, clock=self.clock) as runner:
                return await work(runner)

        return asyncio.run(go())

    def users(self, *people: tuple[str, UserRole]) -> None:
        async def add(r: Runner) -> None:
            for name, role in people:
                await r.saver.users.add_user(name, role=role, password_hash=HASHED)

        self._run(add)

    def start(self, ref: str, data: dict[str, Any], by: str | None = None) -> str:
        outcome = self._run(lambda r: r.start(ref, data, started_by=by))
        run_id: str = outcome.run_id
        return run_id

    def payout(self, amount: float = 250.0, by: str | None = "dave") -> str:
        return self.start("payouts:graph", {"account": "AC-1", "amount": amount}, by=by)

    def unknown_effect(self, run_id: str = "run-u") -> str:
        """A payout approved by bob whose payment a crash left unknown; the request asking
        what happened."""
        args = {"account": "AC-1", "amount": 250.0, "currency": "EUR", "urgent": False}

        async def crash(r: Runner) -> str:
            key = _idempotency_key(run_id, "pay", "pay", args)
            await r.store.begin_effect(key, run_id=run_id, node="pay", tool="pay", args=args)
            paused = await r.start(
                "payouts:graph",
                {"account": "AC-1", "amount": 250},
                run_id=run_id,
                started_by="dave",
            )
            asked = await r.approve(run_id, by="bob", request_id=paused.pending[0].request_id)
            [request] = asked.pending
            assert request.request["kind"] == "unknown_effect"
            return request.request_id

        found: str = self._run(crash)
        return found

    def approvals(self, run_id: str) -> list[ApprovalRecord]:
        found: list[ApprovalRecord] = self._run(
            lambda r: r.store.list_approvals(run_id=run_id, status=None)
        )
        return found

    def events(self, run_id: str) -> list[EventRecord]:
        found: list[EventRecord] = self._run(lambda r: r.store.list_events(run_id))
        return found

    def status(self, run_id: str) -> str:
        record = self._run(lambda r: r.store.get_run(run_id))
        return str(record.status)

    def sessions(self) -> int:
        async def count(r: Runner) -> int:
            rows = await r.saver.conn.execute_fetchall("SELECT COUNT(*) FROM user_sessions")
            return int(next(iter(rows))[0])

        counted: int = self._run(count)
        return counted


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(isolated: Path, clock: Clock) -> World:
    (isolated / "payouts.py").write_text(PAYOUTS)
    made = World(isolated / "rg.db", clock)
    made.users(("alice", "reviewer"), ("bob", "reviewer"), ("root", "admin"))
    return made


def settings(world: World, **changes: Any) -> WebSettings:
    return WebSettings(db=world.db, clock=world.clock, page_size=2, **changes)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings(world)), follow_redirects=False) as opened:
        yield opened


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/signin")
    done = client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "name": name, "password": password, "next": "/queue"},
    )
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/queue").text)
