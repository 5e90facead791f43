"""The page query: which checkpoints to read, newest first, as one `SELECT`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import get_checkpoint_id

from ._json import dumps

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["PAGE_COLUMNS", "Selection"]

PAGE_COLUMNS = (
    "c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, "
    "c.type, c.checkpoint, c.metadata, c.channel_versions"
)


@dataclass
class Selection:
    """Which checkpoints to load, newest first; builds the page query."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    limit: int | None = None

    @classmethod
    def of(
        cls,
        config: RunnableConfig | None,
        *,
        filter: Mapping[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
        default_ns: str | None = None,
    ) -> Selection:
        """Select by config (thread, namespace, id), metadata filter and cursor.

        Args:
            config: Its `thread_id`, `checkpoint_ns` and `checkpoint_id`, where
                present, must match.
            filter: Metadata keys whose values must equal these (JSON equality;
                numbers compare by value).
            before: Only checkpoints older than this config's `checkpoint_id`.
            limit: At most this many rows.
            default_ns: The namespace to use when `config` names none; `None`
                means every namespace.
        """
        selection = cls(limit=limit)
        configurable = (config or {}).get("configurable") or {}
        if (thread_id := configurable.get("thread_id")) is not None:
            selection.where("c.thread_id = ?", str(thread_id))
        checkpoint_ns = configurable.get("checkpoint_ns", default_ns)
        if checkpoint_ns is not None:
            selection.where("c.checkpoint_ns = ?", checkpoint_ns)
        if config is not None and (checkpoint_id := get_checkpoint_id(config)):
            selection.where("c.checkpoint_id = ?", checkpoint_id)
        if before is not None and (before_id := get_checkpoint_id(before)):
            selection.where("c.checkpoint_id < ?", before_id)
        for key, value in (filter or {}).items():
            selection.where_metadata(key, value)
        return selection

    def where(self, clause: str, *params: Any) -> None:
        """Add one condition on the `checkpoints` row `c`."""
        self.clauses.append(clause)
        self.params.extend(params)

    def where_metadata(self, key: str, value: Any) -> None:
        """Require `metadata[key] == value`, typed as JSON types (so `1` never equals `true`)."""
        params: list[Any] = []
        if value is None:
            test = "m.type = 'null'"
        elif isinstance(value, bool):
            test = "m.type = 'true'" if value else "m.type = 'false'"
        elif isinstance(value, int | float):
            test, params = "m.type IN ('integer', 'real') AND m.atom = ?", [value]
        elif isinstance(value, str):
            test, params = "m.type = 'text' AND m.atom = ?", [value]
        else:
            test = "m.type IN ('object', 'array') AND json(m.value) = json(?)"
            params = [dumps(value)]
        # json_each rather than a JSON path: a path cannot spell every key.
        self.where(
            f"EXISTS (SELECT 1 FROM json_each(c.metadata) AS m WHERE m.key = ? AND {test})",
            key,
            *params,
        )

    def page_sql(self) -> str:
        """The `SELECT` of the page: newest first, at most `limit` rows.

        Ties (one id in several threads or namespaces) are broken by thread and
        namespace, descending too, so that an index on (thread, id, namespace)
        read backwards gives a thread's page already in order.
        """
        where = " AND ".join(self.clauses) or "1"
        return (
            f"SELECT {PAGE_COLUMNS} FROM checkpoints AS c WHERE {where} "
            "ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC LIMIT ?"
        )

    def page_params(self) -> list[Any]:
        """The parameters of `page_sql`."""
        return [*self.params, -1 if self.limit is None else self.limit]
