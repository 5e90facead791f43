"""SIGKILL processes driving the support agent around its model-chosen effects; count them.

A forked child runs the agent (or approves its refund, or edits it) and kills itself at one
point — before or after the helpdesk applies the refund or the email (after = the gap between
the effect and the ledger's record), or around the checkpointer's writes. New processes then
resume until the run ends. Every effect must have happened exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from railgraph import Runner
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.support_agent import make_graph
from railgraph.nodes._state import EVENTS
from tests.railgraph.test_crash_resume import CrashingHelpdesk, CrashingSaver, Point

REF = "railgraph.graphs.support_agent:graph"
EFFECTS: list[Point] = [
    ("effect", when, tool) for tool in ("create_refund", "notify") for when in ("before", "after")
]
AUTO_POINTS: list[Point] = [
    *EFFECTS,
    *[("put_writes", when, n) for when in ("before", "after") for n in (3, 6)],
]


async def drive(workdir: Path, run_id: str, action: str, point: Point | None) -> None:
    os.chdir(workdir)
    CrashingSaver.point = CrashingHelpdesk.point = point
    CrashingSaver.calls = {"put_writes": 0, "put": 0}
    async with CrashingSaver.from_path(workdir / "rg.db", event_channel=EVENTS) as saver:
        runner = Runner(saver)
        runner.register(REF, make_graph(helpdesk=CrashingHelpdesk(workdir / "hd.db")))
        if action.startswith("start:"):
            await runner.start(REF, {"ticket_id": action[6:]}, run_id=run_id)
        elif action == "approve":
            await runner.approve(run_id, by="alice")
        elif action == "edit":
            await runner.approve(run_id, by="alice", edit={"amount": 250})
        else:
            await runner.resume(run_id)


def in_new_process(workdir: Path, run_id: str, action: str, point: Point | None = None) -> int:
    import multiprocessing

    def child() -> None:
        asyncio.run(drive(workdir, run_id, action, point))
        os._exit(0)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(60)
    assert process.exitcode is not None, "child hung"
    return process.exitcode


async def outcome(workdir: Path, run_id: str) -> dict[str, Any]:
    async with Runner.open(workdir / "rg.db") as runner:
        record = await runner.store.get_run(run_id)
        effects = await runner.store.list_effects(run_id)
    assert record is not None
    helpdesk = Helpdesk(workdir / "hd.db")
    return {
        "status": record.status,
        "effects": sorted((e.tool, e.status) for e in effects),
        "refunds": [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()],
        "notifications": [n["message"] for n in helpdesk.notifications()],
    }


def settle(workdir: Path, run_id: str) -> None:
    for _ in range(3):
        if asyncio.run(outcome(workdir, run_id))["status"] in ("completed", "failed"):
            return
        assert in_new_process(workdir, run_id, "resume") == 0


@pytest.mark.slow
@pytest.mark.parametrize("point", AUTO_POINTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_automatic_agent_run_refunds_and_emails_once(tmp_path: Path, point: Point) -> None:
    assert in_new_process(tmp_path, "a-1", "start:T-1001", point) == -signal.SIGKILL

    settle(tmp_path, "a-1")

    done = asyncio.run(outcome(tmp_path, "a-1"))
    assert done["status"] == "completed"
    assert done["refunds"] == [("T-1001", 42.5)]
    assert done["notifications"] == ["We refunded $42.50 for ticket T-1001."]
    assert done["effects"] == [("create_refund", "completed"), ("notify_customer", "completed")]


@pytest.mark.slow
@pytest.mark.parametrize("action", ["approve", "edit"])
@pytest.mark.parametrize("point", EFFECTS, ids=lambda p: ":".join(map(str, p)))
def test_killed_around_an_approved_model_call_refunds_once(
    tmp_path: Path, point: Point, action: str
) -> None:
    assert in_new_process(tmp_path, "a-2", "start:T-1002") == 0
    assert asyncio.run(outcome(tmp_path, "a-2"))["status"] == "paused"

    assert in_new_process(tmp_path, "a-2", action, point) == -signal.SIGKILL
    settle(tmp_path, "a-2")

    amount = 480.0 if action == "approve" else 250.0
    done = asyncio.run(outcome(tmp_path, "a-2"))
    assert done["status"] == "completed"
    assert done["refunds"] == [("T-1002", amount)]
    assert done["notifications"] == [f"We refunded ${amount:.2f} for ticket T-1002."]
    assert done["effects"] == [("create_refund", "completed"), ("notify_customer", "completed")]
