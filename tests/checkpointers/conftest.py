"""Fixtures for the checkpointer and run store tests: a settable clock, savers, checkpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint

from checkpointers import SqliteCheckpointer

MakeCheckpoint = Callable[[dict[str, Any], dict[str, str]], Checkpoint]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def set_time(clock: FakeClock) -> Callable[[float], None]:
    """Sets what the savers' clock reads from now on."""

    def set_time(now: float) -> None:
        clock.now = now

    return set_time


def checkpoint_with(values: dict[str, Any], versions: dict[str, str]) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = dict(versions)
    return checkpoint


@pytest.fixture
def make_checkpoint() -> MakeCheckpoint:
    """Builds a fresh checkpoint holding these channel values at these versions."""
    return checkpoint_with


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "railgraph.db"


@pytest.fixture
async def saver(db_path: Path, clock: FakeClock) -> AsyncIterator[SqliteCheckpointer]:
    """A checkpointer on a real WAL file that harvests events from the `events` channel."""
    async with SqliteCheckpointer.from_path(db_path, event_channel="events", clock=clock) as s:
        yield s


@pytest.fixture
async def memory_saver(clock: FakeClock) -> AsyncIterator[SqliteCheckpointer]:
    async with SqliteCheckpointer.from_path(":memory:", clock=clock) as s:
        yield s
