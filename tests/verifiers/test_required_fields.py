"""RequiredFields: each named field is present and has a value."""

import pytest
from pydantic import BaseModel

from railgraph.verifiers import Failure, RequiredFields, Verdict


class Customer(BaseModel):
    email: str | None = None


class Ticket(BaseModel):
    id: str
    customer: Customer
    lines: list[dict[str, str]] = []


def missing(path: str, message: str, verifier: str = "required_fields") -> Failure:
    return Failure(verifier=verifier, path=path, code="missing", message=message)


CHECK = RequiredFields("id", "customer.email", "lines.0.sku")


def test_passes_when_all_are_present() -> None:
    value = {"id": "T1", "customer": {"email": "a@b.c"}, "lines": [{"sku": "S"}]}
    assert CHECK.verify(value) == Verdict.ok("required_fields")


def test_reports_each_missing_field_in_order() -> None:
    value = {"id": "", "customer": {"email": None}, "lines": []}
    assert CHECK.verify(value) == Verdict.fail(
        "required_fields",
        missing("id", "id is blank (''); it must have a value"),
        missing("customer.email", "customer.email is None; it must have a value"),
        missing("lines.0.sku", "lines.0.sku is missing; the value must include it"),
    )


def test_reads_model_instances() -> None:
    value = Ticket(id="  ", customer=Customer(), lines=[{"sku": "S"}])
    assert CHECK.verify(value) == Verdict.fail(
        "required_fields",
        missing("id", "id is blank ('  '); it must have a value"),
        missing("customer.email", "customer.email is None; it must have a value"),
    )


def test_empty_containers_and_falsy_numbers_count_as_present() -> None:
    check = RequiredFields("tags", "count", "flag")
    assert check.verify({"tags": [], "count": 0, "flag": False}) == Verdict.ok("required_fields")


def test_a_value_that_is_not_a_mapping_has_no_fields() -> None:
    check = RequiredFields("id", name="ticket_fields")
    assert check.verify(None) == Verdict.fail(
        "ticket_fields", missing("id", "id is missing; the value must include it", "ticket_fields")
    )


def test_duplicate_fields_are_checked_once() -> None:
    assert RequiredFields("id", "id").fields == ("id",)


def test_needs_a_field() -> None:
    with pytest.raises(ValueError, match=r"RequiredFields needs at least one field"):
        RequiredFields()


def test_refuses_a_malformed_path() -> None:
    with pytest.raises(ValueError, match=r"field path 'customer\.\.email' has an empty part"):
        RequiredFields("customer..email")


def test_repr() -> None:
    assert repr(RequiredFields("a", "b.c")) == "RequiredFields('a', 'b.c', name='required_fields')"
