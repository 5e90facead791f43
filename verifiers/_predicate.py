"""`Predicate`: a check written as a function that says yes or no."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._values import split_path
from ._verdict import Failure, Verdict

__all__ = ["Predicate"]


class Predicate:
    """Check the value with a function that returns ``True`` (pass) or ``False`` (fail).

    ``fn`` receives the value exactly as given (a model instance stays an instance), so
    it can compare fields with each other. It may be a plain or an async function. A
    result that is not a `bool` raises `TypeError` rather than being read as truthy, so a
    function that forgets to ``return`` cannot pass; `run_verifier` turns that (and
    anything ``fn`` raises) into a ``"verifier_error"`` failure.

    Args:
        fn: The function; ``True`` means the value is acceptable.
        message: What the failure says; state the rule and how to meet it.
        name: Name of the check.
        path: Dotted path the failure points at; ``""`` for the whole value.

    Raises:
        ValueError: if ``message`` is blank or ``path`` is malformed.
        TypeError: if ``fn`` is not callable.
    """

    def __init__(
        self,
        fn: Callable[[Any], bool | Awaitable[bool]],
        *,
        message: str,
        name: str = "predicate",
        path: str = "",
    ) -> None:
        if not callable(fn):
            raise TypeError(f"Predicate needs a function, got {fn!r}")
        if not message.strip():
            raise ValueError(
                "Predicate needs a message that says what is wrong when fn returns False"
            )
        split_path(path)
        self.fn = fn
        self.message = message
        self.name = name
        self.path = path

    def __repr__(self) -> str:
        return f"Predicate({self.fn!r}, message={self.message!r}, name={self.name!r})"

    def verify(self, value: Any) -> Verdict | Awaitable[Verdict]:
        """Call ``fn`` on ``value``; returns an awaitable when ``fn`` is async."""
        result = self.fn(value)
        if inspect.isawaitable(result):
            return self._judge_later(result)
        return self._judge(result)

    async def _judge_later(self, result: Awaitable[bool]) -> Verdict:
        return self._judge(await result)

    def _judge(self, result: object) -> Verdict:
        if result is True:
            return Verdict.ok(self.name)
        if result is False:
            failure = Failure(
                verifier=self.name, path=self.path, code="predicate", message=self.message
            )
            return Verdict.fail(self.name, failure)
        raise TypeError(
            f"predicate {self.name!r} returned {_describe_type(result)}, not a bool; "
            "make its function return True or False"
        )


def _describe_type(result: object) -> str:
    return "None" if result is None else f"a {type(result).__name__}"
