"""What a check concludes: `Failure` and `Verdict`, and merging verdicts with `combine`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Failure", "Verdict", "combine"]


class Failure(BaseModel):
    """One thing wrong with a value, as found by one check.

    The built-in checks use these codes: ``schema``, ``missing``, ``below_min``,
    ``above_max``, ``not_a_number``, ``error_signal``, ``empty_results``, ``type``,
    ``predicate`` and ``verifier_error`` (a check that raised). Custom verifiers may add
    their own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    verifier: str
    """Name of the check that found the failure."""

    path: str
    """Dotted path into the value (``"amount"``, ``"items.0.id"``); ``""`` for the whole value."""

    code: str
    """Stable machine code for the kind of failure, such as ``"missing"`` or ``"below_min"``."""

    message: str
    """Human sentence saying what is wrong and, where possible, what would fix it."""


class Verdict(BaseModel):
    """The outcome of a check, or of several merged with `combine`.

    ``passed`` is true exactly when there are no failures: a verdict cannot pass with
    failures, nor fail without saying why.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    verifier: str
    """Name of the check (or of the group of checks) that gave the verdict."""

    passed: bool
    """Whether the value passed."""

    failures: tuple[Failure, ...] = ()
    """What is wrong, in the order the checks found it; empty when the value passed."""

    @model_validator(mode="after")
    def _passed_iff_no_failures(self) -> Self:
        if self.passed and self.failures:
            raise ValueError(
                f"verdict of {self.verifier!r} is marked passed but has "
                f"{len(self.failures)} failure(s); use Verdict.fail(...) for a failing value"
            )
        if not self.passed and not self.failures:
            raise ValueError(
                f"verdict of {self.verifier!r} is marked failed but gives no failure; "
                "pass at least one Failure saying what is wrong"
            )
        return self

    @classmethod
    def ok(cls, verifier: str) -> Verdict:
        """A passing verdict from ``verifier``."""
        return cls(verifier=verifier, passed=True)

    @classmethod
    def fail(cls, verifier: str, *failures: Failure) -> Verdict:
        """A failing verdict from ``verifier``.

        Raises:
            ValueError: if no failure is given.
        """
        if not failures:
            raise ValueError(
                f"Verdict.fail({verifier!r}) needs at least one Failure saying what is wrong"
            )
        return cls(verifier=verifier, passed=False, failures=failures)

    def feedback(self) -> str:
        """The failures as text, one line each, for a person or a retried node to read."""
        if self.passed:
            return f"{self.verifier}: passed"
        return "\n".join(
            f"- {failure.message} [{failure.verifier}: {failure.code}]" for failure in self.failures
        )


def combine(verdicts: Iterable[Verdict], name: str) -> Verdict:
    """Merge several verdicts into one named ``name``.

    The result passes when every verdict passed (so an empty group passes) and carries
    all their failures in order. Each failure keeps the name of the check that found it.
    """
    failures = tuple(failure for verdict in verdicts for failure in verdict.failures)
    return Verdict.fail(name, *failures) if failures else Verdict.ok(name)
