"""The Verifier protocol, run_verifier and run_verifiers."""

import asyncio
from typing import Any

from railgraph.verifiers import (
    Failure,
    InRange,
    NoErrorSignal,
    Predicate,
    RequiredFields,
    Schema,
    Verdict,
    Verifier,
    run_verifier,
    run_verifiers,
)


class SyncCheck:
    name = "sync_check"

    def verify(self, value: Any) -> Verdict:
        return Verdict.ok(self.name)


class AsyncCheck:
    def __init__(self, name: str, *, passes: bool) -> None:
        self.name = name
        self.passes = passes

    async def verify(self, value: Any) -> Verdict:
        if self.passes:
            return Verdict.ok(self.name)
        return Verdict.fail(
            self.name, Failure(verifier=self.name, path="", code="custom", message="no")
        )


class Exploding:
    name = "exploding"

    def verify(self, value: Any) -> Verdict:
        return {"a": 1}["b"]  # type: ignore[return-value]


class ExplodingAsync:
    name = "exploding_async"

    async def verify(self, value: Any) -> Verdict:
        raise RuntimeError("judge model unreachable")


class ReturnsJunk:
    name = "junk"

    def verify(self, value: Any) -> Verdict:
        return True  # type: ignore[return-value]


class Nameless:
    def verify(self, value: Any) -> Verdict:
        raise ValueError


def broken(name: str, message: str) -> Verdict:
    return Verdict.fail(
        name, Failure(verifier=name, path="", code="verifier_error", message=message)
    )


def test_library_checks_and_custom_classes_are_verifiers() -> None:
    checks: list[object] = [
        Schema(Verdict),
        RequiredFields("a"),
        InRange("a", gt=0),
        NoErrorSignal(),
        Predicate(bool, message="must be truthy"),
        SyncCheck(),
        AsyncCheck("a", passes=True),
    ]
    assert all(isinstance(check, Verifier) for check in checks)


def test_objects_without_verify_are_not_verifiers() -> None:
    assert not isinstance(object(), Verifier)


async def test_runs_a_sync_verifier() -> None:
    assert await run_verifier(SyncCheck(), 1) == Verdict.ok("sync_check")


async def test_awaits_an_async_verifier() -> None:
    check = AsyncCheck("remote", passes=False)
    assert await run_verifier(check, 1) == Verdict.fail(
        "remote", Failure(verifier="remote", path="", code="custom", message="no")
    )


async def test_an_exception_becomes_a_failed_verdict() -> None:
    assert await run_verifier(Exploding(), {}) == broken(
        "exploding",
        "exploding raised KeyError: 'b'; "
        "the check is broken, so the value is not accepted until it is fixed",
    )


async def test_an_exception_in_an_async_verifier_becomes_a_failed_verdict() -> None:
    assert await run_verifier(ExplodingAsync(), {}) == broken(
        "exploding_async",
        "exploding_async raised RuntimeError: judge model unreachable; "
        "the check is broken, so the value is not accepted until it is fixed",
    )


async def test_a_result_that_is_not_a_verdict_fails() -> None:
    assert await run_verifier(ReturnsJunk(), {}) == broken(
        "junk",
        "junk returned bool, not a Verdict; "
        "the check is broken, so the value is not accepted until it is fixed",
    )


async def test_a_verifier_without_a_name_is_named_by_its_class() -> None:
    assert await run_verifier(Nameless(), {}) == broken(  # type: ignore[arg-type]
        "Nameless",
        "Nameless raised ValueError; "
        "the check is broken, so the value is not accepted until it is fixed",
    )


async def test_run_verifiers_combines_in_the_given_order() -> None:
    release = asyncio.Event()

    class Slow:
        name = "slow"

        async def verify(self, value: Any) -> Verdict:
            await release.wait()
            return Verdict.fail(
                "slow", Failure(verifier="slow", path="", code="custom", message="late")
            )

    class Releaser:
        name = "releaser"

        def verify(self, value: Any) -> Verdict:
            release.set()
            return Verdict.ok("releaser")

    # Run one at a time, Slow would wait forever: the timeout turns that into a failure.
    async with asyncio.timeout(5):
        verdict = await run_verifiers([Slow(), Releaser(), Exploding()], {}, name="gate")
    assert verdict == Verdict(
        verifier="gate",
        passed=False,
        failures=(
            Failure(verifier="slow", path="", code="custom", message="late"),
            Failure(
                verifier="exploding",
                path="",
                code="verifier_error",
                message="exploding raised KeyError: 'b'; "
                "the check is broken, so the value is not accepted until it is fixed",
            ),
        ),
    )


async def test_run_verifiers_passes_when_all_pass() -> None:
    checks: list[Verifier] = [SyncCheck(), AsyncCheck("remote", passes=True)]
    assert await run_verifiers(checks, 1, name="gate") == Verdict.ok("gate")
