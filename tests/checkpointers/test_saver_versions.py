"""Channel versions: short, increasing as strings, distinct across forks, continuing old ones."""

from __future__ import annotations

import re

import pytest

from railgraph.checkpointers import SqliteCheckpointer
from railgraph.checkpointers._versions import next_version
from railgraph.errors import StoreError

ON_BOTH_BACKENDS = True


def chain(start: str | None, count: int) -> list[str]:
    versions = []
    current = start
    for _ in range(count):
        current = next_version(current)
        versions.append(current)
    return versions


def test_versions_increase_as_strings_across_counter_lengths() -> None:
    # 62 and 3844 are where the base-62 counter grows a digit.
    versions = chain(None, 4_000)

    assert versions[0] > ""
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert [v[:2] for v in versions[:2]] == ["a1", "a2"]
    assert [versions[59][:2], versions[60][:2], versions[61][:3]] == ["ay", "az", "b10"]
    assert [versions[3842][:3], versions[3843][:4]] == ["bzz", "c100"]
    assert {len(v) for v in versions[:61]} == {10}


def test_forks_from_one_version_never_make_the_same_version() -> None:
    forks = [next_version("a5Abcdefgh") for _ in range(10_000)]

    assert len(set(forks)) == len(forks)
    assert all(f.startswith("a6") for f in forks)
    assert all(f > "a5zzzzzzzz" for f in forks)


def test_versions_continue_from_the_schema_2_form_and_from_numbers() -> None:
    old = f"{41:032}.{0.25:016}"

    after_old = next_version(old)

    assert after_old.startswith("ag")  # 42 in base 62
    assert after_old > old
    assert next_version(7).startswith("a8")
    assert next_version("7").startswith("a8")


def test_a_version_from_elsewhere_is_refused_with_advice() -> None:
    with pytest.raises(
        StoreError,
        match=re.escape(
            "channel version 'x.y' was not made by railgraph's checkpointer, so the next "
            "version cannot be worked out;"
        ),
    ):
        next_version("x.y")


async def test_the_saver_makes_these_versions(memory_saver: SqliteCheckpointer) -> None:
    first = memory_saver.get_next_version(None, None)

    assert re.fullmatch(r"a1[0-9A-Za-z]{8}", first)
    assert memory_saver.get_next_version(first, None)[:2] == "a2"
