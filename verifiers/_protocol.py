"""The `Verifier` protocol, and running verifiers so that a broken check never passes."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol, runtime_checkable

from ._verdict import Failure, Verdict, combine

__all__ = ["Verifier", "run_verifier", "run_verifiers"]


@runtime_checkable
class Verifier(Protocol):
    """Anything that checks a value and gives a `Verdict`.

    ``verify`` may be a plain method or a coroutine function; call it through
    `run_verifier`, which handles both and turns an exception into a failed verdict.
    """

    name: str
    """Name of the check, reported in its verdicts and failures."""

    def verify(self, value: Any) -> Verdict | Awaitable[Verdict]:
        """Check ``value`` and return (or resolve to) a verdict."""
        ...


async def run_verifier(verifier: Verifier, value: Any) -> Verdict:
    """Run one verifier on ``value``, awaiting it if it is async.

    A verifier that raises, or that returns something other than a `Verdict`, gives a
    failed verdict with code ``"verifier_error"`` instead: a broken check must never let
    a value through. Cancellation and other `BaseException`s still propagate.
    """
    name = _name_of(verifier)
    try:
        result: object = verifier.verify(value)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return _broken(name, f"{name} raised {detail}")
    if not isinstance(result, Verdict):
        return _broken(name, f"{name} returned {type(result).__name__}, not a Verdict")
    return result


async def run_verifiers(verifiers: Iterable[Verifier], value: Any, *, name: str) -> Verdict:
    """Run several verifiers on ``value`` concurrently and `combine` their verdicts.

    Failures come in the order the verifiers were given, whatever order they finish in.
    """
    verdicts = await asyncio.gather(*(run_verifier(verifier, value) for verifier in verifiers))
    return combine(verdicts, name)


def _name_of(verifier: Verifier) -> str:
    # A misbuilt verifier may lack a usable name; its verdict still needs one.
    name = getattr(verifier, "name", None)
    return name if isinstance(name, str) and name else type(verifier).__name__


def _broken(name: str, what: str) -> Verdict:
    return Verdict.fail(
        name,
        Failure(
            verifier=name,
            path="",
            code="verifier_error",
            message=f"{what}; the check is broken, so the value is not accepted until it is fixed",
        ),
    )
