"""Runs have an owner: whoever drives a run holds its lease, and nobody else drives it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from railgraph import END, START, DecisionError, GraphBuilder, RailGraph, Runner
from railgraph._cli import app
from railgraph._lease import Heartbeat, when
from railgraph._report import path_of
from railgraph.checkpointers import SCHEMA_VERSION, Lease
from railgraph.checkpointers._tx import Statement
from railgraph.errors import RunBusy
from railgraph.nodes import ToolCall, ToolRegistry


class Step(BaseModel):
    n: int


class Done(BaseModel):
    ok: bool


class State(BaseModel):
    first: dict[str, Any] | None = None
    second: dict[str, Any] | None = None


def two_steps(calls: list[int], entered: asyncio.Event, release: asyncio.Event) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    async def work(args: Step, call: ToolCall) -> Done:
        calls.append(args.n)
        if args.n == 1 and len(calls) == 1:
            entered.set()
            await release.wait()
        return Done(ok=True)

    g = GraphBuilder("lease_two_steps", State, tools=tools)
    g.tool("first", tool="work", args=lambda s: {"n": 1}, output="first")
    g.tool("second", tool="work", args=lambda s: {"n": 2}, output="second")
    g.edge(START, "first").edge("first", "second").edge("second", END)
    return g.build()


def gated(calls: list[int]) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def work(args: Step) -> Done:
        calls.append(args.n)
        return Done(ok=True)

    g = GraphBuilder("lease_gated", State, tools=tools)
    g.step("prepare", lambda s: None)
    g.approve("approve_first", action="first", approved="first", rejected=END)
    g.tool("first", tool="work", args=lambda s: {"n": 1}, output="first")
    g.edge(START, "prepare").edge("prepare", "approve_first").edge("first", END)
    return g.build()


async def test_a_second_driver_is_refused_while_the_first_holds_the_lease(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    calls: list[int] = []
    entered, release = asyncio.Event(), asyncio.Event()
    graph = two_steps(calls, entered, release)
    async with Runner.open(db) as first, Runner.open(db) as second:
        second.register(first.graph(graph)[0], graph)
        driving = asyncio.create_task(first.start(graph, {}, run_id="r"))
        await entered.wait()
        # The second runner stands for another process: `resume` while the run is driven.
        record = await second.store.get_run("r")
        assert record is not None
        with pytest.raises(RunBusy) as refused:
            await second.resume("r")
        release.set()
        outcome = await driving
        events = await first.store.list_events("r")
        after = await first.store.get_run("r")

    assert str(refused.value) == (
        f"run r is being driven by runner {first.lease.owner} on {socket.gethostname()} "
        f"(pid {os.getpid()}), whose lease lapses at {when(record.lease_expires_at)} unless "
        f"it renews it (last heartbeat {when(record.heartbeat_at)}); wait for it to finish, "
        "or if that process is gone, run `railgraph resume r` after its lease lapses"
    )
    assert outcome.status == "completed"
    assert calls == [1, 2]  # nothing ran twice
    assert path_of(events) == ["first", "second"]
    assert after is not None and after.lease_owner is None


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_not(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    calls: list[int] = []
    clock = Clock()
    async with Runner.open(db, clock=clock) as runner:
        paused = await runner.start(gated(calls), {}, run_id="r")
        assert paused.status == "paused"
        # A driver on another host took the run, then vanished without a word.
        ghost = Lease(owner="ghost", host="elsewhere", pid=1)
        claim = await runner.store.acquire_lease("r", ghost, ttl=30.0)
        assert claim.granted

        clock.now += 29.0
        with pytest.raises(RunBusy, match=r"^run r is being driven by runner ghost on elsewhere"):
            await runner.resume("r")
        clock.now += 1.0  # the lease lapses now
        outcome = await runner.resume("r")
        record = await runner.store.get_run("r")

    assert outcome.status == "paused"
    assert calls == []
    assert record is not None
    assert (record.status, record.lease_owner) == ("paused", None)


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


async def test_a_lease_whose_process_is_gone_is_taken_over_at_once(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    dead = dead_pid()
    async with Runner.open(db) as runner:
        await runner.start(gated([]), {}, run_id="r")
        crashed = Lease(owner="crashed", host=socket.gethostname(), pid=dead)
        assert (await runner.store.acquire_lease("r", crashed, ttl=3600.0)).granted
        outcome = await runner.resume("r")

    assert outcome.status == "paused"


def test_runs_and_show_tell_an_interrupted_run_from_a_live_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "rg.db"
    dead = dead_pid()

    async def setup() -> None:
        async with Runner.open(db) as runner:
            await runner.start(gated([]), {}, run_id="crashed")
            await runner.start(gated([]), {}, run_id="live")
            await runner.submit(gated([]), {}, run_id="waiting")
            here = socket.gethostname()
            await runner.store.acquire_lease("crashed", Lease("k1", here, dead), ttl=3600.0)
            await runner.store.acquire_lease("live", Lease("k2", here, os.getpid()), ttl=3600.0)

    asyncio.run(setup())
    monkeypatch.setenv("COLUMNS", "200")
    listing = CliRunner().invoke(app, ["runs", "--db", str(db)])
    crashed = CliRunner().invoke(app, ["show", "crashed", "--db", str(db)])
    live = CliRunner().invoke(app, ["show", "live", "--db", str(db)])
    waiting = CliRunner().invoke(app, ["show", "waiting", "--db", str(db)])
    as_json = CliRunner().invoke(app, ["show", "waiting", "--db", str(db), "--json"])

    rows = {
        words[0]: words[2]
        for words in map(str.split, listing.stdout.splitlines())
        if words and words[0] in ("live", "crashed", "waiting")
    }
    assert rows == {"live": "running", "crashed": "interrupted", "waiting": "queued"}
    assert "railgraph resume crashed" in listing.stdout
    assert "start a worker: railgraph worker" in listing.stdout
    assert waiting.stdout.splitlines()[:2] == [
        "run waiting of tests.railgraph.test_runner_lease:lease_gated: queued",
        "  queued: waiting for a worker to take it; start one with `railgraph worker` (or "
        "drive it in this process with `railgraph resume waiting`)",
    ]
    assert json.loads(as_json.stdout)["shown_status"] == "queued"
    assert crashed.stdout.splitlines()[:2] == [
        "run crashed of tests.railgraph.test_runner_lease:lease_gated: interrupted",
        "  interrupted: no process drives it (a crash or a database fault stopped it); "
        "continue it with `railgraph resume crashed`",
    ]
    assert live.stdout.splitlines()[1].startswith(
        f"  driven by runner k2 on {socket.gethostname()} (pid {os.getpid()}), lease until "
    )


async def test_a_heartbeat_renews_until_the_lease_is_lost() -> None:
    answers = iter([True, True, False])
    asked: list[bool] = []
    lost = asyncio.Event()

    async def renew() -> bool:
        held = next(answers)
        asked.append(held)
        if not held:
            lost.set()
        return held

    async with Heartbeat(renew, 0.0) as beat:
        await lost.wait()
        await asyncio.sleep(0)  # let the beat task see the answer and stop

    assert asked == [True, True, False]
    assert beat.lost


@pytest.fixture
def run_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    writes: list[str] = []
    original = Statement.run

    def run(self: Statement, conn: sqlite3.Connection) -> Any:
        sql = " ".join(self.sql.split())
        if sql.startswith(("UPDATE runs", "INSERT OR IGNORE INTO runs")):
            writes.append(sql.split(" SET ")[0] if "SET" in sql else sql[:30])
        return original(self, conn)

    monkeypatch.setattr(Statement, "run", run)
    yield writes


async def test_a_lease_costs_no_write_per_node(tmp_path: Path, run_writes: list[str]) -> None:
    tools = ToolRegistry()
    g = GraphBuilder("ten_steps", State, tools=tools)
    for i in range(10):
        g.step(f"s{i}", lambda s: None)
    g.edge(START, "s0")
    for i in range(9):
        g.edge(f"s{i}", f"s{i + 1}")
    g.edge("s9", END)
    async with Runner.open(tmp_path / "rg.db") as runner:
        outcome = await runner.start(g.build(), {}, run_id="r")

    assert outcome.status == "completed"
    # The run's record with its lease, then where it ended with the lease given up.
    assert run_writes == ["INSERT OR IGNORE INTO runs (ru", "UPDATE runs"]


async def test_resuming_an_ended_run_says_so(tmp_path: Path) -> None:
    async with Runner.open(tmp_path / "rg.db") as runner:
        await runner.start(gated([]), {}, run_id="r")
        await runner.reject("r", by="ops", reason="not now")
        with pytest.raises(DecisionError, match=r"^run r is rejected; there is nothing to resume"):
            await runner.resume("r")


async def test_a_paused_run_of_a_schema_3_database_resumes_after_the_upgrade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rg.db"
    calls: list[int] = []
    graph = gated(calls)
    async with Runner.open(db) as runner:
        paused = await runner.start(graph, {}, run_id="r")
        ref = runner.graph(graph)[0]
    # The runs table as schema 3 had it: no lease columns.
    with sqlite3.connect(db) as conn:
        for column in (
            "lease_owner",
            "lease_host",
            "lease_pid",
            "heartbeat_at",
            "lease_expires_at",
        ):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        for table in ("users", "user_tokens", "user_sessions"):  # added after schema 3
            conn.execute(f"DROP TABLE {table}")
        for column in ("resent_task", "resent_question"):  # added after schema 3
            conn.execute(f"ALTER TABLE tool_effects DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 3")

    async with Runner.open(db) as runner:
        runner.register(ref, graph)
        done = await runner.approve("r", by="ann")
    with sqlite3.connect(db) as conn:
        version = conn.execute("PRAGMA user_version").fetchall()

    assert (paused.status, done.status, calls) == ("paused", "completed", [1])
    assert version == [(SCHEMA_VERSION,)]


def two_gates(calls: list[int], entered: asyncio.Event, release: asyncio.Event) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    async def work(args: Step) -> Done:
        calls.append(args.n)
        if args.n == 1:
            entered.set()
            await release.wait()
        return Done(ok=True)

    g = GraphBuilder("lease_two_gates", State, tools=tools)
    g.step("plan", lambda s: None)
    g.approve("approve_a", action="a", approved="a", rejected=END)
    g.tool("a", tool="work", args=lambda s: {"n": 1}, output="first")
    g.approve("approve_b", action="b", approved="b", rejected="b_done")
    g.tool("b", tool="work", args=lambda s: {"n": 2}, output="second")
    g.step("b_done", lambda s: None)
    g.step("finish", lambda s: None)
    g.edge(START, "plan").edge("plan", "approve_a").edge("plan", "approve_b")
    g.edge("b", "b_done").edge(("a", "b_done"), "finish").edge("finish", END)
    return g.build()


async def test_a_decision_reaches_the_run_through_the_process_that_drives_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rg.db"
    calls: list[int] = []
    entered, release = asyncio.Event(), asyncio.Event()
    graph = two_gates(calls, entered, release)
    async with Runner.open(db) as alice, Runner.open(db, decision_wait_s=0.0) as bob:
        paused = await alice.start(graph, {}, run_id="r")
        bob.register(alice.graph(graph)[0], graph)
        gates = {p.node: p.request_id for p in paused.pending}
        approving = asyncio.create_task(
            alice.approve("r", by="alice", request_id=gates["approve_a"])
        )
        await entered.wait()  # alice's process drives the run: tool a is running
        rejected = await bob.reject(
            "r", by="bob", reason="not needed", request_id=gates["approve_b"]
        )
        release.set()
        done = await approving
        events = await alice.store.list_events("r")
        approvals = await alice.store.list_approvals(run_id="r", status=None)

    assert rejected.status == "running"
    assert rejected.reason is not None
    assert rejected.reason.startswith(
        "the decision is recorded and will be delivered by the process that drives the run "
        f"now: run r is being driven by runner {alice.lease.owner} on "
    )
    assert done.status == "completed"
    assert calls == [1]
    assert path_of(events) == ["plan", "approve_a", "a", "approve_b", "b_done", "finish"]
    assert {a.node: a.status for a in approvals} == {
        "approve_a": "approved",
        "approve_b": "rejected",
    }


@pytest.mark.parametrize("tier", ["read", "write"])
async def test_a_driver_whose_lease_was_taken_over_makes_no_further_call(
    tmp_path: Path, tier: str
) -> None:
    db = tmp_path / "rg.db"
    calls: list[int] = []
    tools = ToolRegistry()

    @tools.tool(tier=tier, name="work")
    async def work(args: Step, call: ToolCall) -> Done:
        calls.append(args.n)
        if args.n == 1:
            # Its heartbeat lapsed meanwhile, and a runner on another host took the run.
            with sqlite3.connect(db) as other:
                other.execute(
                    "UPDATE runs SET lease_owner = 'thief', lease_host = 'elsewhere', "
                    "lease_pid = 1, heartbeat_at = 5.0, lease_expires_at = 1.0e12 "
                    "WHERE run_id = 'r'"
                )
            other.close()
        return Done(ok=True)

    g = GraphBuilder("lease_taken", State, tools=tools)
    g.tool("first", tool="work", args=lambda s: {"n": 1}, output="first")
    g.tool("second", tool="work", args=lambda s: {"n": 2}, output="second")
    g.edge(START, "first").edge("first", "second").edge("second", END)

    async with Runner.open(db) as runner:
        outcome = await runner.start(g.build(), {}, run_id="r")
        effects = await runner.store.list_effects("r")
        record = await runner.store.get_run("r")
        events = await runner.store.list_events("r")

    assert record is not None
    # The runner stops at the refused call and leaves the run to the one that holds it.
    assert (outcome.status, outcome.reason) == ("running", None)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("tool_call", "first"),
        ("node_finished", "first"),
    ]
    assert calls == [1]
    assert [(e.node, e.status) for e in effects] == (
        [("first", "completed")] if tier == "write" else []
    )
    assert (record.status, record.lease_owner) == ("running", "thief")
