"""A small document library on SQLite: the real local system the research agent searches."""

from __future__ import annotations

import sqlite3
from typing import Any

from railgraph.graphs._demo import DemoDatabase

__all__ = ["LIBRARY_ENV", "Library"]

LIBRARY_ENV = "RAILGRAPH_LIBRARY_DB"
"""Environment variable that overrides where the demo library lives."""

_DOCUMENTS = [
    (
        "D-1",
        "Checkpointing agent runs",
        "Persisting state after every step lets a run resume "
        "after a crash without repeating finished work.",
    ),
    (
        "D-2",
        "Write-ahead logging in SQLite",
        "WAL mode lets readers proceed while one writer "
        "commits; synchronous=NORMAL survives a process crash.",
    ),
    (
        "D-3",
        "Idempotency keys",
        "A key derived from the run, the step and the arguments lets a "
        "payment system drop a repeated request.",
    ),
    (
        "D-4",
        "Human approval queues",
        "Structured review requests with the full trace attached "
        "keep escalations from becoming a chaotic queue.",
    ),
    (
        "D-5",
        "Budget envelopes for agents",
        "Limits on calls, tokens, cost and time stop a looping agent before it overspends.",
    ),
    (
        "D-6",
        "Verifying tool results",
        "A successful HTTP status can hide an error payload; checks at tool boundaries catch it.",
    ),
    (
        "D-7",
        "Agent run traces",
        "A trace event records the run, the model, the policy, tool "
        "calls with latency and status, and the outcome.",
    ),
    (
        "D-8",
        "Retry policies",
        "Retry transient failures with backoff; never retry a permanent "
        "error or an effect whose outcome is unknown.",
    ),
]


class Library(DemoDatabase):
    """The demo library database."""

    env = LIBRARY_ENV
    filename = "library.db"
    schema = (
        "CREATE TABLE IF NOT EXISTS documents "
        "(doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);"
    )

    def is_empty(self, conn: sqlite3.Connection) -> bool:
        return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]) == 0

    def seed(self, conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO documents VALUES (?, ?, ?)", _DOCUMENTS)

    def search(self, words: list[str], *, exclude: list[str], limit: int) -> list[dict[str, Any]]:
        """Documents ranked by how many of ``words`` they contain, skipping ``exclude``."""
        with self.connect() as conn:
            rows = [dict(r) for r in conn.execute("SELECT * FROM documents ORDER BY doc_id")]
        lowered = [w.lower() for w in words if len(w) > 3]

        def score(row: dict[str, Any]) -> int:
            text = f"{row['title']} {row['body']}".lower()
            return sum(word in text for word in lowered)

        fresh = [r for r in rows if r["doc_id"] not in exclude]
        return sorted(fresh, key=lambda r: (-score(r), r["doc_id"]))[:limit]
