"""Durable storage for the attendance cycle: bindings, sync cursors, the write-back outbox (an
explicit state machine with leases, steps and an audit trail) and the quarantine.

SQLite is the embedded default (:class:`SqliteStore`); other databases implement :class:`Store`.
"""

from __future__ import annotations

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
from munivideo.store.sqlite import SqliteStore, open_store
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
