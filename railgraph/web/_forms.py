"""The edit form of a review request, generated from the tool's input schema.

Each argument becomes a field whose widget follows its JSON-schema type: text, a number, a
whole number, a checkbox, a choice among an enum's values, or JSON for anything nested. What a
reviewer submits is parsed back to values, compared with the proposed arguments, and the
merged arguments are validated against the tool's schema, so errors are shown next to their
fields while the request stays pending. The runner validates again when it records the edit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from railgraph.vocab import ShownNumber

__all__ = ["EditForm", "FormField", "edit_form", "parse_edit"]

Widget = Literal["text", "number", "integer", "checkbox", "select", "json"]


@dataclass(frozen=True)
class FormField:
    """One argument of the tool, as a form field."""

    name: str
    """The argument's name (also the input's name)."""
    widget: Widget
    """How it is entered."""
    value: str
    """What the input shows: the proposed value, or what the reviewer submitted."""
    required: bool = False
    """Whether the schema requires it."""
    options: tuple[str, ...] = ()
    """The choices of a ``select``."""
    help: str = ""
    """The schema's description and limits."""
    error: str | None = None
    """Why the submitted value was refused."""


@dataclass(frozen=True)
class EditForm:
    """The edit form of one request: its fields and an error for the whole form."""

    fields: tuple[FormField, ...]
    """One per argument of the tool."""
    error: str | None = None
    """A problem that belongs to no single field."""
    edit: dict[str, Any] = field(default_factory=dict)
    """The changed arguments, when the submission was valid."""

    @property
    def valid(self) -> bool:
        """Whether the submission can be sent to the runner."""
        return self.error is None and all(f.error is None for f in self.fields)


def _resolve(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property's schema with ``$ref`` resolved and an ``X | None`` union unwrapped."""
    optional = False
    options = prop.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o.get("type") != "null"]
        optional = len(rest) < len(options)
        if len(rest) == 1:
            prop = {**prop, **rest[0]}
    ref = prop.get("$ref")
    if isinstance(ref, str):
        prop = {**prop, **defs.get(ref.rsplit("/", 1)[-1], {})}
    return dict(prop), optional


def _widget(prop: Mapping[str, Any]) -> Widget:
    if isinstance(prop.get("enum"), list):
        return "select"
    kind = prop.get("type")
    if kind == "string":
        return "text"
    if kind == "number":
        return "number"
    if kind == "integer":
        return "integer"
    if kind == "boolean":
        return "checkbox"
    return "json"


def _help(prop: Mapping[str, Any]) -> str:
    limits = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
        "minLength": "length ≥",
        "maxLength": "length ≤",
        "pattern": "matches",
    }
    parts = [str(prop["description"])] if prop.get("description") else []
    parts += [f"{word} {prop[key]}" for key, word in limits.items() if key in prop]
    return "; ".join(parts)


def _shown(widget: Widget, value: Any) -> str:
    if value is None:
        return ""
    if widget == "json":
        return json.dumps(value, sort_keys=True)
    if widget == "checkbox":
        return "on" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if widget == "integer" else repr(value)
    return str(value)


def _shape(schema: type[BaseModel]) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, resolved property schema, required) for each argument, in declaration order."""
    described = schema.model_json_schema()
    defs = described.get("$defs", {})
    required = set(described.get("required", []))
    out = []
    for name, prop in described.get("properties", {}).items():
        resolved, optional = _resolve(prop, defs)
        out.append((name, resolved, name in required and not optional))
    return out


def edit_form(schema: type[BaseModel], proposed: Mapping[str, Any]) -> EditForm:
    """The form showing the proposed arguments, ready to be edited."""
    fields = []
    for name, prop, required in _shape(schema):
        widget = _widget(prop)
        fields.append(
            FormField(
                name=name,
                widget=widget,
                value=_shown(widget, proposed.get(name, prop.get("default"))),
                required=required,
                options=tuple(str(o) for o in prop.get("enum", ())),
                help=_help(prop),
            )
        )
    return EditForm(tuple(fields))


def _parse(widget: Widget, raw: str | None, required: bool) -> Any:
    """A submitted value as the schema's type.

    Raises:
        ValueError: It cannot be read as that type; the message is shown next to the field.
    """
    if widget == "checkbox":
        return raw is not None
    text = (raw or "").strip() if widget != "text" else (raw or "")
    if text == "" and not required and widget != "text":
        return None
    if widget == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("enter a whole number") from None
    if widget == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("enter a number") from None
        if not math.isfinite(number):
            raise ValueError("enter a finite number")
        return number
    if widget == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"enter JSON ({exc.msg})") from None
    return text


_SHOWN_TEXTS = frozenset(n.value for n in ShownNumber)


def _kept(text: str, proposed: Any) -> Any:
    """A number field submitted as the text of a number that is not finite: the proposed
    value, when the field still shows it (an edit may not introduce such a number).

    Raises:
        ValueError: The proposed value was another one.
    """
    if text == proposed:
        return proposed
    raise ValueError("enter a finite number")


def parse_edit(
    schema: type[BaseModel], proposed: Mapping[str, Any], submitted: Mapping[str, str]
) -> EditForm:
    """Read a submitted edit form: the changed arguments, or the errors next to each field.

    ``submitted`` holds the form's values by argument name (an unchecked box is absent).
    """
    fields: list[FormField] = []
    values: dict[str, Any] = {}
    # An argument the call left out has the schema's default; showing it is not changing it.
    current = {name: prop.get("default") for name, prop, _ in _shape(schema)} | dict(proposed)
    for name, prop, required in _shape(schema):
        widget = _widget(prop)
        raw = submitted.get(name)
        error = None
        try:
            if widget == "number" and raw is not None and raw.strip() in _SHOWN_TEXTS:
                values[name] = _kept(raw.strip(), current.get(name))
            else:
                values[name] = _parse(widget, raw, required)
        except ValueError as exc:
            error = str(exc)
        fields.append(
            FormField(
                name=name,
                widget=widget,
                value=raw if raw is not None else "",
                required=required,
                options=tuple(str(o) for o in prop.get("enum", ())),
                help=_help(prop),
                error=error,
            )
        )
    if any(f.error for f in fields):
        return EditForm(tuple(fields))
    edit = {k: v for k, v in values.items() if current.get(k) != v}
    try:
        schema.model_validate({**proposed, **edit})
    except ValidationError as exc:
        problems: dict[str, str] = {}
        loose: list[str] = []
        for e in exc.errors():
            loc = e["loc"]
            if loc and str(loc[0]) in values:
                problems.setdefault(str(loc[0]), e["msg"])
            else:
                loose.append(e["msg"])
        fields = [FormField(**{**f.__dict__, "error": problems.get(f.name)}) for f in fields]
        return EditForm(tuple(fields), error="; ".join(loose) or None)
    if not edit:
        return EditForm(
            tuple(fields), error="nothing was changed; approve as proposed, or change a field"
        )
    return EditForm(tuple(fields), edit=edit)
