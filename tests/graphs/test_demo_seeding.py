"""The demo systems seed once and safely when 20 processes use a fresh one at the same moment."""

from __future__ import annotations

import multiprocessing
import sqlite3
import traceback
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs._library import Library
from railgraph.graphs._services import ServiceCatalogue

pytestmark = pytest.mark.slow

PROCESSES = 20


def first_use(kind: str, path: str, barrier: Barrier, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        if kind == "helpdesk":
            found: object = Helpdesk(path).ticket("T-1002")
            found = found and found["requested_amount"]
        elif kind == "services":
            service = ServiceCatalogue(path).service("checkout")
            found = service and service["name"]
        else:
            found = len(Library(path).search(["agents"], exclude=[], limit=50))
        results.put(("ok", found))
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.parametrize(
    ("kind", "table", "expected"),
    [
        ("helpdesk", "tickets", 480.0),
        ("services", "services", "checkout"),
        ("library", "documents", None),
    ],
)
@pytest.mark.parametrize("round_", range(3))
def test_twenty_concurrent_first_uses_seed_once(
    tmp_path: Path, kind: str, table: str, expected: object, round_: int
) -> None:
    path = tmp_path / "nested" / f"{kind}.db"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=first_use, args=(kind, str(path), barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    errors = [detail for status, detail in outcomes if status == "error"]
    assert errors == []
    found = {detail for _, detail in outcomes}
    assert len(found) == 1
    if expected is not None:
        assert found == {expected}
    with sqlite3.connect(path) as conn:
        seeded = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert seeded == _seed_rows(kind, tmp_path)
    assert mode == "wal"


def _seed_rows(kind: str, tmp_path: Path) -> int:
    """How many rows one process alone seeds."""
    path = tmp_path / f"alone-{kind}.db"
    system: Any = {"helpdesk": Helpdesk, "services": ServiceCatalogue, "library": Library}[kind](
        path
    )
    with system.connect() as conn:
        table = {"helpdesk": "tickets", "services": "services", "library": "documents"}[kind]
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
