"""The job that wakes a worker for a tenant's outbox, deferred by the PostgreSQL store in the same
transaction as the outbox row it is about.

The outbox row is the source of truth; the job only says "tenant X has work, from time T". One
waiting job per tenant (Procrastinate's *queueing lock*) and one running job per tenant (its
*lock*): a slow or failing city's ERP occupies at most one worker slot, never all of them.

A plain ``defer`` would fail when a waiting job already exists, and that job could start before
our transaction commits and miss our row. So the insert merges instead: ``ON CONFLICT`` on the
queueing-lock index pulls the waiting job's start time forward and keeps that job row locked
until we commit, and Procrastinate's fetch (``FOR UPDATE SKIP LOCKED``) cannot start it before
our row is visible. A rolled-back transaction leaves no job; a committed one always has one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, LiteralString

QUEUE = "munivideo"
"""The Procrastinate queue every munivideo job goes to."""

WRITEBACK_TASK = "munivideo.writeback"
"""The task name of the per-tenant write-back job (registered by :mod:`munivideo.workers`)."""


def tenant_lock(tenant_id: str) -> str:
    """The lock and queueing lock of a tenant's write-back job."""
    return f"munivideo:writeback:{tenant_id}"


WAKE_SQL: LiteralString = """
INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, args,
    scheduled_at)
VALUES (%(queue)s, %(task)s, 0, %(lock)s, %(lock)s, %(args)s::jsonb, %(at)s)
ON CONFLICT (queueing_lock) WHERE status = 'todo' DO UPDATE SET scheduled_at =
    CASE WHEN procrastinate_jobs.scheduled_at IS NULL OR EXCLUDED.scheduled_at IS NULL
         THEN NULL
         ELSE LEAST(procrastinate_jobs.scheduled_at, EXCLUDED.scheduled_at) END
"""


def wake_params(tenant_id: str, at: datetime | None) -> dict[str, Any]:
    """Parameters of :data:`WAKE_SQL`: wake ``tenant_id``'s job at ``at`` (None: now)."""
    return {
        "queue": QUEUE,
        "task": WRITEBACK_TASK,
        "lock": tenant_lock(tenant_id),
        "args": json.dumps({"tenant_id": tenant_id}),
        "at": at,
    }
