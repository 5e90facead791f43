"""`NoErrorSignal`: catch an error reported inside a response that looks successful."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Any

from ._values import MISSING, describe, lookup, split_path, to_data
from ._verdict import Failure, Verdict

__all__ = ["NoErrorSignal"]


class NoErrorSignal:
    """Check that a response does not report an error while looking like a success.

    Tools and APIs often return normally with the failure inside the payload. This
    check fails with code ``"error_signal"`` for:

    - a status field whose value is one of ``bad_statuses`` (compared case-insensitively
      after trimming; enum members are compared by their value),
    - a success flag that is exactly ``False`` (``{"ok": false}``),
    - an error field with a truthy value (``{"error": "quota exceeded"}``; an empty
      ``errors`` list or a ``None`` error is fine);

    and, when ``results_field`` is given, with ``"empty_results"`` when that field is
    missing, ``None`` or an empty list, or ``"type"`` when it is not a list.

    Where it looks: the value's top-level fields and, when ``nested`` is true, the
    fields of each mapping held directly under a top-level field (``result.status``,
    ``data.errors``), one level deep. Mappings under a status, flag or error field are
    not searched again, and lists are not searched. Field names are matched exactly. A
    value that is not a mapping (after ``model_dump()``) has no fields to signal with.

    Args:
        status_fields: Names of fields that hold a status.
        bad_statuses: Status values that mean the call failed.
        error_fields: Names of fields that hold an error when truthy.
        success_flags: Names of fields that mean the call failed when exactly ``False``.
        results_field: Dotted path of a list that must not be empty, or ``None``.
        nested: Whether to search one level below the top-level fields.
        name: Name of the check.

    Raises:
        ValueError: if ``results_field`` is malformed.
    """

    def __init__(
        self,
        *,
        status_fields: tuple[str, ...] = ("status", "state"),
        bad_statuses: tuple[str, ...] = ("error", "failed", "failure", "fail", "denied", "timeout"),
        error_fields: tuple[str, ...] = ("error", "errors", "error_message", "exception"),
        success_flags: tuple[str, ...] = ("ok", "success"),
        results_field: str | None = None,
        nested: bool = True,
        name: str = "no_error_signal",
    ) -> None:
        self.status_fields = status_fields
        self.bad_statuses = bad_statuses
        self.error_fields = error_fields
        self.success_flags = success_flags
        self.results_field = results_field
        self.nested = nested
        self.name = name
        self._bad = frozenset(status.strip().casefold() for status in bad_statuses)
        self._signal_fields = frozenset((*status_fields, *error_fields, *success_flags))
        self._results_parts = split_path(results_field) if results_field is not None else None

    def __repr__(self) -> str:
        return f"NoErrorSignal(results_field={self.results_field!r}, name={self.name!r})"

    def verify(self, value: Any) -> Verdict:
        """Look for error signals in ``value``."""
        data = to_data(value)
        failures = [
            failure
            for prefix, fields in self._scopes(data)
            for failure in self._signals(prefix, fields)
        ]
        results = self._results(data)
        if results is not None:
            failures.append(results)
        return Verdict.fail(self.name, *failures) if failures else Verdict.ok(self.name)

    def _scopes(self, data: Any) -> Iterator[tuple[str, Mapping[Any, Any]]]:
        if not isinstance(data, Mapping):
            return
        yield "", data
        if not self.nested:
            return
        for key, inner in data.items():
            if isinstance(inner, Mapping) and key not in self._signal_fields:
                yield f"{key}.", inner

    def _signals(self, prefix: str, fields: Mapping[Any, Any]) -> Iterator[Failure]:
        for field in self.status_fields:
            status = fields.get(field)
            if isinstance(status, enum.Enum):
                status = status.value
            if isinstance(status, str) and status.strip().casefold() in self._bad:
                yield self._failure(
                    prefix + field,
                    "error_signal",
                    f"{prefix}{field} is {status!r}, which signals an error; "
                    "the call failed even though it returned, so handle the failure or retry",
                )
        for field in self.success_flags:
            if field in fields and fields[field] is False:
                yield self._failure(
                    prefix + field,
                    "error_signal",
                    f"{prefix}{field} is False, so the call reports that it did not succeed; "
                    "handle the failure or retry",
                )
        for field in self.error_fields:
            error = fields.get(field)
            if error:
                yield self._failure(
                    prefix + field,
                    "error_signal",
                    f"{prefix}{field} is {describe(error)}, so the response carries an error; "
                    "handle it or retry",
                )

    def _results(self, data: Any) -> Failure | None:
        if self.results_field is None or self._results_parts is None:
            return None
        field = self.results_field
        found = lookup(data, self._results_parts)
        if found is MISSING or found is None:
            state = "missing" if found is MISSING else "None"
            return self._failure(
                field, "empty_results", f"{field} is {state}; expected a non-empty list of results"
            )
        if not isinstance(found, list):
            return self._failure(
                field, "type", f"{field} is a {type(found).__name__}, expected a list of results"
            )
        if not found:
            return self._failure(
                field,
                "empty_results",
                f"{field} is an empty list; the call found nothing, "
                "so broaden the request or handle the empty result",
            )
        return None

    def _failure(self, path: str, code: str, message: str) -> Failure:
        return Failure(verifier=self.name, path=path, code=code, message=message)
