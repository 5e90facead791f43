"""Numbers that JSON has no form for — NaN, infinity and minus infinity — kept exactly.

A tool's arguments may hold such a number, typed (a ``float`` field) or inside an ``Any``
value. pydantic's JSON-mode dump keeps a typed one but turns one inside an ``Any`` value into
``None``, so a call would run with, and a reviewer would approve, a value that was never
proposed. Two forms therefore, each with one home:

- the exact form (:func:`exact_json`) is what a run keeps and acts on: its checkpointed
  state, the arguments a tool is called with, the call an approval covers;
- the shown form (:func:`railgraph.vocab.shown`, a word every package shares) is what
  people read: the review queue's rows, events, the CLI, the web page and API. It writes the
  numbers as the JSON strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, so it is valid
  JSON that the databases' JSON functions read, and it never shows ``null`` for a number.
  Comparing two calls in this form makes NaN equal to NaN, as a comparison of what a
  reviewer saw needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from railgraph.vocab import ShownNumber, shown

__all__ = ["as_stored_before", "exact_json", "holds_nonfinite", "holds_shown_text", "reviewed_call"]

_EXACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=repr)
"""Writes a NaN as `NaN` and an infinity as `Infinity`, unlike the text "Infinity": two
calls compare exactly by their text."""
_SHOWN_TEXT = frozenset(number.value for number in ShownNumber)


def as_stored_before(value: Any) -> Any:
    """``value`` with every NaN or infinity as ``None``: how releases before the shown form
    stored them in the review queue (to recognise such a request, never to store one)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: as_stored_before(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_stored_before(item) for item in value]
    return value


def exact_json(model: BaseModel, *, by_alias: bool | None = None) -> dict[str, Any]:
    """``model.model_dump(mode="json")``, with every NaN and infinity kept as the float.

    pydantic writes such a number inside an ``Any`` value as ``None`` in its JSON mode (a
    typed ``float`` field keeps it); here each such ``None`` gets the number back from the
    Python-mode dump, which keeps every value. The result is JSON-able except for those
    floats, which LangGraph's checkpoint serializer keeps exactly.
    """
    data = model.model_dump(mode="json", by_alias=by_alias)
    # Every tool call and every model in a state update passes here: a dump with no `None`
    # lost no number (the cheap test), and one whose model holds none lost none either; only
    # then is the model dumped again.
    if not _holds_none(data) or not holds_nonfinite(model):
        return data
    restored = _restore(data, model.model_dump(by_alias=by_alias))
    assert isinstance(restored, dict)
    return restored


_LEAVES = (str, int, bool, type(None))


def _holds_none(data: Any) -> bool:
    """Whether a JSON-mode dump holds a `None` at any depth (where a number may be lost)."""
    if data is None:
        return True
    kind = type(data)
    if kind is dict:
        return any(_holds_none(item) for item in data.values())
    if kind is list:
        return any(_holds_none(item) for item in data)
    return False


def holds_nonfinite(value: Any) -> bool:
    """Whether a model's field values hold a NaN or an infinity, at any depth."""
    kind = type(value)
    # Exact types first: a pydantic isinstance check costs microseconds.
    if kind in _LEAVES:
        return False
    if kind is float:
        return not math.isfinite(value)
    if kind is dict:
        return any(holds_nonfinite(item) for item in value.values())
    if kind is list or kind is tuple:
        return any(holds_nonfinite(item) for item in value)
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, BaseModel):
        extra = value.__pydantic_extra__ or {}
        return any(holds_nonfinite(item) for item in (*value.__dict__.values(), *extra.values()))
    if isinstance(value, Mapping):
        return any(holds_nonfinite(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_nonfinite(item) for item in value)
    return False


def _restore(data: Any, python: Any) -> Any:
    """``data`` (a JSON-mode dump) with the non-finite floats of ``python`` (the Python-mode
    dump of the same model) where ``data`` has ``None``; elsewhere ``data`` as it is."""
    if data is None:
        return python if isinstance(python, float) and not math.isfinite(python) else None
    if isinstance(data, dict) and isinstance(python, Mapping):
        return {
            key: _restore(item, python[key]) if key in python else item
            for key, item in data.items()
        }
    if isinstance(data, list) and isinstance(python, list | tuple) and len(data) == len(python):
        return [_restore(item, twin) for item, twin in zip(data, python, strict=True)]
    return data


def holds_shown_text(value: Any) -> bool:
    """Whether ``value`` holds, at any depth, the text a NaN or an infinity is shown as."""
    if isinstance(value, str):
        return value in _SHOWN_TEXT
    if isinstance(value, Mapping):
        return any(holds_shown_text(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_shown_text(item) for item in value)
    return False


def reviewed_call(
    reviewed: Any, asked: Any | None, now: Any, redact: Callable[[Any], Any]
) -> Literal["same", "stored_before", "changed"]:
    """Whether a decision was taken on the call as it runs now.

    Args:
        reviewed: The arguments the reviewer saw (stored shown and redacted).
        asked: The arguments the run asked about, exactly (``None`` if it kept none).
        now: The arguments the call has now, exactly.
        redact: How the store redacts what people see.

    Returns:
        ``"same"``: asked and now are the same call exactly (an infinity is not the text
        "Infinity"; NaN matches NaN) and the reviewer saw it; ``"stored_before"``: the
        reviewer was shown ``null`` where the call has a NaN or an infinity, as releases
        before the shown form stored them; ``"changed"``: anything else.
    """
    saw, seen_now = redact(shown(reviewed)), redact(shown(now))
    exact = asked is None or _EXACT.encode(asked) == _EXACT.encode(now)
    if exact and saw == seen_now:
        return "same"
    if saw != seen_now and saw == redact(as_stored_before(now)):
        return "stored_before"
    return "changed"
