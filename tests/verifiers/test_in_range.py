"""InRange: a number lies within bounds."""

from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import BaseModel

from railgraph.verifiers import Failure, InRange, Verdict


class Refund(BaseModel):
    amount: Decimal


def fail(name: str, path: str, code: str, message: str) -> Verdict:
    return Verdict.fail(name, Failure(verifier=name, path=path, code=code, message=message))


POSITIVE_UP_TO_100 = InRange("amount", gt=0, le=100)


@pytest.mark.parametrize("amount", [0.01, 1, 100, Decimal("99.5"), Fraction(1, 3)])
def test_passes_numbers_within_bounds(amount: object) -> None:
    assert POSITIVE_UP_TO_100.verify({"amount": amount}) == Verdict.ok("in_range:amount")


@pytest.mark.parametrize(
    ("check", "value", "code", "message"),
    [
        (InRange(None, gt=0), 0, "below_min", "value is 0, must be > 0"),
        (InRange(None, ge=1), 0.5, "below_min", "value is 0.5, must be >= 1"),
        (InRange(None, lt=10), 10, "above_max", "value is 10, must be < 10"),
        (InRange(None, le=10), 10.5, "above_max", "value is 10.5, must be <= 10"),
    ],
)
def test_each_bound(check: InRange, value: float, code: str, message: str) -> None:
    assert check.verify(value) == fail("in_range", "", code, message)


def test_below_the_lower_bound() -> None:
    assert POSITIVE_UP_TO_100.verify({"amount": 0}) == fail(
        "in_range:amount", "amount", "below_min", "amount is 0, must be > 0"
    )


def test_above_the_upper_bound_in_a_model() -> None:
    check = InRange("amount", ge=0, le=100, name="refund_amount")
    assert check.verify(Refund(amount=Decimal("100.01"))) == fail(
        "refund_amount", "amount", "above_max", "amount is 100.01, must be <= 100"
    )


def test_dotted_path() -> None:
    check = InRange("lines.1.qty", ge=1)
    assert check.verify({"lines": [{"qty": 1}, {"qty": 0}]}) == fail(
        "in_range:lines.1.qty", "lines.1.qty", "below_min", "lines.1.qty is 0, must be >= 1"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"amount": "12"},
            "amount is '12' (str), not a number; it must be a number > 0 and <= 100",
        ),
        (
            {"amount": True},
            "amount is True (bool), not a number; it must be a number > 0 and <= 100",
        ),
        (
            {"amount": float("nan")},
            "amount is nan (NaN), not a number; it must be a number > 0 and <= 100",
        ),
        (
            {"amount": Decimal("sNaN")},
            "amount is Decimal('sNaN') (NaN), not a number; it must be a number > 0 and <= 100",
        ),
        (
            {"amount": [5]},
            "amount is [5] (list), not a number; it must be a number > 0 and <= 100",
        ),
    ],
)
def test_not_a_number(value: object, message: str) -> None:
    assert POSITIVE_UP_TO_100.verify(value) == fail(
        "in_range:amount", "amount", "not_a_number", message
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "amount is missing; it must be a number > 0 and <= 100"),
        ({"amount": None}, "amount is None; it must be a number > 0 and <= 100"),
    ],
)
def test_missing(value: object, message: str) -> None:
    assert POSITIVE_UP_TO_100.verify(value) == fail("in_range:amount", "amount", "missing", message)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, r"InRange\('amount', name='in_range:amount'\) has no bound"),
        ({"ge": 0, "gt": 0}, ValueError, r"gives both ge and gt; keep one lower bound"),
        ({"le": 1, "lt": 1}, ValueError, r"gives both le and lt; keep one upper bound"),
        ({"ge": 5, "le": 1}, ValueError, r"admits no number; check the bounds"),
        ({"gt": 1, "le": 1}, ValueError, r"admits no number; check the bounds"),
        ({"gt": "1"}, TypeError, r"gt='1' is not a number"),
        ({"le": float("nan")}, TypeError, r"le=nan is not a number"),
    ],
)
def test_refuses_bad_bounds(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        InRange("amount", **kwargs)  # type: ignore[arg-type]


def test_a_single_point_is_a_valid_range() -> None:
    assert InRange(None, ge=1, le=1).verify(1) == Verdict.ok("in_range")


def test_repr() -> None:
    assert repr(InRange("amount", gt=0, le=100)) == (
        "InRange('amount', gt=0, le=100, name='in_range:amount')"
    )
