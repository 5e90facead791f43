"""A tool coroutine's deadline, armed only once the coroutine waits.

`asyncio.timeout` arms a timer on entry and cancels it on exit. A cancelled timer stays in
the loop's heap, with the context it was made in (holding the run's config), until the
loop sweeps it; a tool that answers without waiting (from memory, a cache) cannot be
interrupted by a timer at all, so for it the timer is pure cost. `within` runs the
coroutine's first step at once and arms the same deadline, counted from the call, only
when the coroutine waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["within"]


async def within(coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
    """Await a tool's coroutine with a deadline `timeout_s` from now, as `asyncio.timeout`.

    The deadline's timer is armed only once the coroutine first waits: one that finishes
    without waiting (a tool answering from memory) cannot be interrupted by a timer in
    any case, and a timer armed and cancelled per call stays in the loop's heap (with its
    context) until the loop sweeps it.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        waits_on = coro.send(None)
    except StopIteration as done:
        return done.value
    # The deadline counts from the start, so an expired one fires at the first wait.
    async with asyncio.timeout_at(deadline):
        return await _Resumed(coro, waits_on)


class _Resumed:
    """Awaiting it goes on with a coroutine that has waited once (`yield from` semantics)."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, message = self._coro, self._first
        while True:
            try:
                sent = yield message
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation and the timeout among them
                try:
                    message = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    message = coro.send(sent)
                except StopIteration as done:
                    return done.value
