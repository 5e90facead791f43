"""The kill switch: a running run is stopped before its next LLM or tool call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from railgraph import END, START, DecisionError, GraphBuilder, Runner
from railgraph.nodes import ToolCall, ToolRegistry


class Step(BaseModel):
    n: int


class Done(BaseModel):
    ok: bool


class State(BaseModel):
    first: dict[str, Any] | None = None
    second: dict[str, Any] | None = None


async def test_cancelling_a_running_run_stops_it_before_its_next_tool_call(tmp_path: Path) -> None:
    db = tmp_path / "rg.db"
    calls: list[int] = []
    tools = ToolRegistry()

    @tools.tool(tier="write")
    async def work(args: Step, call: ToolCall) -> Done:
        calls.append(args.n)
        if args.n == 1:
            # Someone else (another process, another connection) pulls the kill switch
            # while this call is in flight.
            async with Runner.open(db) as operator:
                await operator.cancel(call.run_id, by="ops", reason="runaway agent")
        return Done(ok=True)

    g = GraphBuilder("two_steps", State, tools=tools)
    g.tool("first", tool="work", args=lambda s: {"n": 1}, output="first")
    g.tool("second", tool="work", args=lambda s: {"n": 2}, output="second")
    g.edge(START, "first").edge("first", "second").edge("second", END)

    async with Runner.open(db) as runner:
        outcome = await runner.start(g.build(), {}, run_id="run-k")
        events = await runner.store.list_events("run-k")
        effects = await runner.store.list_effects("run-k")

    assert calls == [1]
    assert outcome.status == "cancelled"
    # The cancel came while the call was in flight: the reason says it may have happened.
    assert outcome.reason is not None
    assert outcome.reason.startswith("cancelled by ops: runaway agent; work at node first (key ")
    assert outcome.reason.endswith(
        "it may have happened — check the target system before doing it again"
    )
    assert [(e.tool, e.status) for e in effects] == [("work", "completed")]
    assert [e.kind for e in events if e.kind in ("run_cancelled", "cancelled")] == [
        "run_cancelled",
        "cancelled",
    ]
    async with Runner.open(db) as runner:
        with pytest.raises(DecisionError, match=r"^run run-k is cancelled; there is nothing"):
            await runner.resume("run-k")


async def test_the_kill_switch_reads_only_the_status_and_knows_its_own_cancels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    tools = ToolRegistry()
    runner_box: list[Runner] = []
    stop_at_two: list[bool] = []

    @tools.tool(tier="read")
    async def look(args: Step, call: ToolCall) -> Done:
        calls.append(args.n)
        if args.n == 2 and stop_at_two:
            # A cancel through the runner that drives the run: known without a read.
            await runner_box[0].cancel(call.run_id, by="ops", reason="stop")
        return Done(ok=True)

    g = GraphBuilder("three_looks", State, tools=tools)
    g.tool("first", tool="look", args=lambda s: {"n": 1}, output="first")
    g.tool("second", tool="look", args=lambda s: {"n": 2}, output="second")
    g.tool("third", tool="look", args=lambda s: {"n": 3}, output=None)
    g.edge(START, "first").edge("first", "second").edge("second", "third").edge("third", END)

    async with Runner.open(tmp_path / "rg.db") as runner:
        runner_box.append(runner)
        states: list[str] = []
        read_state = runner.store.run_state

        async def counted(run_id: str) -> Any:
            state = await read_state(run_id)
            states.append(state.status if state is not None else "none")
            return state

        async def no_records(run_id: str) -> Any:
            raise AssertionError("the whole run record was loaded")

        monkeypatch.setattr(runner.store, "run_state", counted)
        big = {"first": {"big": "x" * 100_000}}
        with monkeypatch.context() as patched:
            # Driving a run that nobody cancels never loads its record (nor its input).
            patched.setattr(runner.store, "get_run", no_records)
            plain = g.build()
            done = await runner.start(plain, big, run_id="quiet")
        assert (done.status, calls, states) == ("completed", [1, 2, 3], ["running"] * 4)

        calls.clear()
        states.clear()
        stop_at_two.append(True)
        stopped = await runner.start(plain, big, run_id="loud")

    # One status read per call made; the third call is refused by the in-process signal
    # (this runner cancelled the run) before any read; settling reads it once more.
    assert (stopped.status, calls) == ("cancelled", [1, 2])
    assert states == ["running", "running", "cancelled"]
