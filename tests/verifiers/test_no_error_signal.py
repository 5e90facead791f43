"""NoErrorSignal: an error reported inside a response that looks successful."""

import enum

import pytest
from pydantic import BaseModel

from railgraph.verifiers import Failure, NoErrorSignal, Verdict

NAME = "no_error_signal"
RETRY = "handle the failure or retry"


def signal(path: str, message: str, code: str = "error_signal", name: str = NAME) -> Failure:
    return Failure(verifier=name, path=path, code=code, message=message)


def bad_status(path: str, status: str) -> Failure:
    return signal(
        path,
        f"{path} is {status!r}, which signals an error; the call failed even though it "
        f"returned, so {RETRY}",
    )


def error(path: str, shown: str) -> Failure:
    return signal(path, f"{path} is {shown}, so the response carries an error; handle it or retry")


def flag(path: str) -> Failure:
    return signal(path, f"{path} is False, so the call reports that it did not succeed; {RETRY}")


class Status(enum.Enum):
    DONE = "done"
    FAILED = "Failed"


class Payment(BaseModel):
    state: Status
    error_message: str | None = None


class Response(BaseModel):
    payment: Payment
    results: list[int] = []


@pytest.mark.parametrize(
    "value",
    [
        {"status": "ok", "state": "done", "data": [1]},
        {"error": None, "errors": [], "error_message": "", "exception": False},
        {"ok": True, "success": None, "result": {"status": "completed", "error": None}},
        {"status": 500, "state": {"code": "failed"}},
        Response(payment=Payment(state=Status.DONE)),
        None,
        ["error", {"status": "failed"}],
        "failed",
    ],
)
def test_passes_clean_responses(value: object) -> None:
    assert NoErrorSignal().verify(value) == Verdict.ok(NAME)


@pytest.mark.parametrize("status", ["error", "FAILED", " Timeout ", "denied", "fail", "failure"])
def test_bad_status_in_any_case(status: str) -> None:
    assert NoErrorSignal().verify({"status": status}) == Verdict.fail(
        NAME, bad_status("status", status)
    )


def test_every_signal_top_level_then_nested() -> None:
    value = {
        "state": "failed",
        "errors": [{"message": "card declined"}],
        "success": False,
        "charge": {"status": "error", "exception": "Timeout()", "ok": False},
        "meta": {"status": "fine"},
    }
    assert NoErrorSignal().verify(value) == Verdict.fail(
        NAME,
        bad_status("state", "failed"),
        flag("success"),
        error("errors", "[{'message': 'card declined'}]"),
        bad_status("charge.status", "error"),
        flag("charge.ok"),
        error("charge.exception", "'Timeout()'"),
    )


def test_nesting_stops_after_one_level() -> None:
    value = {"data": {"payment": {"status": "failed"}}}
    assert NoErrorSignal().verify(value) == Verdict.ok(NAME)


def test_signal_fields_are_not_searched_again() -> None:
    value = {"error": {"status": "failed", "message": "boom"}}
    assert NoErrorSignal().verify(value) == Verdict.fail(
        NAME, error("error", "{'message': 'boom', 'status': 'failed'}")
    )


def test_nested_search_can_be_turned_off() -> None:
    value = {"charge": {"status": "error"}}
    assert NoErrorSignal(nested=False).verify(value) == Verdict.ok(NAME)


def test_reads_model_instances_and_enum_statuses() -> None:
    value = Response(payment=Payment(state=Status.FAILED, error_message="insufficient funds"))
    assert NoErrorSignal().verify(value) == Verdict.fail(
        NAME,
        bad_status("payment.state", "Failed"),
        error("payment.error_message", "'insufficient funds'"),
    )


def test_custom_fields_and_statuses() -> None:
    check = NoErrorSignal(
        status_fields=("outcome",),
        bad_statuses=("REJECTED",),
        error_fields=("problem",),
        success_flags=(),
        name="gateway_ok",
    )
    value = {"outcome": "rejected", "status": "error", "problem": "fraud", "ok": False}
    assert check.verify(value) == Verdict.fail(
        "gateway_ok",
        signal(
            "outcome",
            f"outcome is 'rejected', which signals an error; the call failed even though it "
            f"returned, so {RETRY}",
            name="gateway_ok",
        ),
        signal(
            "problem",
            "problem is 'fraud', so the response carries an error; handle it or retry",
            name="gateway_ok",
        ),
    )


SEARCH = NoErrorSignal(results_field="data.hits")


def test_results_present() -> None:
    assert SEARCH.verify({"data": {"hits": [{"id": 1}]}}) == Verdict.ok(NAME)


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (
            {"data": {"hits": []}},
            "empty_results",
            "data.hits is an empty list; the call found nothing, "
            "so broaden the request or handle the empty result",
        ),
        (
            {"data": {}},
            "empty_results",
            "data.hits is missing; expected a non-empty list of results",
        ),
        (
            {"data": {"hits": None}},
            "empty_results",
            "data.hits is None; expected a non-empty list of results",
        ),
        ({"data": {"hits": "none"}}, "type", "data.hits is a str, expected a list of results"),
        (None, "empty_results", "data.hits is missing; expected a non-empty list of results"),
    ],
)
def test_results_empty_missing_or_wrong(value: object, code: str, message: str) -> None:
    assert SEARCH.verify(value) == Verdict.fail(NAME, signal("data.hits", message, code))


def test_results_come_after_signals() -> None:
    value = {"status": "timeout", "data": {"hits": ()}}
    assert SEARCH.verify(value) == Verdict.fail(
        NAME,
        bad_status("status", "timeout"),
        signal(
            "data.hits",
            "data.hits is an empty list; the call found nothing, "
            "so broaden the request or handle the empty result",
            "empty_results",
        ),
    )


def test_refuses_a_malformed_results_field() -> None:
    with pytest.raises(ValueError, match=r"field path 'data\.' has an empty part"):
        NoErrorSignal(results_field="data.")
