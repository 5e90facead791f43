"""Checks of a tool's values: its own (`validate`), and, strictly, what people type into a
decision: edited arguments and observed results.

A reviewer's JSON is checked more strictly than a tool's own values: a misspelled field is
refused rather than ignored (it would silently leave the proposed value in force), a string
is not read as a number, and ``Infinity`` or ``NaN`` are refused (they cannot be stored as
JSON). Each refusal names the field and says how to decide again; the request stays pending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from railgraph.errors import DecisionError, ToolError
from railgraph.nodes._nonfinite import exact_json, holds_nonfinite, holds_shown_text
from railgraph.nodes._tools import ToolSpec
from railgraph.vocab import ShownNumber, shown

__all__ = ["merge_edit", "observed_result", "validate"]


def merge_edit(
    tool: ToolSpec, proposed: Mapping[str, Any], edit: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge a reviewer's edit into the proposed arguments and validate the result strictly.

    Returns:
        The arguments to call the tool with, as JSON-able data.

    Raises:
        DecisionError: The edit names a field the tool does not take, holds a number that is
            not finite, or a value of the wrong type; the request is still pending.
    """
    fix = (
        "the request is still pending, decide again with arguments that match "
        f"{tool.input.__name__} ({_fields(tool.input)})"
    )
    what = ("the edit", f"tool {tool.name!r}")
    _finite(what, edit, fix)
    # The proposed arguments as the tool would read them: edits are checked strictly, the
    # graph's own values as the tool call checks them.
    try:
        base = exact_json(tool.input.model_validate(dict(proposed)), by_alias=True)
    except ValidationError:
        base = dict(proposed)
    merged = {**base, **_changes(what, base, edit, fix)}
    model = _strict(tool.input, merged, what, fix)
    _no_unknown(what, edit, model, fix)
    # Exact: the proposed values the edit leaves alone stay as proposed (an infinity too).
    return exact_json(model)


def _changes(
    what: tuple[str, str], base: Mapping[str, Any], edit: Mapping[str, Any], fix: str
) -> dict[str, Any]:
    """The fields an edit changes.

    A field given back as the reviewer was shown it is not changed: its proposed value stays
    (an infinity stays one, where the reviewer read the text "Infinity"). A changed field
    whose proposed value holds a NaN or an infinity may not hold that text: the edit would
    put a string where the call has a number.

    Raises:
        DecisionError: A changed field holds the text of such a number.
    """
    changes: dict[str, Any] = {}
    for key, value in edit.items():
        if key in base and shown(value) == shown(base[key]):
            continue
        # The proposed value as the run keeps it, or as the review queue shows it (where
        # the decision is checked first): either way its numbers are not text.
        proposed = base.get(key)
        if (holds_nonfinite(proposed) or holds_shown_text(proposed)) and holds_shown_text(value):
            raise DecisionError(
                f"{what[0]} gives {key!r} the text of a number that is not finite "
                f"({', '.join(number.value for number in ShownNumber)}), which the proposed "
                f"call holds as a number: leave {key!r} out of the edit to keep its proposed "
                f"value, or give finite numbers; {fix}"
            )
        changes[key] = value
    return changes


def observed_result(tool: ToolSpec, result: Mapping[str, Any]) -> dict[str, Any]:
    """Check the result a person observed for an effect a crash left unknown.

    Returns:
        The result as the tool would have returned it, as JSON-able data.

    Raises:
        DecisionError: The result does not match the tool's output schema strictly; the
            request is still pending.
    """
    fix = (
        "the request is still pending, give the result as the tool returns it: "
        f"{tool.output.__name__} ({_fields(tool.output)})"
    )
    what = ("the result given", f"the output of tool {tool.name!r}")
    _finite(what, result, fix)
    model = _strict(tool.output, dict(result), what, fix)
    _no_unknown(what, result, model, fix)
    return model.model_dump(mode="json")


def _fields(schema: type[BaseModel]) -> str:
    return ", ".join(schema.model_fields) or "no fields"


def _finite(what: tuple[str, str], value: Mapping[str, Any], fix: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise DecisionError(
            f"{what[0]} holds a number that is not finite (Infinity or NaN); {fix}"
        ) from None
    except TypeError as exc:
        raise DecisionError(f"{what[0]} is not plain JSON data ({exc}); {fix}") from None


def _strict(
    schema: type[BaseModel], value: dict[str, Any], what: tuple[str, str], fix: str
) -> BaseModel:
    try:
        return schema.model_validate_json(json.dumps(value, default=str), strict=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(value)'}: {e['msg']}" for e in exc.errors()
        )
        raise DecisionError(f"{what[0]} does not fit {what[1]} ({problems}); {fix}") from None


def _no_unknown(
    what: tuple[str, str], given: Mapping[str, Any], model: BaseModel, fix: str
) -> None:
    """Refuse fields the model dropped while validating (at any depth)."""
    kept = (model.model_dump(mode="json"), model.model_dump(mode="json", by_alias=True))
    unknown = sorted(set(_dropped(given, kept[0], ())) & set(_dropped(given, kept[1], ())))
    if unknown:
        names = ", ".join(repr(".".join(path)) for path in unknown)
        raise DecisionError(f"{what[0]} names fields that {what[1]} does not have: {names}; {fix}")


def _dropped(given: Any, kept: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(given, Mapping) and isinstance(kept, Mapping):
        out: list[tuple[str, ...]] = []
        for key, value in given.items():
            if key not in kept:
                out.append((*path, str(key)))
            else:
                out += _dropped(value, kept[key], (*path, str(key)))
        return out
    if isinstance(given, list) and isinstance(kept, list):
        return [
            p
            for i, (g, k) in enumerate(zip(given, kept, strict=False))
            for p in _dropped(g, k, (*path, str(i)))
        ]
    return []


def validate(schema: type[BaseModel], value: Any, what: str, node: str) -> dict[str, Any]:
    """A tool's own arguments or result, checked against its schema as pydantic reads them,
    in their exact form.

    Raises:
        ToolError: ``value`` does not fit ``schema``, naming each field (``what`` at ``node``).
    """
    try:
        if isinstance(value, schema):
            model = value
        elif isinstance(value, BaseModel):
            model = schema.model_validate(value.model_dump())
        else:
            model = schema.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(value)'}: {e['msg']}" for e in exc.errors()
        )
        raise ToolError(
            f"{what} at node {node!r} do not match {schema.__name__}: {problems}"
        ) from None
    # Exact: a NaN or an infinity inside an ``Any`` value reaches the tool as given.
    return exact_json(model)
