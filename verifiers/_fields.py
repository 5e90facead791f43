"""Checks on named fields: `RequiredFields` and `InRange`."""

from __future__ import annotations

import numbers
from decimal import Decimal
from typing import Any

from ._values import MISSING, describe, lookup, split_path, to_data
from ._verdict import Failure, Verdict

__all__ = ["Bound", "InRange", "RequiredFields"]

Bound = int | float | Decimal
"""A numeric bound of `InRange`."""


class RequiredFields:
    """Check that each named field is present and has a value.

    A field fails (code ``"missing"``) when its path leads nowhere, or its value is
    ``None``, ``""`` or a string of only whitespace. Empty lists and dicts count as
    present. Pydantic models are read through ``model_dump()``, so paths use field names.

    Args:
        *fields: Dotted paths into the value, such as ``"order_id"`` or ``"items.0.sku"``.
        name: Name of the check.

    Raises:
        ValueError: if no field is given or a path is malformed.
    """

    def __init__(self, *fields: str, name: str = "required_fields") -> None:
        if not fields:
            raise ValueError(
                "RequiredFields needs at least one field, e.g. RequiredFields('order_id')"
            )
        self.fields = tuple(dict.fromkeys(fields))
        self._paths = {field: split_path(field) for field in self.fields}
        self.name = name

    def __repr__(self) -> str:
        fields = ", ".join(repr(field) for field in self.fields)
        return f"RequiredFields({fields}, name={self.name!r})"

    def verify(self, value: Any) -> Verdict:
        """Check that every field is present in ``value`` and not empty."""
        data = to_data(value)
        failures: list[Failure] = []
        for field, parts in self._paths.items():
            found = lookup(data, parts)
            if found is MISSING:
                problem = "is missing; the value must include it"
            elif found is None:
                problem = "is None; it must have a value"
            elif isinstance(found, str) and not found.strip():
                problem = f"is blank ({found!r}); it must have a value"
            else:
                continue
            failures.append(
                Failure(
                    verifier=self.name, path=field, code="missing", message=f"{field} {problem}"
                )
            )
        return Verdict.fail(self.name, *failures) if failures else Verdict.ok(self.name)


class InRange:
    """Check that a number lies within bounds.

    Fails with ``"below_min"`` or ``"above_max"`` when out of bounds, ``"not_a_number"``
    for anything that is not a real number (booleans, strings and NaN included; numeric
    strings are not converted) and ``"missing"`` when the field is absent or ``None``.

    Args:
        field: Dotted path of the number in the value, or ``None`` for the value itself.
        ge: The number must be greater than or equal to this.
        gt: The number must be greater than this.
        le: The number must be less than or equal to this.
        lt: The number must be less than this.
        name: Name of the check; defaults to ``"in_range:<field>"`` (``"in_range"``
            when ``field`` is ``None``).

    Raises:
        ValueError: if no bound is given, both ``ge`` and ``gt`` (or ``le`` and ``lt``)
            are, the bounds admit no number, or ``field`` is malformed.
        TypeError: if a bound is not a number.
    """

    def __init__(
        self,
        field: str | None,
        *,
        ge: Bound | None = None,
        gt: Bound | None = None,
        le: Bound | None = None,
        lt: Bound | None = None,
        name: str | None = None,
    ) -> None:
        self.field = field
        self._parts = split_path(field) if field is not None else ()
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        if name is None:
            name = f"in_range:{field}" if field is not None else "in_range"
        self.name = name
        self._check_bounds()

    def _check_bounds(self) -> None:
        given = {key: bound for key, bound in self._bounds() if bound is not None}
        if not given:
            raise ValueError(f"{self!r} has no bound; pass at least one of ge, gt, le or lt")
        for key, bound in given.items():
            if not _is_number(bound) or _is_nan(bound):
                raise TypeError(f"{self!r}: {key}={bound!r} is not a number")
        if self.ge is not None and self.gt is not None:
            raise ValueError(f"{self!r} gives both ge and gt; keep one lower bound")
        if self.le is not None and self.lt is not None:
            raise ValueError(f"{self!r} gives both le and lt; keep one upper bound")
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        exclusive = self.gt is not None or self.lt is not None
        if low is not None and high is not None and (low > high or (low == high and exclusive)):
            raise ValueError(f"{self!r} admits no number; check the bounds")

    def _bounds(self) -> tuple[tuple[str, Bound | None], ...]:
        return (("ge", self.ge), ("gt", self.gt), ("le", self.le), ("lt", self.lt))

    def __repr__(self) -> str:
        bounds = "".join(f", {key}={bound!r}" for key, bound in self._bounds() if bound is not None)
        return f"InRange({self.field!r}{bounds}, name={self.name!r})"

    def verify(self, value: Any) -> Verdict:
        """Check that the number at ``field`` (or ``value`` itself) is within the bounds."""
        found = to_data(value) if self.field is None else lookup(to_data(value), self._parts)
        failure = self._judge(found)
        return Verdict.ok(self.name) if failure is None else Verdict.fail(self.name, failure)

    def _judge(self, found: Any) -> Failure | None:
        path = self.field or ""
        where = self.field or "value"
        if found is MISSING or found is None:
            state = "missing" if found is MISSING else "None"
            return self._failure(
                path, "missing", f"{where} is {state}; it must be a number {self._range()}"
            )
        if not _is_number(found) or _is_nan(found):
            kind = "NaN" if _is_number(found) else type(found).__name__
            return self._failure(
                path,
                "not_a_number",
                f"{where} is {describe(found)} ({kind}), not a number; "
                f"it must be a number {self._range()}",
            )
        if self.ge is not None and found < self.ge:
            return self._failure(path, "below_min", f"{where} is {found}, must be >= {self.ge}")
        if self.gt is not None and found <= self.gt:
            return self._failure(path, "below_min", f"{where} is {found}, must be > {self.gt}")
        if self.le is not None and found > self.le:
            return self._failure(path, "above_max", f"{where} is {found}, must be <= {self.le}")
        if self.lt is not None and found >= self.lt:
            return self._failure(path, "above_max", f"{where} is {found}, must be < {self.lt}")
        return None

    def _range(self) -> str:
        symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        return " and ".join(
            f"{symbols[key]} {bound}" for key, bound in self._bounds() if bound is not None
        )

    def _failure(self, path: str, code: str, message: str) -> Failure:
        return Failure(verifier=self.name, path=path, code=code, message=message)


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but True is not an amount.
    return isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool)


def _is_nan(value: Any) -> bool:
    # Decimal's signalling NaN raises on comparison, so ask it directly.
    if isinstance(value, Decimal):
        return value.is_nan()
    return bool(value != value)
