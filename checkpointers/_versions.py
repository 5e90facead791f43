"""Channel versions: short strings that sort in the order they were made.

LangGraph compares two versions of a channel with `>` (a node runs when a
channel it reads has a version greater than the one it last saw) and makes the
null version with `type(version)()`, which is `""` for strings. So a version
must sort after `""` and after every earlier version of its channel. Channel
values are stored once per (channel, version), so two forks from one checkpoint
must also never make the same version of a channel.

A version is one letter giving the length of the counter that follows (`a` for
one digit, `b` for two, ...), the counter in base 62 with digits in ASCII order,
and eight random base-62 digits that set forks apart: `a1` + tail, `a2` + tail,
..., `az` + tail, `b10` + tail, ... Ten characters for the first 61 versions.

Versions written before schema version 3 look like `f"{counter:032}.{random}"`.
They start with `0`, which sorts before every letter, so a thread written then
and continued now still sees its versions increase.
"""

from __future__ import annotations

import random
import string

from railgraph.errors import StoreError

__all__ = ["next_version"]

_DIGITS = string.digits + string.ascii_uppercase + string.ascii_lowercase
"""Base-62 digits, in ASCII order so that equal-length numbers sort as strings."""
_VALUE = {digit: value for value, digit in enumerate(_DIGITS)}
_TAIL_DIGITS = 8
_TAIL_BITS = 47
"""Random bits in the tail: 2**47 < 62**8, so the tail always fits in eight digits."""


def _base62(number: int, width: int = 0) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def _counter(version: str | int | float | None) -> int:
    """The counter of a version this saver (or an older railgraph) made."""
    if version is None:
        return 0
    if isinstance(version, int | float):
        return int(version)
    try:
        if version[:1].islower():
            length = ord(version[0]) - ord("a") + 1
            number = 0
            for digit in version[1 : 1 + length]:
                number = number * 62 + _VALUE[digit]
            return number
        # Before schema version 3: a zero-padded decimal counter, a dot, a random tail.
        return int(version.split(".")[0])
    except (KeyError, ValueError) as exc:
        raise StoreError(
            f"channel version {version!r} was not made by railgraph's checkpointer, so the "
            "next version cannot be worked out; continue the thread with the saver that "
            "wrote it, or copy its values into a new thread."
        ) from exc


_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]
"""Every two-digit base-62 number, in order: a tail is four look-ups, not eight divisions."""


def next_version(current: str | int | float | None) -> str:
    """The version after `current` (`None` for a channel's first version)."""
    counter = _base62(_counter(current) + 1)
    # LangGraph asks once per step; the tail is eight base-62 digits of 47 random bits.
    bits = random.getrandbits(_TAIL_BITS)
    high, low = divmod(bits, 3844 * 3844)
    tail = _PAIRS[high // 3844] + _PAIRS[high % 3844] + _PAIRS[low // 3844] + _PAIRS[low % 3844]
    return f"{chr(ord('a') + len(counter) - 1)}{counter}{tail}"
