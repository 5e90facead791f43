"""Opening the checkpointer railgraph's runs are stored with, the same for a runner and for a
graph LangGraph's server runs."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal

from railgraph._settings import default_secret_words, default_synchronous
from railgraph.checkpointers import Redactor, SqliteCheckpointer
from railgraph.nodes._state import EVENTS, USAGE

__all__ = ["open_saver"]


def open_saver(
    db: str | Path,
    *,
    synchronous: Literal["NORMAL", "FULL"] | None = None,
    redact: Iterable[str] | None = None,
    **options: Any,
) -> AbstractAsyncContextManager[SqliteCheckpointer]:
    """The checkpointer railgraph's runs are stored with: their events and usage on
    railgraph's channels (the usage folded into the events' row), secrets redacted.

    ``options`` go to `SqliteCheckpointer.from_path` as they are.
    """
    return SqliteCheckpointer.from_path(
        db,
        synchronous=synchronous or default_synchronous(),
        event_channel=EVENTS,
        folded_channels=(USAGE,),
        redactor=Redactor(redact if redact is not None else default_secret_words()),
        **options,
    )
