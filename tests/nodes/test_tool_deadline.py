"""A tool coroutine's deadline: armed only once it waits, and then as `asyncio.timeout`."""

from __future__ import annotations

import asyncio

import pytest

from railgraph.nodes._deadline import within


async def test_a_coroutine_that_never_waits_returns_without_a_timer() -> None:
    loop = asyncio.get_running_loop()
    timers = len(loop._scheduled)  # type: ignore[attr-defined]

    async def answer() -> int:
        return 42

    assert await within(answer(), 30.0) == 42
    assert len(loop._scheduled) == timers  # type: ignore[attr-defined]


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


async def test_the_deadline_counts_from_the_call_not_from_the_first_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float | None] = []
    real_timeout_at = asyncio.timeout_at

    def spy(when: float | None) -> asyncio.Timeout:
        armed.append(when)
        return real_timeout_at(when)

    monkeypatch.setattr(asyncio, "timeout_at", spy)

    async def waits_once() -> None:
        await asyncio.sleep(0)

    start = loop.time()
    await within(waits_once(), 5.0)
    (deadline,) = armed
    assert deadline is not None
    assert start <= deadline - 5.0 <= loop.time()


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
