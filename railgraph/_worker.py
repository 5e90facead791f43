"""A worker: drives runs handed out by the work queue, and sweeps for runs nobody drives.

Any worker can drive any run, whoever started it: it resumes the run under the run's
lease, so a run another process drives is left alone, and a run whose driver died is
taken over once the lease lapses (at once on the same host, where the driver's process is
seen to be gone). What a dead driver left half done is handled as every resume handles
it: completed effects are replayed from the ledger, and an effect that may have happened
becomes a review request; nothing is silently sent twice.

The sweep is procrastinate's periodic task: each tick, exactly one worker reads the run
store (:mod:`railgraph._sweep`) and enqueues a drive job for every run that needs one. It
also fails the jobs of workers whose heartbeats stopped: their runs are found again
through the store, which is the only record of what is owed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING, Final

from railgraph._outcome import ENDED
from railgraph._sweep import read_snapshot, runs_to_drive
from railgraph._work_queue import DRIVE_TASK, QUEUE, SWEEP_TASK, WorkQueue
from railgraph.checkpointers import lease_live
from railgraph.errors import DecisionError, RunBusy, StoreError
from railgraph.vocab import RunStatus

if TYPE_CHECKING:
    from railgraph._runner import Runner

__all__ = ["BUSY", "GONE", "Worker"]

log = logging.getLogger("railgraph.worker")

BUSY: Final = "busy"
"""What a drive job reports when another live process drives the run."""
GONE: Final = "gone"
"""What a drive job reports for a run that is no longer stored (pruned)."""


class Worker:
    """Drives runs from the work queue with one runner.

    Args:
        runner: The runner (and run store) that drives runs.
        queue: The work queue.
        sweep_every_s: Seconds between sweeps (1 to 60; a divisor of 60 keeps them even).
        stalled_after_s: Seconds without a heartbeat after which a worker is taken for
            dead and its jobs failed (their runs are found again by the sweep).
    """

    def __init__(
        self,
        runner: Runner,
        queue: WorkQueue,
        *,
        sweep_every_s: int = 5,
        stalled_after_s: float = 30.0,
    ) -> None:
        if not 1 <= sweep_every_s <= 60:
            raise ValueError("sweep_every_s is a whole number of seconds from 1 to 60")
        self.runner = runner
        self.queue = queue
        self.stalled_after_s = stalled_after_s
        self._driving: set[str] = set()
        """Runs a job of this worker drives now: its jobs share one lease owner, which the
        store would let in twice."""
        app = queue.app
        # No procrastinate `lock`: a job of a killed worker would hold it until someone
        # retried that job. The run's lease already keeps one driver per run.
        app.task(name=DRIVE_TASK, queue=QUEUE)(self.drive)
        sweep = app.task(name=SWEEP_TASK, queue=QUEUE, queueing_lock=SWEEP_TASK)(self.sweep)
        seconds = "*" if sweep_every_s == 1 else f"*/{sweep_every_s}"
        # croniter's sixth field is seconds.
        app.periodic(cron=f"* * * * * {seconds}", periodic_id="railgraph")(sweep)

    async def drive(self, run_id: str) -> str:
        """Bring a run as far as it can go now: apply its expired requests, deliver its
        decisions, continue it after a crash, or start it. Returns where it stands."""
        if run_id in self._driving:
            done = BUSY
        else:
            self._driving.add(run_id)
            try:
                done = await self._drive(run_id)
            finally:
                self._driving.discard(run_id)
        if done == BUSY:
            # Its driver delivers what was decided before it lets go; should it die in the
            # moment between pausing and looking again, nobody would. Ask again one lease
            # later (one job waits per run, so a long run costs one small job a lease).
            try:
                await self.queue.enqueue(run_id, after_s=self.runner.lease_s)
            except StoreError as exc:
                log.warning("run %s: no follow-up job (%s); the sweep finds it", run_id, exc)
        return done

    async def _drive(self, run_id: str) -> str:
        runner = self.runner
        try:
            expired = await runner.expire(run_id=run_id)
            if expired:
                # Expiring a request resumed the run already: driving it again would only
                # find it where that drive left it.
                log.info("run %s: %s", run_id, expired[-1].status)
                return str(expired[-1].status)
            record = await runner.store.get_run(run_id)
            if record is None:
                return GONE
            if record.status in ENDED:
                return str(record.status)
            if record.status == RunStatus.RUNNING and lease_live(record, runner.clock()):
                return BUSY  # its driver goes on, and delivers what was decided
            outcome = await runner.resume(run_id)
            log.info("run %s: %s", run_id, outcome.status)
            return str(outcome.status)
        except RunBusy:
            return BUSY
        except DecisionError:
            after = await runner.store.get_run(run_id)
            if after is not None and after.status in ENDED:
                return str(after.status)  # ended (a cancel, another driver) meanwhile
            raise
        except asyncio.CancelledError:
            # The worker is stopping and its grace ran out: let the next driver in now.
            # An effect this drive had begun stays `started` in the ledger, and the next
            # driver asks a person about it.
            with contextlib.suppress(StoreError):
                await runner.store.release_lease(
                    run_id,
                    runner.lease.owner,
                    error=f"the worker driving run {run_id} stopped; another worker takes it over",
                )
            raise

    async def sweep(self, timestamp: int) -> int:
        """Enqueue a drive job for every run that needs one; returns how many were new."""
        from procrastinate.exceptions import ConnectorException
        from procrastinate.jobs import Status

        manager = self.queue.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_after_s):
            # Refused when another sweep finished it first: it is no longer `doing`.
            with contextlib.suppress(ConnectorException):
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
        now = self.runner.clock()
        # A run cancelled while its driver was dying keeps the dead driver's lease.
        await self.runner.store.release_void_leases(now)
        due = runs_to_drive(await read_snapshot(self.runner.store, now), now)
        added = 0
        for run_id, reason in due.items():
            if await self.queue.enqueue(run_id):
                added += 1
                log.info("sweep: run %s needs a driver (%s)", run_id, reason)
        return added

    async def run(self, *, concurrency: int = 1, grace_s: float = 30.0) -> None:
        """Work until SIGTERM or SIGINT; then finish the runs being driven, for up to
        ``grace_s`` seconds, and give up the leases of the rest."""
        name = f"railgraph-{socket.gethostname()}-{os.getpid()}"
        await self.queue.app.run_worker_async(
            queues=[QUEUE],
            name=name,
            concurrency=concurrency,
            shutdown_graceful_timeout=grace_s,
            install_signal_handlers=True,
            delete_jobs="successful",
            update_heartbeat_interval=self.stalled_after_s / 3,
            stalled_worker_timeout=self.stalled_after_s,
        )
