"""PostgreSQL's dialect: the SQL of a transaction body, as PostgreSQL reads it.

Bodies (see `_tx`) are written once, in SQLite's SQL. `translate` turns each statement
into PostgreSQL's, once per distinct text (the result is cached):

- placeholders: `?` becomes `%s`, and numbered ones (`?1`) are put in order;
- `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`, and `INSERT OR REPLACE` an upsert
  on the table's primary key (see `_KEYS`);
- JSON: a list parameter read with `json_each(?)` is read with `json_array_elements`;
  `col ->> '$.key'` reads `col::json ->> 'key'` (JSON columns hold text on both engines);
- `LIMIT ?` with SQLite's `-1` for no limit, `WHERE 1`, `INDEXED BY` hints;
- a few fragments that have no rule of their own (`_FRAGMENTS`): the checkpoint loader's
  key ranges, the metadata filter's JSON types, the size of the database.

A statement that still holds SQLite's SQL after this (a new query written with a JSON
path or `json_each` that no rule covers) is refused with `StoreError`, never sent: the
shared store tests run on PostgreSQL too, so such a query fails there first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from railgraph.errors import StoreError

__all__ = ["PgStatement", "translate"]


class PgStatement(NamedTuple):
    """A statement in PostgreSQL's SQL, and where its parameters come from."""

    sql: str
    """The SQL, with `%s` placeholders (a literal `%` is doubled)."""
    order: tuple[int, ...] | None
    """For SQL written with numbered placeholders (`?1`), the index into the original
    parameters of each `%s` in turn; `None` when they are used as given."""

    def params(self, given: Sequence[Any]) -> list[Any]:
        """The parameters to send, from those given with the SQLite statement."""
        if self.order is None:
            return list(given)
        return [given[i] for i in self.order]


_KEYS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("thread_id", "checkpoint_ns", "checkpoint_id"),
    "checkpoint_writes": ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"),
    "checkpoint_blobs": ("thread_id", "checkpoint_ns", "channel", "version"),
}
"""Primary keys of the tables written with `INSERT OR REPLACE`."""

_STATEMENTS: dict[str, str] = {
    # The prune report's size: the whole database's, in bytes.
    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()": (
        "SELECT pg_database_size(current_database())"
    ),
}
"""Whole statements that PostgreSQL says differently (keys with whitespace collapsed)."""

_FRAGMENTS: tuple[tuple[str, str], ...] = (
    # Key ranges of the checkpoint loader (`_load`): a JSON list of lists, with each
    # item's position (SQLite's `key`, from 0).
    (
        "json_each(?) AS r",
        "(SELECT i.value, i.ordinality - 1 AS key "
        "FROM json_array_elements(?::json) WITH ORDINALITY AS i(value, ordinality)) AS r",
    ),
    ("SELECT r.value ->> 0, e.kind", "SELECT (r.value ->> 0)::int, e.kind"),
    (
        "e.seq BETWEEN r.value ->> 2 AND r.value ->> 3",
        "e.seq BETWEEN (r.value ->> 2)::bigint AND (r.value ->> 3)::bigint",
    ),
    # Pruning a thread (`_threads`): the delta channels of a head, and the kept keys.
    (
        "metadata -> '$.counters_since_delta_snapshot' AS delta",
        "(metadata::json -> 'counters_since_delta_snapshot')::text AS delta",
    ),
    (
        "SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]' FROM json_each(?)",
        "SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_array_elements(?::json) AS value",
    ),
    (
        "json_each(c.channel_versions) AS v",
        "json_each_text(c.channel_versions::json) AS v",
    ),
    # The metadata filter (`_select`): JSON equality by type, so `1` never equals `true`.
    ("json_each(c.metadata) AS m", "json_each(c.metadata::json) AS m"),
    ("m.type = 'null'", "json_typeof(m.value) = 'null'"),
    ("m.type = 'true'", "json_typeof(m.value) = 'boolean' AND m.value::text = 'true'"),
    ("m.type = 'false'", "json_typeof(m.value) = 'boolean' AND m.value::text = 'false'"),
    (
        "m.type IN ('integer', 'real') AND m.atom = ?",
        "json_typeof(m.value) = 'number' AND (m.value::text)::numeric = ?",
    ),
    ("m.type = 'text' AND m.atom = ?", "json_typeof(m.value) = 'string' AND m.value #>> '{}' = ?"),
    (
        "m.type IN ('object', 'array') AND json(m.value) = json(?)",
        "json_typeof(m.value) IN ('object', 'array') AND m.value::jsonb = ?::jsonb",
    ),
    # SQLite reads a table in its key's order without being asked; PostgreSQL must be.
    (
        "LEFT JOIN checkpoint_values AS v ON v.hash = w.value_hash",
        "LEFT JOIN checkpoint_values AS v ON v.hash = w.value_hash "
        "ORDER BY r.key, w.checkpoint_id, w.task_id, w.idx",
    ),
    # A parameter tested for NULL alone has no type PostgreSQL can infer.
    ("CASE WHEN ? IS NULL", "CASE WHEN ?::text IS NULL"),
    # Bytes read as text (UTF-8), as SQLite's CAST reads them.
    ("CAST(blob AS TEXT)", "convert_from(blob, 'UTF8')"),
)
"""Fragments replaced as they are, before the general rules."""

