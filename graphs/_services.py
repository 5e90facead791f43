"""A demo service catalogue on SQLite: the real local system the incident agent works on.

Services with their running and previous versions, recent deploys, log lines and error
metrics; incidents, rollbacks and status-page posts are written with idempotency keys. A
rollback really changes the service's version, and the metrics recover after it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from railgraph.graphs._demo import DemoDatabase

__all__ = ["SERVICES_ENV", "ServiceCatalogue"]

SERVICES_ENV = "RAILGRAPH_SERVICES_DB"
"""Environment variable that overrides where the demo catalogue lives."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, version TEXT NOT NULL,
    healthy_error_rate REAL NOT NULL);
CREATE TABLE IF NOT EXISTS deploys (
    service TEXT NOT NULL, version TEXT NOT NULL, deployed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    service TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (
    service TEXT NOT NULL, version TEXT NOT NULL, error_rate REAL NOT NULL, p99_ms REAL NOT NULL,
    PRIMARY KEY (service, version));
CREATE TABLE IF NOT EXISTS incidents (
    incident_id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, summary TEXT NOT NULL,
    status TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, opened_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rollbacks (
    rollback_id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL,
    from_version TEXT NOT NULL, to_version TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
    rolled_back_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS status_posts (
    post_id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, message TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE, posted_at REAL NOT NULL);
"""

_SERVICES = [
    ("checkout", "payments-team", "2.4.1", 0.4),
    ("search", "discovery-team", "7.0.3", 0.2),
]
_DEPLOYS = [
    ("checkout", "2.4.0", "2026-11-20T09:12:00Z"),
    ("checkout", "2.4.1", "2026-11-21T08:40:00Z"),
    ("search", "7.0.3", "2026-11-18T14:05:00Z"),
]
_LOGS = [
    ("checkout", "ERROR", "payment provider timeout after 3000 ms (v2.4.1)"),
    ("checkout", "ERROR", "NullPointerException in CartTotals.apply (v2.4.1)"),
    ("checkout", "WARN", "retrying payment capture"),
    ("search", "INFO", "index refreshed"),
]
_METRICS = [
    ("checkout", "2.4.0", 0.4, 310.0),
    ("checkout", "2.4.1", 12.5, 2950.0),
    ("search", "7.0.3", 0.2, 120.0),
]


class ServiceCatalogue(DemoDatabase):
    """The demo service catalogue database."""

    env = SERVICES_ENV
    filename = "services.db"
    schema = _SCHEMA

    def is_empty(self, conn: sqlite3.Connection) -> bool:
        return int(conn.execute("SELECT COUNT(*) FROM services").fetchone()[0]) == 0

    def seed(self, conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO services VALUES (?, ?, ?, ?)", _SERVICES)
        conn.executemany("INSERT INTO deploys VALUES (?, ?, ?)", _DEPLOYS)
        conn.executemany("INSERT INTO logs VALUES (?, ?, ?)", _LOGS)
        conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", _METRICS)

    def service(self, name: str) -> dict[str, Any] | None:
        """A service's catalogue entry, or None."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM services WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None

    def logs(self, name: str) -> list[dict[str, Any]]:
        """Recent log lines, errors first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT level, message FROM logs WHERE service = ? "
                "ORDER BY CASE level WHEN 'ERROR' THEN 0 WHEN 'WARN' THEN 1 ELSE 2 END, rowid",
                (name,),
            )
            return [dict(r) for r in rows]

    def metrics(self, name: str) -> dict[str, Any]:
        """Error rate (%) and p99 latency of the version the service runs now."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT m.version, m.error_rate, m.p99_ms FROM metrics m JOIN services s "
                "ON s.name = m.service AND s.version = m.version WHERE s.name = ?",
                (name,),
            ).fetchone()
        return dict(row) if row else {"version": "unknown", "error_rate": -1.0, "p99_ms": -1.0}

    def deploys(self, name: str) -> list[dict[str, Any]]:
        """Deploys, newest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT version, deployed_at FROM deploys WHERE service = ? "
                "ORDER BY deployed_at DESC",
                (name,),
            )
            return [dict(r) for r in rows]

    def open_incident(self, *, service: str, summary: str, idempotency_key: str) -> dict[str, Any]:
        """Open an incident once per key; a repeat returns the first."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO incidents (service, summary, status, idempotency_key, "
                "opened_at) VALUES (?, ?, 'open', ?, ?)",
                (service, summary, idempotency_key, time.time()),
            )
            row = conn.execute(
                "SELECT incident_id, service, status FROM incidents WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
        return dict(row)

    def resolve_incident(self, incident_id: int, note: str) -> dict[str, Any]:
        """Mark an incident resolved (setting it twice changes nothing)."""
        with self.connect() as conn:
            conn.execute(
                "UPDATE incidents SET status = 'resolved', summary = summary || ? "
                "WHERE incident_id = ? AND status != 'resolved'",
                (f"\nresolved: {note}", incident_id),
            )
            row = conn.execute(
                "SELECT incident_id, service, status FROM incidents WHERE incident_id = ?",
                (incident_id,),
            ).fetchone()
        return dict(row)

    def rollback(self, *, service: str, to_version: str, idempotency_key: str) -> dict[str, Any]:
        """Roll a service back once per key: its running version changes."""
        with self.connect() as conn:
            known = conn.execute(
                "SELECT * FROM rollbacks WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if known is None:
                current = conn.execute(
                    "SELECT version FROM services WHERE name = ?", (service,)
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO rollbacks (service, from_version, to_version, idempotency_key,"
                    " rolled_back_at) VALUES (?, ?, ?, ?, ?)",
                    (service, current, to_version, idempotency_key, time.time()),
                )
                conn.execute(
                    "UPDATE services SET version = ? WHERE name = ?", (to_version, service)
                )
                known = conn.execute(
                    "SELECT * FROM rollbacks WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
        return dict(known)

    def post_status(self, *, service: str, message: str, idempotency_key: str) -> dict[str, Any]:
        """Post to the public status page once per key."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO status_posts (service, message, idempotency_key, "
                "posted_at) VALUES (?, ?, ?, ?)",
                (service, message, idempotency_key, time.time()),
            )
            row = conn.execute(
                "SELECT post_id FROM status_posts WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return dict(row)

    def table(self, name: str) -> list[dict[str, Any]]:
        """All rows of one of the write tables, oldest first (for checks and demos)."""
        if name not in ("incidents", "rollbacks", "status_posts"):
            raise ValueError(f"{name!r} is not one of incidents, rollbacks, status_posts")
        with self.connect() as conn:
            return [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY rowid")]
