"""Step nodes: plain Python, sync or async, with or without the node context."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph.nodes import NodeContext


class Counter(BaseModel):
    n: int = 0
    note: str | None = None


def one_step(fn: Any) -> RailGraph:
    g = GraphBuilder("one-step", Counter)
    g.step("work", fn).edge(START, "work").edge("work", END)
    return g.build()


async def test_sync_step_updates_state_and_records_events(runner: Runner, dims: Any) -> None:
    g = GraphBuilder("two-steps", Counter)
    g.step("inc", lambda s: {"n": s.n + 1})
    g.step("double", lambda s: {"n": s.n * 2})
    g.edge(START, "inc").edge("inc", "double").edge("double", END)

    outcome = await runner.start(g.build(), {"n": 4})

    assert outcome.status == "completed"
    assert outcome.reason is None
    assert outcome.result == {"n": 10, "note": None}
    assert dims(outcome.usage) == {
        "steps": 2,
        "llm_calls": 0,
        "tool_calls": 0,
        "tokens": 0,
        "cost_usd": 0,
        "wall_s": 0.0,
        "retries": 0,
    }
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("node_finished", "inc"),
        ("node_finished", "double"),
        ("run_finished", None),
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    finished = events[1].data
    # One event per node: no outcome or status for a plain step, the start is implied,
    # and no time spent on the stopped test clock.
    assert finished == {"kind": "step", "duration_ms": 0.0, "usage": {"steps": 1}}
    assert events[-1].data == {"status": "completed", "reason": ""}
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert record.status == "completed"
    assert record.result == {"n": 10, "note": None}
    assert record.usage == outcome.usage


async def test_async_step(runner: Runner) -> None:
    async def bump(state: Counter) -> dict[str, Any]:
        return {"n": state.n + 5}

    outcome = await runner.start(one_step(bump), {"n": 1})

    assert outcome.status == "completed"
    assert outcome.result["n"] == 6


async def test_step_with_context_sees_its_node_and_run(runner: Runner) -> None:
    def stamp(state: Counter, ctx: NodeContext) -> dict[str, Any]:
        return {"note": f"{ctx.node}@{ctx.run_id}:{ctx.usage.steps}"}

    outcome = await runner.start(one_step(stamp), {}, run_id="run-ctx")

    assert outcome.status == "completed"
    # usage inside the node is the run's so far: this node's step is added when it finishes
    assert outcome.result["note"] == "work@run-ctx:0"


async def test_async_step_with_context(runner: Runner) -> None:
    async def stamp(state: Counter, ctx: NodeContext) -> dict[str, Any]:
        return {"note": ctx.node}

    outcome = await runner.start(one_step(stamp), {})

    assert outcome.result["note"] == "work"


async def test_step_returning_none_changes_nothing(runner: Runner) -> None:
    calls: list[int] = []

    def observe(state: Counter) -> None:
        calls.append(state.n)

    outcome = await runner.start(one_step(observe), {"n": 3})

    assert outcome.status == "completed"
    assert outcome.result == {"n": 3, "note": None}
    assert calls == [3]
    assert outcome.usage["steps"] == 1


async def test_step_returning_a_non_dict_fails_the_run(runner: Runner) -> None:
    outcome = await runner.start(one_step(lambda s: [("n", 1)]), {"n": 3})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "RunError: step 'work' returned list; a step returns a dict of the state fields it "
        "changes, or None"
    )
    assert outcome.result == {"n": 3, "note": None}
    assert outcome.usage["steps"] == 1
    events = await runner.store.list_events(outcome.run_id)
    assert [(e.kind, e.node) for e in events] == [
        ("run_started", None),
        ("run_failed", "work"),
    ]
    assert events[-1].data["error_type"] == "RunError"
    assert "returned list" in events[-1].data["error"]
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert (record.status, record.error) == ("failed", outcome.reason)


async def test_step_raising_fails_the_run_with_the_error(runner: Runner) -> None:
    def explode(state: Counter) -> dict[str, Any]:
        raise ValueError("no such customer")

    outcome = await runner.start(one_step(explode), {})

    assert outcome.status == "failed"
    assert outcome.reason == "ValueError: no such customer"
    events = await runner.store.list_events(outcome.run_id)
    assert events[-1].kind == "run_failed"
    assert "ValueError: no such customer" in events[-1].data["traceback"]


async def test_step_duration_comes_from_the_injected_timer(runner: Runner, fake_time: Any) -> None:
    def slow(state: Counter) -> dict[str, Any]:
        fake_time.advance(2.5)
        return {"n": 1}

    outcome = await runner.start(one_step(slow), {})

    assert outcome.usage["wall_s"] == 2.5
    events = await runner.store.list_events(outcome.run_id)
    finished = [e for e in events if e.kind == "node_finished"]
    assert finished[0].data["duration_ms"] == 2500.0
    # The run started the node 2.5 s before it finished, on the injected clock too.
    assert finished[0].at - events[0].at == 2.5


def test_whether_a_callable_takes_the_context_is_read_once_and_stays_right() -> None:
    from railgraph.nodes._runtime import _TAKES_CONTEXT, takes_context

    def plain_fn(state: Any) -> None:
        return None

    def with_ctx(state: Any, ctx: NodeContext) -> None:
        return None

    class Slotted:
        # No __weakref__: its answer cannot be kept, and is read on every call.
        __slots__ = ()

        def __call__(self, state: Any, ctx: NodeContext) -> None:
            return None

    slotted = Slotted()

    assert [takes_context(f) for f in (plain_fn, with_ctx, slotted, plain_fn, with_ctx)] == [
        False,
        True,
        True,
        False,
        True,
    ]
    assert _TAKES_CONTEXT.get(plain_fn) is False
    assert _TAKES_CONTEXT.get(with_ctx) is True
