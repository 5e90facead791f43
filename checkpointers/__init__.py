"""railgraph's checkpointer and run store: LangGraph checkpoints and run records in one database.

A SQLite file (the embedded default), or a PostgreSQL database named by its URL
(`postgresql://...`, with `pip install 'railgraph[postgres]'`); the same code runs on both.

Open both with `SqliteCheckpointer.from_path`; the run store is its `store`::

    async with SqliteCheckpointer.from_path(".railgraph/railgraph.db") as saver:
        graph = builder.compile(checkpointer=saver)
        runs = await saver.store.list_runs(status="paused")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._leases import Lease, LeaseClaim, RunState, lease_live
from ._open import open_store
from ._pgopen import is_postgres_url
from ._records import (
    ApprovalRecord,
    ApprovalStatus,
    EffectRecord,
    EffectStatus,
    EventRecord,
    RunRecord,
    RunStatus,
)
from ._redact import DEFAULT_SECRET_WORDS, REDACTED, Redactor
from ._schema import SCHEMA_VERSION
from ._store import RunStore
from ._users import SessionRecord, UserRecord, UserRole, UserStore

if TYPE_CHECKING:
    from ._saver import SqliteCheckpointer
    from ._serde import AllowlistSerializer, model_types

# LangGraph's saver interface loads on first use: commands that only read the run store
# (`railgraph runs`, `show`, `pending`) never import LangGraph or langchain-core.
_LAZY = {
    "SqliteCheckpointer": "railgraph.checkpointers._saver",
    "AllowlistSerializer": "railgraph.checkpointers._serde",
    "model_types": "railgraph.checkpointers._serde",
}

__all__ = [
    # the LangGraph checkpointer
    "SqliteCheckpointer",
    # loading checkpoints through an allowlist
    "AllowlistSerializer",
    "model_types",
    # redacting secrets from what is stored for people
    "DEFAULT_SECRET_WORDS",
    "REDACTED",
    "Redactor",
    # the run store
    "RunStore",
    "open_store",
    "is_postgres_url",
    "Lease",
    "LeaseClaim",
    "RunState",
    "lease_live",
    # run store records
    "ApprovalRecord",
    "ApprovalStatus",
    "EffectRecord",
    "EffectStatus",
    "EventRecord",
    "RunRecord",
    "RunStatus",
    # users of the review page and the HTTP API
    "UserStore",
    "UserRecord",
    "UserRole",
    "SessionRecord",
    # schema
    "SCHEMA_VERSION",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'checkpointers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
