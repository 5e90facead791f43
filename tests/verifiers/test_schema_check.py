"""Schema: the value must validate against a pydantic model."""

import dataclasses

import pytest
from pydantic import BaseModel, Field

from railgraph.verifiers import Failure, Schema, Verdict


class Item(BaseModel):
    id: str
    qty: int = Field(ge=1)


class Refund(BaseModel):
    order_id: str
    amount: float = Field(gt=0)
    items: list[Item] = []


class Aliased(BaseModel):
    order_id: str = Field(alias="orderId")


@dataclasses.dataclass
class RefundRecord:
    order_id: str
    amount: float


NAME = "schema:Refund"


def schema_failure(path: str, message: str) -> Failure:
    return Failure(verifier=NAME, path=path, code="schema", message=message)


@pytest.mark.parametrize(
    "value",
    [
        {"order_id": "A1", "amount": 5},
        {"order_id": "A1", "amount": 5, "items": [{"id": "x", "qty": 2}]},
        Refund(order_id="A1", amount=5),
        RefundRecord(order_id="A1", amount=5),
    ],
)
def test_passes_valid_values(value: object) -> None:
    assert Schema(Refund).verify(value) == Verdict.ok(NAME)


def test_one_failure_per_error_with_dotted_paths() -> None:
    value = {"amount": 0, "items": [{"id": "x", "qty": 1}, {"id": 7, "qty": 0}]}
    assert Schema(Refund).verify(value) == Verdict.fail(
        NAME,
        schema_failure("order_id", "order_id is required by Refund but missing; add it"),
        schema_failure(
            "amount", "amount is invalid for Refund: Input should be greater than 0 (got 0)"
        ),
        schema_failure(
            "items.1.id", "items.1.id is invalid for Refund: Input should be a valid string (got 7)"
        ),
        schema_failure(
            "items.1.qty",
            "items.1.qty is invalid for Refund: Input should be greater than or equal to 1 (got 0)",
        ),
    )


def test_a_value_of_the_wrong_shape_fails_at_the_root() -> None:
    assert Schema(Refund).verify(["A1", 5]) == Verdict.fail(
        NAME,
        schema_failure(
            "",
            "the value is invalid for Refund: "
            "Input should be a valid dictionary or instance of Refund (got ['A1', 5])",
        ),
    )


def test_a_model_instance_is_validated_again() -> None:
    unchecked = Refund.model_construct(order_id="A1", amount=-3)
    assert Schema(Refund).verify(unchecked) == Verdict.fail(
        NAME,
        schema_failure(
            "amount", "amount is invalid for Refund: Input should be greater than 0 (got -3)"
        ),
    )


def test_a_model_instance_with_aliases_passes() -> None:
    value = Aliased(orderId="A1")
    assert Schema(Aliased).verify(value) == Verdict.ok("schema:Aliased")


def test_name_can_be_overridden() -> None:
    check = Schema(Refund, name="refund_shape")
    assert check.verify({}) == Verdict.fail(
        "refund_shape",
        Failure(
            verifier="refund_shape",
            path="order_id",
            code="schema",
            message="order_id is required by Refund but missing; add it",
        ),
        Failure(
            verifier="refund_shape",
            path="amount",
            code="schema",
            message="amount is required by Refund but missing; add it",
        ),
    )


def test_refuses_what_is_not_a_model_class() -> None:
    with pytest.raises(TypeError, match=r"Schema needs a pydantic model class, got \{\}"):
        Schema({})  # type: ignore[arg-type]


def test_repr() -> None:
    assert repr(Schema(Refund)) == "Schema(Refund, name='schema:Refund')"
