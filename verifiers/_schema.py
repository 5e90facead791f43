"""`Schema`: the value must validate against a pydantic model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ._values import describe
from ._verdict import Failure, Verdict

__all__ = ["Schema"]


class Schema:
    """Check that the value validates against a pydantic model.

    Gives one failure (code ``"schema"``) per validation error, at the error's location
    as a dotted path. A model instance is dumped (by alias) and validated afresh, so an
    instance built with ``model_construct`` or changed after validation is checked too;
    a dataclass instance is validated as a dict of its fields.

    Args:
        model: The pydantic model the value must satisfy.
        name: Name of the check; defaults to ``"schema:<ModelName>"``.
    """

    def __init__(self, model: type[BaseModel], *, name: str | None = None) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(
                f"Schema needs a pydantic model class, got {model!r}; "
                "declare the shape as `class MyOutput(BaseModel): ...`"
            )
        self.model = model
        self.name = name if name is not None else f"schema:{model.__name__}"

    def __repr__(self) -> str:
        return f"Schema({self.model.__name__}, name={self.name!r})"

    def verify(self, value: Any) -> Verdict:
        """Validate ``value`` against the model."""
        if isinstance(value, BaseModel):
            data: Any = value.model_dump(by_alias=True)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            data = dataclasses.asdict(value)
        else:
            data = value
        try:
            self.model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            return Verdict.fail(self.name, *(self._failure(error) for error in errors))
        return Verdict.ok(self.name)

    def _failure(self, error: Mapping[str, Any]) -> Failure:
        path = ".".join(str(part) for part in error["loc"])
        where = path or "the value"
        model = self.model.__name__
        if error["type"] == "missing":
            message = f"{where} is required by {model} but missing; add it"
        else:
            message = (
                f"{where} is invalid for {model}: {error['msg']} (got {describe(error['input'])})"
            )
        return Failure(verifier=self.name, path=path, code="schema", message=message)
