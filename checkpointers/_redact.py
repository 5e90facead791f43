"""Redacting secrets from what is stored and shown for people.

Run events, review requests and the ledger's stored arguments are read by people (``railgraph
show``, ``pending``, the HTML report, telemetry). A value is redacted there when it is a
pydantic ``SecretStr``/``SecretBytes``, or when its key names a secret: a key matches a
word of the list (``api_key``, ``token``, ``password``, ...) when, written in snake case, it
is that word or holds it between underscores (``access_token``, ``db_password``,
``X-Api-Key``, ``apiKey``), so ``tokens`` (a budget dimension) or ``max_tokens`` stay. The
checkpoint itself, which the run needs to go on, keeps the real values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretBytes, SecretStr

from ._records import ApprovalRecord, EventRecord, RunRecord

__all__ = ["DEFAULT_SECRET_WORDS", "REDACTED", "Redactor"]

REDACTED = "[redacted]"
"""What a secret value is replaced by."""

DEFAULT_SECRET_WORDS: tuple[str, ...] = (
    "api_key",
    "apikey",
    "token",
    "access_token",
    "refresh_token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "client_secret",
    "authorization",
    "credential",
    "credentials",
    "private_key",
    "cookie",
    "session_id",
)
"""Key words that name secrets, unless ``RAILGRAPH_REDACT`` or ``Runner.open`` say otherwise."""

_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})
"""Types that hold no secret by key: returned as they are."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _snake(key: str) -> str:
    return _NOT_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_")


class Redactor:
    """Replaces secrets in JSON-like data by :data:`REDACTED`.

    Args:
        words: Key words that name secrets (see the module); matched case-insensitively,
            in snake case. Empty redacts ``SecretStr`` values only.
    """

    def __init__(self, words: Iterable[str] = DEFAULT_SECRET_WORDS) -> None:
        self.words: tuple[str, ...] = tuple(dict.fromkeys(_snake(w) for w in words if _snake(w)))
        """The key words, in snake case."""
        alternatives = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        self._pattern = re.compile(f"(?:^|_)(?:{alternatives})(?:$|_)") if self.words else None
        self._seen: dict[str, bool] = {}

    def is_secret_key(self, key: object) -> bool:
        """Whether a value under ``key`` is a secret."""
        if self._pattern is None or not isinstance(key, str):
            return False
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._pattern.search(_snake(key)) is not None
            if len(self._seen) > 10_000:
                self._seen.clear()
        return found

    def redact(self, value: Any) -> Any:
        """``value`` with every secret replaced; ``value`` itself is left as it was.

        Idempotent: redacting a redacted value changes nothing.
        """
        kind = type(value)
        # Exact types first: the ABC checks below cost microseconds per value, and every
        # event of every node passes here before it is stored.
        if kind in _PLAIN:
            return value
        if kind is dict:
            return self._mapping(value)
        if kind is list:
            return [v if type(v) in _PLAIN else self.redact(v) for v in value]
        if isinstance(value, SecretStr | SecretBytes):
            return REDACTED
        if isinstance(value, Mapping):
            return self._mapping(value)
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        return value

    def _mapping(self, value: Mapping[Any, Any]) -> dict[Any, Any]:
        # The key decisions come from the cache without a call each, and plain values are
        # not walked: a node's events pass here with a dozen keys each.
        seen = self._seen
        out: dict[Any, Any] = {}
        for k, v in value.items():
            secret = seen.get(k) if type(k) is str else None
            if secret is None:
                secret = self.is_secret_key(k)
            if secret and v is not None:
                out[k] = REDACTED
            elif type(v) in _PLAIN:
                out[k] = v
            else:
                out[k] = self.redact(v)
        return out

    def run(self, record: RunRecord) -> RunRecord:
        """A run record as people may see it: its input and result redacted.

        The store keeps a run's input in clear, since a run that crashed before its
        first checkpoint starts again from it; it is redacted when shown.
        """
        return record.model_copy(
            update={"input": self.redact(record.input), "result": self.redact(record.result)}
        )

    def event(self, event: EventRecord) -> EventRecord:
        """An event as people may see it (events stored by older releases were not redacted)."""
        return event.model_copy(update={"data": self.redact(event.data)})

    def approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        """A review request as people may see it: its request and decision redacted."""
        return approval.model_copy(
            update={
                "request": self.redact(approval.request),
                "decision": self.redact(approval.decision),
            }
        )
