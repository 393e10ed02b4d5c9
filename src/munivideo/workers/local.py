"""The single-machine worker (SQLite store): a scheduler that gives every tenant turns.

Each tenant has one write-back slot in a time-ordered heap (and one sync slot when periodic sync
is on); ``concurrency`` threads take the earliest due slot, run one turn (:func:`drain`), and put
the slot back at the tenant's next due time: now when its budget ran out with rows still due
(behind the tenants already waiting), its earliest retry time, or ``poll_seconds`` from now.
A slow city holds at most one thread, for at most one turn, at a time.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from munivideo.engine.sync import sync
from munivideo.errors import MunivideoError
from munivideo.store.factory import open_store
from munivideo.store.port import Store
from munivideo.values import utcnow
from munivideo.workers.drain import drain
from munivideo.workers.tenants import TenantSet

log = logging.getLogger("munivideo.worker")

Kind = Literal["writeback", "sync"]


class LocalWorker:
    """Serve ``tenants`` from one process until :meth:`stop` (or SIGTERM via the CLI).

    :param concurrency: threads (tenants served at the same moment).
    :param poll_seconds: how often an idle tenant's outbox is looked at again (rows recorded by
        another process are seen within this).
    """

    def __init__(
        self,
        tenants: TenantSet,
        *,
        concurrency: int = 4,
        poll_seconds: float = 1.0,
        name: str = "local",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tenants = tenants
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self.name = name
        self.clock = clock
        self.stopping = threading.Event()
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Kind, str]] = []
        self._seq = 0
        self._url = tenants.store_url()
        now = time.monotonic()
        for tid in tenants.ids:
            self._push(now, "writeback", tid)
            if tenants.configs[tid].worker.sync_every_seconds:
                self._push(now, "sync", tid)

    def _push(self, due: float, kind: Kind, tenant: str) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, kind, tenant))
            self._cond.notify()

    def _pop(self) -> tuple[Kind, str] | None:
        with self._cond:
            while not self.stopping.is_set():
                if self._heap and self._heap[0][0] <= time.monotonic():
                    _, _, kind, tenant = heapq.heappop(self._heap)
                    return kind, tenant
                wait = self._heap[0][0] - time.monotonic() if self._heap else self.poll_seconds
                self._cond.wait(timeout=max(0.01, min(wait, self.poll_seconds)))
            return None

    def stop(self) -> None:
        """Finish the turns in progress, then return from :meth:`run`."""
        self.stopping.set()
        with self._cond:
            self._cond.notify_all()

    def run(self) -> None:
        """Serve until :meth:`stop`: ``concurrency`` threads take turns (one SQLite connection,
        shared: SQLite has one writer at a time anyway)."""
        store = open_store(self._url)
        threads = [
            threading.Thread(
                target=self._serve, args=(store,), name=f"munivideo-worker-{i}", daemon=True
            )
            for i in range(self.concurrency)
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            self.tenants.close()
            store.close()

    def _serve(self, store: Store) -> None:
        while (job := self._pop()) is not None:
            kind, tenant = job
            try:
                due = self._turn(kind, tenant, store)
            except MunivideoError as exc:
                log.error("turn of %s failed: %s", tenant, exc, extra={"tenant": tenant})
                due = time.monotonic() + self.poll_seconds
            self._push(due, kind, tenant)

    def _turn(self, kind: Kind, tenant: str, store: Store) -> float:
        engines = self.tenants.engines(tenant, store, self.name, kind)
        config = self.tenants.configs[tenant].worker
        if kind == "sync":
            sync(engines[0])
            return time.monotonic() + config.sync_every_seconds
        turn = drain(engines, budget_seconds=config.max_job_seconds, stop=self.stopping)
        if turn.more_due:
            return time.monotonic()
        if turn.next_attempt_at is not None:
            gap = (turn.next_attempt_at - self.clock()).total_seconds()
            return time.monotonic() + max(0.0, min(gap, self.poll_seconds))
        return time.monotonic() + self.poll_seconds
