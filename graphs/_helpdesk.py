"""A small helpdesk on SQLite: the real local system the refund agent works against.

Tables ``customers``, ``tickets``, ``invoices``, ``refunds`` and ``notifications``, created
and seeded on first use. Writes take an idempotency key with a unique index, so a repeated
call after a crash changes nothing and returns the first result.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from railgraph.graphs._demo import DemoDatabase

__all__ = ["HELPDESK_ENV", "Helpdesk"]

HELPDESK_ENV = "RAILGRAPH_HELPDESK_DB"
"""Environment variable that overrides where the demo helpdesk lives."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    amount REAL NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    invoice_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    requested_amount REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL REFERENCES tickets(ticket_id),
    invoice_id TEXT NOT NULL,
    amount REAL NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    notification_id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL,
    email TEXT NOT NULL,
    message TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    sent_at REAL NOT NULL
);
"""

_CUSTOMERS = [
    ("C-1", "Ada Lovelace", "ada@example.com"),
    ("C-2", "Grace Hopper", "grace@example.com"),
    ("C-3", "Alan Turing", "alan@example.com"),
    ("C-4", "Edsger Dijkstra", "edsger@example.com"),
]
_INVOICES = [
    ("INV-5001", "C-1", 42.50, "USD", "paid"),
    ("INV-5002", "C-2", 480.00, "USD", "paid"),
    ("INV-5003", "C-3", 1250.00, "USD", "paid"),
    ("INV-5004", "C-4", 0.00, "USD", "error"),
]
_TICKETS = [
    (
        "T-1001",
        "C-1",
        "INV-5001",
        "Refund for a duplicate charge",
        "I was charged twice for my plan this month. Please refund the extra charge.",
        42.50,
    ),
    (
        "T-1002",
        "C-2",
        "INV-5002",
        "Refund for unused annual seats",
        "We bought ten seats by mistake and only use two. Please refund the unused seats.",
        480.00,
    ),
    (
        "T-1003",
        "C-3",
        "INV-5003",
        "Refund the whole year",
        "I would like my money back for the full annual subscription.",
        1250.00,
    ),
    (
        "T-1004",
        "C-4",
        "INV-5004",
        "Refund for a failed payment",
        "The payment page crashed but I think I was charged. Please refund it.",
        30.00,
    ),
]


class Helpdesk(DemoDatabase):
    """The demo helpdesk database."""

    env = HELPDESK_ENV
    filename = "helpdesk.db"
    schema = _SCHEMA

    def is_empty(self, conn: sqlite3.Connection) -> bool:
        return int(conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]) == 0

    def seed(self, conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", _CUSTOMERS)
        conn.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?)", _INVOICES)
        conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)", _TICKETS)

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """A ticket joined with its customer, or None."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT t.*, c.name AS customer_name, c.email FROM tickets t "
                "JOIN customers c USING (customer_id) WHERE t.ticket_id = ?",
                (ticket_id,),
            ).fetchone()
        return dict(row) if row else None

    def invoice(self, invoice_id: str) -> dict[str, Any] | None:
        """An invoice, or None."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM invoices WHERE invoice_id = ?", (invoice_id,)
            ).fetchone()
        return dict(row) if row else None

    def create_refund(
        self, *, ticket_id: str, invoice_id: str, amount: float, idempotency_key: str
    ) -> dict[str, Any]:
        """Create a refund once per idempotency key; a repeat returns the first refund."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO refunds (ticket_id, invoice_id, amount, idempotency_key,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (ticket_id, invoice_id, amount, idempotency_key, time.time()),
            )
            row = conn.execute(
                "SELECT * FROM refunds WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return dict(row)

    def notify(
        self, *, ticket_id: str, email: str, message: str, idempotency_key: str
    ) -> dict[str, Any]:
        """Queue an email to the customer once per idempotency key."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO notifications (ticket_id, email, message, "
                "idempotency_key, sent_at) VALUES (?, ?, ?, ?, ?)",
                (ticket_id, email, message, idempotency_key, time.time()),
            )
            row = conn.execute(
                "SELECT * FROM notifications WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return dict(row)

    def refunds(self, ticket_id: str | None = None) -> list[dict[str, Any]]:
        """Refund rows, all or for one ticket, oldest first."""
        with self.connect() as conn:
            sql = "SELECT * FROM refunds" + (" WHERE ticket_id = ?" if ticket_id else "")
            rows = conn.execute(sql + " ORDER BY refund_id", (ticket_id,) if ticket_id else ())
            return [dict(r) for r in rows]

    def notifications(self, ticket_id: str | None = None) -> list[dict[str, Any]]:
        """Notification rows, all or for one ticket, oldest first."""
        with self.connect() as conn:
            sql = "SELECT * FROM notifications" + (" WHERE ticket_id = ?" if ticket_id else "")
            rows = conn.execute(
                sql + " ORDER BY notification_id", (ticket_id,) if ticket_id else ()
            )
            return [dict(r) for r in rows]
