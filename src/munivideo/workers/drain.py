"""One turn of write-back for one tenant, shared by both kinds of worker: up to
``worker.concurrency`` engines deliver the tenant's due rows in parallel until none is due, the
turn's time budget (``worker.max_job_seconds``) is spent, or the worker is stopping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from munivideo.engine.context import Engine
from munivideo.engine.writeback import writeback
from munivideo.store.port import Store
from munivideo.store.records import OutboxItem
from munivideo.store.states import OutboxState

log = logging.getLogger("munivideo.worker")


@dataclass
class Turn:
    """What one turn did for one tenant."""

    tenant_id: str
    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    lease_lost: int = 0
    more_due: bool = False  #: the budget ran out with rows still due
    next_attempt_at: datetime | None = None  #: the earliest pending row's next attempt
    errors: list[str] = field(default_factory=list)


def drain(
    engines: Sequence[Engine],
    *,
    budget_seconds: float,
    stop: threading.Event,
) -> Turn:
    """Deliver ``engines[0]``'s tenant's due rows with ``len(engines)`` engines in parallel."""
    tenant = engines[0].tenant_id
    turn = Turn(tenant_id=tenant)
    deadline = time.monotonic() + budget_seconds
    lock = threading.Lock()

    def run(engine: Engine) -> None:
        batch = engine.config.worker.batch
        while not stop.is_set() and time.monotonic() < deadline:
            result = writeback(engine, limit=batch, batch=batch)
            with lock:
                turn.delivered += result.delivered
                turn.retrying += result.retrying
                turn.dead_lettered += result.dead_lettered
                turn.lease_lost += result.lease_lost
                turn.errors.extend(result.errors)
            if result.claimed < batch:
                return

    if len(engines) == 1:
        run(engines[0])
    else:
        threads = [threading.Thread(target=run, args=(e,), daemon=True) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    now = engines[0].now()
    counts = engines[0].store.outbox_counts(tenant, now=now)
    turn.next_attempt_at = counts.next_attempt_at
    turn.more_due = counts.next_attempt_at is not None and counts.next_attempt_at <= now
    if turn.delivered or turn.retrying or turn.dead_lettered:
        log.info(
            "turn of %s: %d delivered, %d retrying, %d dead letters",
            tenant,
            turn.delivered,
            turn.retrying,
            turn.dead_lettered,
            extra={"tenant": tenant},
        )
    return turn


class ObservedStore:
    """A store that reports what the write-back does to it: lag and dead-letter metrics, and
    structured log lines (tenant, booking, outbox row, step). Everything else passes through."""

    def __init__(self, inner: Store, metrics: Any | None, worker: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._worker = worker
        self._rows: dict[int, tuple[str, str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _extra(self, item_id: int, **more: Any) -> dict[str, Any]:
        tenant, booking = self._rows.get(item_id, (None, None))
        return {
            "tenant": tenant,
            "booking": booking,
            "outbox_id": item_id,
            "worker": self._worker,
            **more,
        }

    def claim(self, owner: str, **kwargs: Any) -> list[OutboxItem]:
        """Claim as the store does; remember each row's tenant and booking for the logs."""
        items = self._inner.claim(owner, **kwargs)
        for item in items:
            self._rows[item.id] = (item.tenant_id, item.booking_id)
            log.debug("claimed", extra=self._extra(item.id, attempt=item.attempts))
        return items

    def record_step(self, item_id: int, owner: str, step: str, detail: str, **kw: Any) -> None:
        """Record the step as the store does and log it."""
        self._inner.record_step(item_id, owner, step, detail, **kw)
        log.info("step done", extra=self._extra(item_id, step=step))

    def complete(self, item_id: int, owner: str, **kwargs: Any) -> OutboxItem:
        """Complete as the store does; observe the row's lag and log it delivered."""
        item = self._inner.complete(item_id, owner, **kwargs)
        self._rows.pop(item_id, None)
        if self._metrics is not None and item.delivered_at is not None:
            lag = (item.delivered_at - item.created_at).total_seconds()
            self._metrics.lag.labels(item.tenant_id).observe(lag)
            self._metrics.delivered.labels(item.tenant_id).inc()
        log.info(
            "delivered",
            extra=self._extra(
                item_id, tenant=item.tenant_id, booking=item.booking_id, state="delivered"
            ),
        )
        return item

    def fail(self, item_id: int, owner: str, **kwargs: Any) -> OutboxItem:
        """Fail as the store does; count a dead letter and log the failure."""
        item = self._inner.fail(item_id, owner, **kwargs)
        self._rows.pop(item_id, None)
        dead = item.state is OutboxState.FAILED
        if dead and self._metrics is not None:
            self._metrics.dead_letters.labels(item.tenant_id).inc()
        (log.error if dead else log.warning)(
            "dead letter: %s" if dead else "will retry: %s",
            item.last_error_type,
            extra=self._extra(
                item_id,
                tenant=item.tenant_id,
                booking=item.booking_id,
                state=item.state.value,
                attempt=item.attempts,
            ),
        )
        return item


EngineFactory = Callable[[str, int], Engine]
"""Builds (or returns a cached) engine for (tenant id, slot) in the calling thread."""
