"""Formatting shared by labels and reports: money, durations, counts, wrapping."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

__all__ = ["TIMES", "clip", "duration", "money", "number", "percent", "times", "wrap"]

TIMES = "\N{MULTIPLICATION SIGN}"
"""The multiplication sign, as in "x3" (three times)."""


def times(count: int) -> str:
    """A count of repetitions with the multiplication sign in front."""
    return f"{TIMES}{count}"


def money(usd: float) -> str:
    """Dollars with enough digits to show a fraction of a cent: ``$0.0105``, ``$0.000019``."""
    if usd == 0:
        return "$0"
    if usd >= 1:
        return f"${usd:,.2f}"
    text = f"{usd:.6f}".rstrip("0")
    # Keep two significant digits at least, without a trailing dot.
    return "$" + (text if not text.endswith(".") else text[:-1])


def duration(ms: float) -> str:
    """A duration for people: ``850 ms``, ``1.25 s``, ``3 min 5 s``."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def number(value: float) -> str:
    """A count or limit without a useless ``.0``."""
    return f"{value:g}"


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a whole percentage, ``0%`` when there is no whole."""
    return f"{round(100 * part / whole) if whole else 0}%"


def clip(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def wrap(parts: Iterable[str], width: int, sep: str = " · ") -> tuple[str, ...]:
    """Join ``parts`` with ``sep`` into lines of at most ``width`` characters (whole parts)."""
    lines: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{sep}{part}" if current else part
        if current and len(candidate) > width:
            lines.append(current)
            current = part
        else:
            current = candidate
    if current:
        lines.append(current)
    return tuple(line for chunk in lines for line in textwrap.wrap(chunk, width) or [""])
