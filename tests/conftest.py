"""Fixtures shared by the whole suite: every test works in its own directory and databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graphs._helpdesk import HELPDESK_ENV
from railgraph._settings import DB_ENV


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in a fresh working directory with its own default databases."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.delenv(HELPDESK_ENV, raising=False)
    yield tmp_path
