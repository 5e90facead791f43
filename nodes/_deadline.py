"""A tool coroutine's deadline, whose timer holds nothing of the run once it is cancelled.

`asyncio.timeout` arms its timer in the caller's context. Cancelled when the call returns
(as it nearly always is), the timer stays in the loop's heap until the loop sweeps it, and
with it that context: the node's config, its runtime and scratchpad. At a tool call per
node, a hundred such contexts at a time outlived their nodes, and the collector kept
walking them. `within` keeps `asyncio.timeout`'s meaning, but its timer runs in an empty
context and lets go of the task once cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

__all__ = ["within"]


async def within(coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
    """Await a tool's coroutine with a deadline `timeout_s` from now, as `asyncio.timeout`.

    Raises:
        TimeoutError: The deadline passed first; the coroutine was cancelled.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - a coroutine awaited by the loop runs in a task
        raise RuntimeError("a tool call's deadline needs a running task")
    cancelling = task.cancelling()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    # A context of its own, empty: it needs none of the caller's, and one context cannot
    # be entered by two threads' loops at once.
    timer = loop.call_at(loop.time() + timeout_s, expire, context=contextvars.Context())
    try:
        return await coro
    except asyncio.CancelledError as exc:
        if expired:
            expired = False  # its cancel is withdrawn here
            # Ours only if nobody else cancelled the task meanwhile (as `asyncio.timeout`).
            if task.uncancel() <= cancelling:
                raise TimeoutError(f"the call took more than {timeout_s:g} s") from exc
        raise
    finally:
        timer.cancel()
        if expired:
            # It fired as the call returned, or the tool made the cancel into an error of
            # its own: the cancel it asked for is withdrawn.
            task.uncancel()