_LIST_PARAM = re.compile(r"SELECT value FROM json_each\(\?\)")
_JSON_PATH = re.compile(r"(\b[a-z_]+(?:\.[a-z_]+)?) ->> '\$\.([a-z_]+)'")
_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+")
_WHERE_TRUE = re.compile(r"\bWHERE 1(?=\s|$)")
_LIMIT = re.compile(r"\bLIMIT \?")
_NUMBERED = re.compile(r"\?(\d+)")
_INSERT_OR = re.compile(r"\bINSERT OR (IGNORE|REPLACE) INTO (\w+)\s*\(([^)]*)\)")
_SQLITE_ONLY = re.compile(
    r"json_each\((?![^)]*::json)|'\$|PRAGMA|pragma_|INDEXED BY|\bOR IGNORE\b|\bOR REPLACE\b"
    r"|\bjson\(|\bm\.(?:type|atom)\b"
)
"""SQLite's SQL that must not reach PostgreSQL (where it would mean something else, or fail
with a message that names neither the statement nor the cause)."""


@lru_cache(maxsize=2048)
def translate(sql: str) -> PgStatement:
    """PostgreSQL's form of a statement written in SQLite's SQL.

    Raises:
        StoreError: The statement uses SQLite's SQL that no rule here covers.
    """
    text = " ".join(sql.split())
    text = _STATEMENTS.get(text, text)
    for sqlite, postgres in _FRAGMENTS:
        text = text.replace(sqlite, postgres)
    text = _LIST_PARAM.sub("SELECT value FROM json_array_elements_text(?::json) AS value", text)
    text = _JSON_PATH.sub(r"\1::json ->> '\2'", text)
    text = _INDEXED_BY.sub("", text)
    text = _WHERE_TRUE.sub("WHERE TRUE", text)
    text = _LIMIT.sub("LIMIT NULLIF(?, -1)", text)
    text = _upsert(text)
    if found := _SQLITE_ONLY.search(text):
        raise StoreError(
            f"railgraph has no PostgreSQL form for this statement (it uses SQLite's "
            f"{found.group().strip()!r}): {sql.strip()!r}. This is a bug in railgraph: please "
            "report it; the SQLite backend (a file path instead of the URL) is not affected."
        )
    text = text.replace("%", "%%")
    order: tuple[int, ...] | None = None
    if _NUMBERED.search(text):
        order = tuple(int(n) - 1 for n in _NUMBERED.findall(text))
        text = _NUMBERED.sub("%s", text)
    return PgStatement(text.replace("?", "%s"), order)


def _upsert(text: str) -> str:
    """`INSERT OR IGNORE` / `INSERT OR REPLACE` as `INSERT ... ON CONFLICT`."""
    found = _INSERT_OR.search(text)
    if found is None:
        return text
    verb, table, columns = found.groups()
    text = text[: found.start()] + f"INSERT INTO {table} ({columns})" + text[found.end() :]
    if verb == "IGNORE":
        return f"{text} ON CONFLICT DO NOTHING"
    keys = _KEYS.get(table)
    if keys is None:
        raise StoreError(
            f"railgraph has no PostgreSQL form for INSERT OR REPLACE INTO {table}: its key is "
            "not known. This is a bug in railgraph: please report it."
        )
    names = [c.strip() for c in columns.split(",")]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in keys)
    return f"{text} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
