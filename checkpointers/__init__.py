"""railgraph's checkpointer and run store: LangGraph checkpoints and run records in one SQLite file.

Open both with `SqliteCheckpointer.from_path`; the run store is its `store`::

    async with SqliteCheckpointer.from_path(".railgraph/railgraph.db") as saver:
        graph = builder.compile(checkpointer=saver)
        runs = await saver.store.list_runs(status="paused")
"""

from ._leases import Lease, LeaseClaim, RunState, lease_live
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
from ._saver import SqliteCheckpointer
from ._schema import SCHEMA_VERSION
from ._serde import AllowlistSerializer, model_types
from ._store import RunStore

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
    # schema
    "SCHEMA_VERSION",
]
