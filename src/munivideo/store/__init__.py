"""Durable storage for the attendance cycle: bindings, sync cursors, the write-back outbox (an
explicit state machine with leases, steps and an audit trail) and the quarantine.

SQLite is the embedded default (:class:`SqliteStore`); PostgreSQL
(:class:`munivideo.store.postgres.PostgresStore`, the ``postgres`` extra) serves many cities from
many machines. :func:`open_store` picks one by url.
"""

from __future__ import annotations

from munivideo.store.factory import open_store
from munivideo.store.port import LeaseLostError, Store
from munivideo.store.records import (
    AuditEntry,
    Binding,
    OutboxCounts,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    TenantStatus,
)
from munivideo.store.sqlite import SqliteStore
from munivideo.store.states import (
    FAILURE_ROUTES,
    TRANSITIONS,
    OutboxState,
    backoff_delay,
    can_transition,
    route_failure,
)

__all__ = [
    "FAILURE_ROUTES",
    "TRANSITIONS",
    "AuditEntry",
    "Binding",
    "LeaseLostError",
    "OutboxCounts",
    "OutboxItem",
    "OutboxState",
    "QuarantineItem",
    "QuarantineKind",
    "SqliteStore",
    "Store",
    "TenantStatus",
    "backoff_delay",
    "can_transition",
    "open_store",
    "route_failure",
]
