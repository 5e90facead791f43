"""The edit form generated from a tool's input schema, and how a submission is read back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from railgraph.web._forms import FormField, edit_form, parse_edit


class Inner(BaseModel):
    code: str


class Args(BaseModel):
    name: str = Field(min_length=2, description="Who")
    count: int = Field(ge=1)
    ratio: float | None = None
    mode: Literal["fast", "slow"] = "fast"
    loud: bool = False
    tags: list[str] = Field(default_factory=list)
    inner: Inner | None = None


PROPOSED = {"name": "ann", "count": 3, "ratio": 0.5, "tags": ["a"]}


def test_each_argument_gets_the_widget_of_its_type() -> None:
    form = edit_form(Args, PROPOSED)
    assert form.fields == (
        FormField("name", "text", "ann", required=True, help="Who; length ≥ 2"),
        FormField("count", "integer", "3", required=True, help="≥ 1"),
        FormField("ratio", "number", "0.5"),
        FormField("mode", "select", "fast", options=("fast", "slow")),
        FormField("loud", "checkbox", ""),
        FormField("tags", "json", '["a"]'),
        FormField("inner", "json", ""),
    )


def submitted(**changes: str) -> dict[str, str]:
    base = {"name": "ann", "count": "3", "ratio": "0.5", "mode": "fast", "tags": '["a"]'}
    return {**base, **changes}


def test_only_changed_arguments_are_sent() -> None:
    form = parse_edit(Args, PROPOSED, submitted(count="4", loud="on", inner='{"code": "x"}'))
    assert form.valid
    assert form.edit == {"count": 4, "loud": True, "inner": {"code": "x"}}


def test_values_that_cannot_be_read_are_refused_by_field() -> None:
    form = parse_edit(Args, PROPOSED, submitted(count="2.5", ratio="inf", tags="[oops"))
    errors = {f.name: f.error for f in form.fields if f.error}
    assert errors == {
        "count": "enter a whole number",
        "ratio": "enter a finite number",
        "tags": "enter JSON (Expecting value)",
    }
    assert not form.valid and form.edit == {}


def test_values_the_schema_refuses_are_shown_by_field() -> None:
    form = parse_edit(Args, PROPOSED, submitted(name="a", count="0", mode="medium"))
    errors = {f.name: f.error for f in form.fields if f.error}
    assert errors == {
        "name": "String should have at least 2 characters",
        "count": "Input should be greater than or equal to 1",
        "mode": "Input should be 'fast' or 'slow'",
    }
    assert [f.value for f in form.fields][:4] == ["a", "0", "0.5", "medium"]


def test_clearing_an_optional_number_sends_none() -> None:
    form = parse_edit(Args, PROPOSED, submitted(ratio=""))
    assert form.edit == {"ratio": None}


def test_an_unchanged_form_is_not_an_edit() -> None:
    form = parse_edit(Args, PROPOSED, submitted())
    assert not form.valid
    assert form.error == "nothing was changed; approve as proposed, or change a field"
