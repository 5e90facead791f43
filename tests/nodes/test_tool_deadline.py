"""A tool coroutine's deadline: `asyncio.timeout`'s meaning, with a timer that holds nothing
of the caller once the call is over."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from railgraph.nodes._deadline import within

_CALLER: contextvars.ContextVar[object] = contextvars.ContextVar("caller")


async def test_a_finished_call_leaves_no_timer_that_holds_the_callers_context() -> None:
    loop = asyncio.get_running_loop()
    config = object()
    _CALLER.set(config)

    async def answer() -> int:
        return 42

    async def waits() -> int:
        await asyncio.sleep(0)
        return 7

    assert await within(answer(), 30.0) == 42
    assert await within(waits(), 30.0) == 7
    timers = loop._scheduled  # type: ignore[attr-defined]
    # The timers were cancelled, and wait in the heap for the loop's sweep.
    assert any(t.cancelled() for t in timers)
    assert not [t for t in timers if t._context.get(_CALLER, None) is config]


async def test_an_error_before_any_wait_is_raised_as_it_is() -> None:
    async def broken() -> int:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match=r"^bad input$"):
        await within(broken(), 30.0)


async def test_a_coroutine_that_waits_gets_what_it_waited_for_and_returns() -> None:
    first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    second: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    seen: list[int] = []

    async def twice() -> str:
        seen.append(await first)
        await asyncio.sleep(0)  # a bare yield, as the loop's own sleep(0) makes
        seen.append(await second)
        return "done"

    task = asyncio.create_task(within(twice(), 30.0))
    await asyncio.sleep(0)
    first.set_result(1)
    await asyncio.sleep(0)
    second.set_result(2)
    assert await task == "done"
    assert seen == [1, 2]


async def test_an_error_after_a_wait_is_raised_as_it_is() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails_later() -> None:
        await gate
        raise KeyError("gone")

    task = asyncio.create_task(within(fails_later(), 30.0))
    await asyncio.sleep(0)
    gate.set_result(None)
    with pytest.raises(KeyError, match="gone"):
        await task


async def test_the_deadline_raises_timeout_error_and_cancels_the_wait() -> None:
    cleaned: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally")

    with pytest.raises(TimeoutError):
        await within(hangs(), 1e-9)
    assert cleaned == ["finally"]


async def test_the_deadline_counts_from_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    real_call_at = loop.call_at

    def spy(when: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        armed.append(when)
        return real_call_at(when, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "call_at", spy)

    async def waits_once() -> None:
        await asyncio.sleep(0)

    start = loop.time()
    await within(waits_once(), 5.0)
    (deadline,) = armed
    assert start <= deadline - 5.0 <= loop.time()


async def test_a_cancel_from_elsewhere_stays_a_cancel_when_the_deadline_also_passed() -> None:
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    async def caller() -> None:
        # Due at once: it fires in the loop turn that delivers the cancel below.
        await within(hangs(), 0)

    task = asyncio.create_task(caller())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_caller_cancels_the_tool() -> None:
    cleaned: list[str] = []
    waiting = asyncio.Event()

    async def hangs() -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise

    task = asyncio.create_task(within(hangs(), 30.0))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cancelled"]


async def test_a_tool_that_turns_the_deadline_into_its_own_error_leaves_no_cancel_behind() -> None:
    class Gave(Exception):
        pass

    async def converts() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise Gave("stopped") from None

    task = asyncio.current_task()
    assert task is not None
    before = task.cancelling()
    with pytest.raises(Gave):
        await within(converts(), 1e-9)
    assert task.cancelling() == before
    await asyncio.sleep(0)  # no cancel is left pending for the caller's next wait
