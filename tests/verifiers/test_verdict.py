"""Failure and Verdict: construction rules, combine, feedback text and the JSON form."""

import pydantic
import pytest

from railgraph.verifiers import Failure, Verdict, combine


def failure(verifier: str = "check", path: str = "amount", code: str = "below_min") -> Failure:
    return Failure(verifier=verifier, path=path, code=code, message=f"{path} is wrong")


def test_ok_passes_without_failures() -> None:
    assert Verdict.ok("check") == Verdict(verifier="check", passed=True, failures=())


def test_fail_keeps_failures_in_order() -> None:
    first, second = failure(path="a"), failure(path="b")
    assert Verdict.fail("check", first, second) == Verdict(
        verifier="check", passed=False, failures=(first, second)
    )


def test_fail_without_failures_is_refused() -> None:
    with pytest.raises(ValueError, match=r"needs at least one Failure"):
        Verdict.fail("check")


def test_a_passed_verdict_cannot_carry_failures() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"marked passed but has 1 failure"):
        Verdict(verifier="check", passed=True, failures=(failure(),))


def test_a_failed_verdict_must_say_why() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"marked failed but gives no failure"):
        Verdict(verifier="check", passed=False)


def test_verdicts_and_failures_are_frozen() -> None:
    verdict = Verdict.fail("check", failure())
    with pytest.raises(pydantic.ValidationError, match=r"frozen"):
        verdict.passed = True  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match=r"frozen"):
        verdict.failures[0].code = "other"  # type: ignore[misc]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"extra_forbidden"):
        Failure.model_validate(
            {"verifier": "v", "path": "", "code": "c", "message": "m", "severity": "high"}
        )


def test_combine_passes_when_all_pass() -> None:
    assert combine([Verdict.ok("a"), Verdict.ok("b")], "gate") == Verdict.ok("gate")


def test_combine_of_nothing_passes() -> None:
    assert combine([], "gate") == Verdict.ok("gate")


def test_combine_concatenates_failures_in_order() -> None:
    a1, a2, c1 = failure("a", "x"), failure("a", "y"), failure("c", "z")
    verdicts = [Verdict.fail("a", a1, a2), Verdict.ok("b"), Verdict.fail("c", c1)]
    assert combine(verdicts, "gate") == Verdict(
        verifier="gate", passed=False, failures=(a1, a2, c1)
    )


def test_combine_accepts_any_iterable() -> None:
    verdicts = (Verdict.fail(name, failure(name)) for name in ("a", "b"))
    assert combine(verdicts, "gate").failures == (failure("a"), failure("b"))


def test_json_form_is_stable() -> None:
    verdict = Verdict.fail("in_range:amount", failure("in_range:amount", "amount"))
    assert verdict.model_dump(mode="json") == {
        "verifier": "in_range:amount",
        "passed": False,
        "failures": [
            {
                "verifier": "in_range:amount",
                "path": "amount",
                "code": "below_min",
                "message": "amount is wrong",
            }
        ],
    }


@pytest.mark.parametrize(
    "verdict",
    [
        Verdict.ok("check"),
        Verdict.fail("gate", failure("a", "x"), failure("b", "", "schema")),
    ],
)
def test_json_round_trip(verdict: Verdict) -> None:
    assert Verdict.model_validate_json(verdict.model_dump_json()) == verdict
    assert Verdict.model_validate(verdict.model_dump(mode="json")) == verdict


def test_feedback_lists_each_failure() -> None:
    verdict = Verdict.fail("gate", failure("a", "x", "missing"), failure("b", "y", "schema"))
    assert verdict.feedback() == "- x is wrong [a: missing]\n- y is wrong [b: schema]"


def test_feedback_of_a_pass() -> None:
    assert Verdict.ok("gate").feedback() == "gate: passed"


def test_field_docstrings_become_descriptions() -> None:
    assert Failure.model_fields["path"].description == (
        'Dotted path into the value (``"amount"``, ``"items.0.id"``); ``""`` for the whole value.'
    )
