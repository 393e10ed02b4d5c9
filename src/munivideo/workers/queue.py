"""The distributed worker (PostgreSQL store): Procrastinate workers on any number of machines.

The outbox row stays the source of truth and the dead-letter record; Procrastinate only decides
who works on what, and when:

* ``munivideo.writeback`` (one per tenant, deferred by the store in the row's transaction, see
  :mod:`munivideo.store.wake`): one turn of :func:`munivideo.workers.drain.drain`. Its lock
  (one running job per tenant) and queueing lock (one waiting job per tenant) keep a slow city
  from holding more than one worker slot; a turn that runs out of time re-defers the tenant
  behind the others. Retries are the outbox's: a failed attempt's row goes back to ``pending``
  with its backoff, and the store defers the wake-up to that time.
* ``munivideo.sync`` (periodic, one per tenant with ``worker.sync_every_seconds``).
* ``munivideo.sweep`` (periodic, every 10 s): jobs of workers that stopped heartbeating (killed)
  are closed as failed, freeing their tenant's lock; tenants with due rows or expired leases are
  woken (a safety net: nothing waits for a job that died with its worker).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.jobs import Status

from munivideo.engine.sync import sync
from munivideo.store.postgres import PostgresStore
from munivideo.store.wake import QUEUE, WRITEBACK_TASK
from munivideo.values import utcnow
from munivideo.workers.drain import drain
from munivideo.workers.tenants import TenantSet

log = logging.getLogger("munivideo.worker")

SYNC_TASK = "munivideo.sync"
SWEEP_TASK = "munivideo.sweep"
SWEEP_CRON = "* * * * * */10"
STALLED_AFTER_SECONDS = 15.0


def sync_cron(seconds: int) -> str:
    """``worker.sync_every_seconds`` as a cron line (a 6th field is seconds, as croniter reads
    it): 30 -> every 30 seconds, 300 -> every 5 minutes."""
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{seconds // 60} * * * *"


class QueueWorker:
    """A Procrastinate worker serving ``tenants`` from the PostgreSQL store at ``url``.

    :param concurrency: jobs (tenants) this process works on at the same moment.
    """

    def __init__(
        self, tenants: TenantSet, *, concurrency: int = 4, name: str = "munivideo"
    ) -> None:
        self.tenants = tenants
        self.concurrency = max(1, concurrency)
        self.name = name
        self.url = tenants.store_url()
        self.stopping = threading.Event()
        self.store = PostgresStore(self.url, pool_size=self.concurrency + 2)
        self.app = self._build_app()

    def _build_app(self) -> App:
        app = App(
            connector=PsycopgConnector(
                conninfo=self.url,
                min_size=1,
                max_size=self.concurrency + 2,
                kwargs={"connect_timeout": 10},
            )
        )

        @app.task(name=WRITEBACK_TASK, queue=QUEUE)
        def writeback_turn(tenant_id: str) -> None:
            self._writeback(tenant_id)

        @app.task(name=SYNC_TASK, queue=QUEUE)
        def sync_turn(timestamp: int, tenant_id: str) -> None:
            engines = self.tenants.engines(tenant_id, self.store, self.name, "sync")
            sync(engines[0])

        for tid in self.tenants.ids:
            every = self.tenants.configs[tid].worker.sync_every_seconds
            if every:
                lock = f"munivideo:sync:{tid}"
                app.periodic(
                    cron=sync_cron(every),
                    periodic_id=tid,
                    task_kwargs={"tenant_id": tid},
                    lock=lock,
                    queueing_lock=lock,
                )(sync_turn)

        @app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
        @app.task(name=SWEEP_TASK, queue=QUEUE, queueing_lock=SWEEP_TASK, pass_context=True)
        async def sweep(context: JobContext, timestamp: int) -> None:
            await self._sweep(app)

        return app

    def _writeback(self, tenant_id: str) -> None:
        engines = self.tenants.engines(tenant_id, self.store, self.name)
        budget = self.tenants.configs[tenant_id].worker.max_job_seconds
        turn = drain(engines, budget_seconds=budget, stop=self.stopping)
        if turn.more_due and not self.stopping.is_set():
            self.store.wake_tenant(tenant_id)  # behind the tenants already waiting

    async def _sweep(self, app: App) -> None:
        stalled = await app.job_manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=STALLED_AFTER_SECONDS
        )
        for job in stalled:
            log.warning("closing job %s of a worker that stopped heartbeating", job.id)
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        due = await asyncio.to_thread(self.store.due_tenants, now=utcnow())
        for tenant in due:
            if tenant in self.tenants.configs:
                await asyncio.to_thread(self.store.wake_tenant, tenant)

    async def run_async(self) -> None:
        """Work until SIGTERM/SIGINT (or :meth:`stop`): running turns finish, then it returns."""
        loop = asyncio.get_running_loop()
        async with self.app.open_async():
            task = asyncio.create_task(
                self.app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=self.concurrency,
                    name=self.name,
                    wait=True,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=1.0,
                    update_heartbeat_interval=2.0,
                    stalled_worker_timeout=STALLED_AFTER_SECONDS,
                    shutdown_graceful_timeout=max(
                        c.worker.max_job_seconds for c in self.tenants.configs.values()
                    )
                    + 10,
                    delete_jobs="successful",
                )
            )
            self._task = task
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
            try:
                await task
            except asyncio.CancelledError:
                pass
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        self.tenants.close()
        self.store.close()

    def stop(self, *_: Any) -> None:
        """Stop fetching jobs; the running turns see the stop and return early."""
        self.stopping.set()
        task = getattr(self, "_task", None)
        if task is not None:
            task.cancel()

    def run(self) -> None:
        """Work until SIGTERM/SIGINT (blocking): see :meth:`run_async`."""
        asyncio.run(self.run_async())
