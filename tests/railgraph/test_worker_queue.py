"""The work queue on a real PostgreSQL: one waiting job per run, and the sweep's jobs."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from railgraph import Runner
from railgraph._work_queue import DRIVE_TASK, WorkQueue
from railgraph._worker import Worker
from railgraph.checkpointers import Lease
from railgraph.graphs.refund import make_graph
from tests.conftest import FakeTime

REF = "railgraph.graphs.refund:graph"


def waiting(jobs: object) -> list[tuple[str, str | None]]:
    return sorted((j.task_kwargs["run_id"], j.status) for j in jobs)  # type: ignore[attr-defined]


@pytest.mark.slow
async def test_one_job_waits_per_run_and_the_sweep_fails_a_dead_workers_job(
    tmp_path: Path, fake_time: FakeTime, postgres_url: str
) -> None:
    async with (
        Runner.open(tmp_path / "rg.db", clock=fake_time.clock) as runner,
        WorkQueue.open(postgres_url) as queue,
    ):
        runner.register(REF, make_graph())
        await runner.submit(REF, {"ticket_id": "T-1001"}, run_id="a")
        await runner.submit(REF, {"ticket_id": "T-1001"}, run_id="b")
        await runner.start(REF, {"ticket_id": "T-1001"}, run_id="done")
        manager = queue.app.job_manager

        # However many ask, one job per run waits.
        assert [await queue.enqueue("a"), await queue.enqueue("a")] == [True, False]
        worker = Worker(runner, queue)
        assert await worker.sweep(0) == 1  # only b was new; a waits, `done` ended
        jobs = await manager.list_jobs_async(task=DRIVE_TASK)
        assert waiting(jobs) == [("a", "todo"), ("b", "todo")]

        # A worker takes a's job and dies: its heartbeat stops.
        dead = await manager.register_worker()
        taken = await manager.fetch_job(["railgraph"], dead)
        assert taken is not None and taken.task_kwargs == {"run_id": "a"}
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                "WHERE id = %s",
                (dead,),
            )
        # The sweep fails the dead worker's job and asks again for the run it held.
        assert await worker.sweep(1) == 1
        jobs = await manager.list_jobs_async(task=DRIVE_TASK)
        assert waiting(jobs) == [("a", "failed"), ("a", "todo"), ("b", "todo")]


@pytest.mark.slow
async def test_the_sweep_clears_the_lease_a_dead_driver_left_on_a_cancelled_run(
    tmp_path: Path, fake_time: FakeTime, postgres_url: str
) -> None:
    async with (
        Runner.open(tmp_path / "rg.db", clock=fake_time.clock) as runner,
        WorkQueue.open(postgres_url) as queue,
    ):
        runner.register(REF, make_graph())
        await runner.submit(REF, {"ticket_id": "T-1001"}, run_id="stuck")
        # Its driver on another host takes it and dies; before its lease lapses, an
        # operator cancels the run: the lease is left for a driver that never comes back.
        await runner.store.acquire_lease("stuck", Lease("gone", "other-host", 1), ttl=5)
        cancelled = await runner.cancel("stuck", by="ops", reason="stuck")
        assert cancelled.status == "cancelled"
        held = await runner.store.get_run("stuck")
        assert held is not None and held.lease_owner == "gone"

        fake_time.advance(6)
        assert await Worker(runner, queue).sweep(0) == 0

        after = await runner.store.get_run("stuck")
        assert after is not None
        assert (after.status, after.lease_owner, after.lease_expires_at) == (
            "cancelled",
            None,
            None,
        )


@pytest.mark.slow
async def test_a_job_asked_for_now_replaces_one_waiting_for_later(postgres_url: str) -> None:
    async with WorkQueue.open(postgres_url) as queue:
        manager = queue.app.job_manager
        # A driver that found the run busy asks again one lease later...
        assert await queue.enqueue("a", after_s=3600) is True
        assert await queue.enqueue("a", after_s=3600) is False
        [later] = await manager.list_jobs_async(task=DRIVE_TASK, status="todo")
        # ...and a decision recorded meanwhile asks for now: its job does not wait an hour.
        assert await queue.enqueue("a") is True
        [now] = await manager.list_jobs_async(task=DRIVE_TASK, status="todo")
        assert now.id != later.id
        assert now.scheduled_at is None
        assert await manager.list_jobs_async(id=later.id) == []  # dropped, not left behind
        # One job waits per run, however many ask for it now or later.
        assert [await queue.enqueue("a"), await queue.enqueue("a", after_s=3600)] == [False, False]
        assert len(await manager.list_jobs_async(task=DRIVE_TASK, status="todo")) == 1
