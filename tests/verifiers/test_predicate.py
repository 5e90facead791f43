"""Predicate: a check written as a function."""

import pytest
from pydantic import BaseModel

from railgraph.verifiers import Failure, Predicate, Verdict, run_verifier


class Refund(BaseModel):
    amount: int
    order_total: int


WITHIN_TOTAL = Predicate(
    lambda refund: refund.amount <= refund.order_total,
    message="amount exceeds the order total; refund at most the order total",
    name="refund_within_total",
    path="amount",
)


def test_passes_when_the_function_says_yes() -> None:
    verdict = WITHIN_TOTAL.verify(Refund(amount=5, order_total=10))
    assert verdict == Verdict.ok("refund_within_total")


def test_fails_with_the_given_message_and_path() -> None:
    verdict = WITHIN_TOTAL.verify(Refund(amount=15, order_total=10))
    assert verdict == Verdict.fail(
        "refund_within_total",
        Failure(
            verifier="refund_within_total",
            path="amount",
            code="predicate",
            message="amount exceeds the order total; refund at most the order total",
        ),
    )


async def test_async_function() -> None:
    async def is_known_customer(value: dict[str, str]) -> bool:
        return value["customer"] in {"ada"}

    check = Predicate(is_known_customer, message="unknown customer; look the customer up first")
    assert await run_verifier(check, {"customer": "ada"}) == Verdict.ok("predicate")
    assert await run_verifier(check, {"customer": "bob"}) == Verdict.fail(
        "predicate",
        Failure(
            verifier="predicate",
            path="",
            code="predicate",
            message="unknown customer; look the customer up first",
        ),
    )


def test_a_result_that_is_not_a_bool_raises() -> None:
    check = Predicate(lambda value: None, message="never used", name="forgot_return")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match=r"'forgot_return' returned None, not a bool"):
        check.verify(1)


async def test_a_truthy_non_bool_is_a_broken_check_through_run_verifier() -> None:
    check = Predicate(lambda value: [value], message="never used")  # type: ignore[arg-type,return-value]
    assert await run_verifier(check, 1) == Verdict.fail(
        "predicate",
        Failure(
            verifier="predicate",
            path="",
            code="verifier_error",
            message="predicate raised TypeError: predicate 'predicate' returned a list, "
            "not a bool; make its function return True or False; "
            "the check is broken, so the value is not accepted until it is fixed",
        ),
    )


def test_needs_a_message() -> None:
    with pytest.raises(ValueError, match=r"Predicate needs a message"):
        Predicate(bool, message="  ")


def test_needs_a_function() -> None:
    with pytest.raises(TypeError, match=r"Predicate needs a function, got 3"):
        Predicate(3, message="m")  # type: ignore[arg-type]
