"""Printing stored text safely: no Rich markup and no terminal control sequences from data.

Anything a run stores — reasons, reviewer names, arguments, error messages, ids from the
Python API — may hold ``[bold]``-like markup (Rich would style it, or crash on a stray
closing tag) or control characters (an escape sequence can recolour, move the cursor or
retitle a terminal). The CLI prints such values only through :func:`esc` (for text that
Rich renders as markup) or :func:`plain` (for text printed with markup off).
"""

from __future__ import annotations

import re
import shlex

from rich.markup import escape

__all__ = ["esc", "plain", "quote"]

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text
# (bidirectional overrides and isolates, zero-width joiners are left: they are harmless).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def plain(value: object) -> str:
    """``value`` as text with every control character shown as an escape (``\\x1b``).

    Lone surrogates (which cannot be written to a UTF-8 terminal) are shown escaped too.
    """
    text = _CONTROL.sub(_visible, str(value))
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def esc(value: object) -> str:
    """``value`` made safe to embed in a Rich markup string: printed exactly as it is."""
    return escape(plain(value))


def quote(value: object) -> str:
    """``value`` as one shell word, for a command line the CLI suggests."""
    return shlex.quote(plain(value))
