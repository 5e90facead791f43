"""Sync methods for `SqliteCheckpointer`: thin wrappers that run the async ones.

LangGraph's sync API (`invoke`, `stream`, `get_state`) calls these. The saver's
connection belongs to the event loop that opened it, so a sync call from another
thread runs the async method on that loop and waits; a sync call on the loop's
own thread would wait for itself forever, so it is refused with advice instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from railgraph.errors import StoreError

if TYPE_CHECKING:
    # Only for annotations: it is the config type of LangGraph's saver interface.
    from langchain_core.runnables import RunnableConfig

__all__ = ["SyncBridge"]

_T = TypeVar("_T")


class SyncBridge(BaseCheckpointSaver[str]):
    """The sync half of the saver interface, implemented on top of the async half."""

    _loop: asyncio.AbstractEventLoop
    """The event loop that owns the saver's connection."""

    def _call_sync(self, make: Callable[[], Coroutine[Any, Any, _T]], async_name: str) -> _T:
        """Run the async method on the saver's loop from another thread, and wait."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise StoreError(
                f"{async_name[1:]}() was called on the event loop that runs this "
                "checkpointer, where waiting for it would deadlock; await "
                f"`{async_name}` instead, or use the graph's async API "
                "(`ainvoke`/`astream`)."
            )
        if self._loop.is_closed() or not self._loop.is_running():
            raise StoreError(
                "the event loop that opened this checkpointer is not running; call the "
                f"sync methods only while `SqliteCheckpointer.from_path(...)` is open on it, "
                f"or await `{async_name}` on a running loop."
            )
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result()

    async def _alist_all(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        return [t async for t in self.alist(config, filter=filter, before=before, limit=limit)]

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Sync `aget_tuple`, for use from threads other than the saver's loop."""
        return self._call_sync(lambda: self.aget_tuple(config), "aget_tuple")

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Sync `alist`, for use from threads other than the saver's loop."""
        found = self._call_sync(lambda: self._alist_all(config, filter, before, limit), "alist")
        return iter(found)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Sync `aput`, for use from threads other than the saver's loop."""
        return self._call_sync(
            lambda: self.aput(config, checkpoint, metadata, new_versions), "aput"
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Sync `aput_writes`, for use from threads other than the saver's loop."""
        self._call_sync(lambda: self.aput_writes(config, writes, task_id, task_path), "aput_writes")

    def delete_thread(self, thread_id: str) -> None:
        """Sync `adelete_thread`, for use from threads other than the saver's loop."""
        self._call_sync(lambda: self.adelete_thread(thread_id), "adelete_thread")

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Sync `adelete_for_runs`, for use from threads other than the saver's loop."""
        self._call_sync(lambda: self.adelete_for_runs(run_ids), "adelete_for_runs")

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Sync `acopy_thread`, for use from threads other than the saver's loop."""
        self._call_sync(
            lambda: self.acopy_thread(source_thread_id, target_thread_id), "acopy_thread"
        )

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Sync `aprune`, for use from threads other than the saver's loop."""
        self._call_sync(lambda: self.aprune(thread_ids, strategy=strategy), "aprune")
