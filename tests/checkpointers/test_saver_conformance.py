"""LangGraph's checkpointer conformance suite, every capability."""

from __future__ import annotations

from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate

from checkpointers import SqliteCheckpointer

ALL_CAPABILITIES = {
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
}


@checkpointer_test(name="SqliteCheckpointer")
async def sqlite_checkpointer() -> AsyncIterator[SqliteCheckpointer]:
    async with SqliteCheckpointer.from_path(":memory:") as saver:
        yield saver


async def test_conformance_all_eight_capabilities_pass() -> None:
    report = await validate(sqlite_checkpointer)

    assert {name: r.failures for name, r in report.results.items()} == {
        name: [] for name in ALL_CAPABILITIES
    }
    assert {name: (r.detected, r.passed, r.tests_failed) for name, r in report.results.items()} == {
        name: (True, True, 0) for name in ALL_CAPABILITIES
    }
    assert all(r.tests_passed > 0 for r in report.results.values())
    assert report.conformance_level() == "FULL"
