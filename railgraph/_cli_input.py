"""The JSON the ``railgraph`` commands take (``--input``, ``--edit``, ``--happened``): inline,
from ``@FILE`` or from stdin, refused with a message that says what to pass instead."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from railgraph._cli_text import plain
from railgraph.errors import InputError

__all__ = ["MAX_DEPTH", "parse_json", "read_arg"]


MAX_DEPTH = 64
"""How deeply ``--input`` and ``--edit`` JSON may nest: deeper is refused, not recursed into."""


def read_arg(text: str, what: str) -> str:
    """The text of an option that takes JSON: itself, ``@FILE``'s contents, or stdin for ``-``.

    Raises:
        InputError: The file cannot be read, or it is not UTF-8.
    """
    if text == "-":
        try:
            return sys.stdin.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {what} from stdin ({exc}); pipe UTF-8 JSON in") from None
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{what} file {plain(path)} is not UTF-8 text; save it as UTF-8"
            ) from None
        except OSError as exc:
            raise InputError(
                f"cannot read {what} file {plain(path)} ({exc.strerror or exc}); check the path "
                "after @"
            ) from None
    return text


def _depth(value: Any) -> int:
    """How deeply ``value`` nests, counted without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            todo.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def parse_json(text: str, what: str) -> dict[str, Any]:
    """Parse an option's JSON object: inline, ``@FILE`` or ``-`` (stdin).

    Raises:
        InputError: Not JSON, not an object, not valid Unicode, or nested too deeply.
    """
    text = read_arg(text, what)
    example = '\'{"ticket_id": "T-1001"}\''
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{what} holds a character that is not valid Unicode (position {exc.start}); "
            f"pass UTF-8 text, e.g. {example}"
        ) from None
    try:
        value = json.loads(text, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON ({exc.msg}); e.g. {example}") from None
    except RecursionError:
        raise InputError(f"{what} nests deeper than {MAX_DEPTH} levels; flatten it") from None
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object, e.g. {example}")
    if _depth(value) > MAX_DEPTH:
        raise InputError(f"{what} nests deeper than {MAX_DEPTH} levels; flatten it")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{what} holds a lone surrogate escape (\\ud800-\\udfff), which is not text; remove it"
        ) from None
    return value


def _not_a_number(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON has no such numbers, nor has any schema.
    raise InputError(f"{name} is not a JSON number; pass a finite number")
