"""The store port: what the engine needs from durable storage.

SQLite (:class:`munivideo.store.sqlite.SqliteStore`) is the embedded default;
:class:`munivideo.store.postgres.PostgresStore` (the ``postgres`` extra) serves many cities from
many machines (claims with ``FOR UPDATE SKIP LOCKED``). Every method
is atomic on its own; methods that must change two things together (an attendance and its
outbox row) do so in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from munivideo.errors import TransientError
from munivideo.models import Attendance, AttendanceEvent, Cursor, ProtocolEntry, ProtocolReceipt
from munivideo.store.records import (
    AuditEntry,
    Binding,
    OutboxCounts,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    TenantStatus,
)
from munivideo.store.states import OutboxState


class LeaseLostError(TransientError):
    """The worker's lease on an outbox row expired and the row moved on; stop working on it.

    Raised by every fenced store method (:meth:`Store.renew_lease`, :meth:`Store.mark_attempted`,
    ``record_step``, ``complete``, ``fail``, ``defer``): the worker sends nothing more for the
    row, and its new holder probes every step marked attempted before re-sending it.
    """


@runtime_checkable
class Store(Protocol):
    # -- bindings ---------------------------------------------------------------------------
    def get_binding(self, tenant_id: str, booking_id: str) -> Binding | None: ...

    def save_binding(self, binding: Binding) -> None: ...

    def get_bindings(self, tenant_id: str, booking_ids: Sequence[str]) -> dict[str, Binding]: ...

    def save_bindings(self, bindings: Sequence[Binding], *, now: datetime) -> None: ...

    def count_bindings(self, tenant_id: str) -> int: ...

    def dirty_bindings(self, tenant_id: str, *, limit: int = 1000) -> list[Binding]: ...

    # -- sync cursors -----------------------------------------------------------------------
    def get_cursor(self, tenant_id: str) -> Cursor | None: ...

    def set_cursor(self, tenant_id: str, cursor: Cursor, *, now: datetime) -> None: ...

    # -- messages sent (so a resumed sync never sends twice) -----------------------------------
    def was_sent(self, tenant_id: str, key: str) -> bool: ...

    def mark_sent(
        self, tenant_id: str, booking_id: str, key: str, reference: str, *, now: datetime
    ) -> None: ...

    def forget_sent(self, tenant_id: str, key: str) -> None:
        """Drop the mark ``key`` (a pending mark whose send surely did not happen)."""
        ...

    # -- attendance events -------------------------------------------------------------------
    def add_events(
        self, tenant_id: str, events: Sequence[AttendanceEvent], *, now: datetime
    ) -> int: ...

    def events_for(self, tenant_id: str, booking_id: str) -> list[AttendanceEvent]: ...

    # -- outbox -----------------------------------------------------------------------------
    def enqueue(
        self,
        tenant_id: str,
        attendance: Attendance,
        entry: ProtocolEntry,
        *,
        max_attempts: int,
        now: datetime,
    ) -> tuple[OutboxItem, bool]: ...

    def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        tenant_id: str | None = None,
    ) -> list[OutboxItem]: ...

    def record_step(
        self,
        item_id: int,
        owner: str,
        step: str,
        detail: str,
        *,
        now: datetime,
        receipt: ProtocolReceipt | None = None,
    ) -> None: ...

    def renew_lease(
        self, item_id: int, owner: str, *, lease_seconds: float, now: datetime
    ) -> datetime:
        """Fence + heartbeat: :class:`LeaseLostError` unless ``owner`` holds the in-flight row;
        else the lease runs to ``now + lease_seconds`` (returned)."""
        ...

    def mark_attempted(
        self, item_id: int, owner: str, step: str, *, lease_seconds: float, now: datetime
    ) -> None:
        """Right before ``step`` is sent to the ERP: fence and renew as :meth:`renew_lease`,
        and record the attempt (count, last time) in the same transaction. Markers survive
        replay and requeue; :attr:`OutboxItem.attempted` shows them."""
        ...

    def clear_attempted(self, item_id: int, owner: str, step: str, *, now: datetime) -> None:
        """Forget ``step``'s marker: the ERP surely did nothing. Fenced."""
        ...

    def defer(
        self,
        item_id: int,
        owner: str,
        *,
        next_attempt_at: datetime,
        reason: str,
        now: datetime,
    ) -> OutboxItem:
        """in_flight -> pending until ``next_attempt_at``, giving back the claim's attempt
        (waiting for a settle window is not a failure). Fenced; audited."""
        ...

    def resolve_step(
        self,
        item_id: int,
        step: str,
        *,
        landed: bool,
        actor: str,
        now: datetime,
        receipt: ProtocolReceipt | None = None,
    ) -> OutboxItem:
        """A person checked a dead letter's ``step`` in the ERP: ``landed`` records it done
        (``receipt`` required for ``create``), else its attempt marker is dropped. Dead letters
        only (:class:`munivideo.errors.LifecycleError` otherwise); audited."""
        ...

    def complete(self, item_id: int, owner: str, *, now: datetime) -> OutboxItem: ...

    def fail(
        self,
        item_id: int,
        owner: str,
        *,
        to_state: OutboxState,
        next_attempt_at: datetime,
        error_type: str,
        message: str,
        now: datetime,
    ) -> OutboxItem: ...

    def requeue_stale(self, *, now: datetime, tenant_id: str | None = None) -> int: ...

    def release_owner(self, owner: str, *, now: datetime, tenant_id: str | None = None) -> int: ...

    def replay(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int] | None,
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]: ...

    def get_item(self, item_id: int) -> OutboxItem: ...

    def list_items(
        self,
        tenant_id: str,
        *,
        state: OutboxState | None = None,
        limit: int = 1000,
        after: int | None = None,
    ) -> list[OutboxItem]:
        """A page of ``tenant_id``'s rows in ascending id order, only ``state`` if given;
        ``after`` is the last id of the previous page (keyset pagination)."""
        ...

    def audit_trail(self, item_id: int) -> list[AuditEntry]: ...

    # -- quarantine -------------------------------------------------------------------------
    def quarantine(
        self,
        tenant_id: str,
        kind: QuarantineKind,
        record_id: str,
        *,
        field: str | None,
        reason: str,
        error_type: str,
        raw: str,
        now: datetime,
    ) -> QuarantineItem: ...

    def resolve_quarantine(
        self, tenant_id: str, kind: QuarantineKind, record_id: str, *, now: datetime
    ) -> bool: ...

    def list_quarantine(
        self, tenant_id: str, *, include_resolved: bool = False, limit: int = 1000
    ) -> list[QuarantineItem]: ...

    # -- console reads (agenda, a booking's write-back) ------------------------------------------
    def bindings_starting(
        self,
        tenant_id: str,
        *,
        start: datetime,
        end: datetime,
        servant_registration: str | None = None,
        limit: int = 500,
    ) -> list[Binding]:
        """Bindings whose booking starts in ``[start, end)`` (tz-aware), by start time; only the
        ones assigned to ``servant_registration`` when given. The servant's agenda."""
        ...

    def item_for_booking(self, tenant_id: str, booking_id: str) -> OutboxItem | None:
        """The outbox row of a booking's attendance, or None before it is recorded."""
        ...

    def requeue(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int],
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]:
        """An operator makes ``pending`` rows due now, attempts and steps kept, with an audit
        entry ``requeue: <reason>``. Raises :class:`LifecycleError` for other states (a dead
        letter is replayed instead)."""
        ...

    def mark_done_elsewhere(
        self,
        item_id: int,
        *,
        tenant_id: str,
        actor: str,
        reason: str,
        receipt: ProtocolReceipt,
        now: datetime,
    ) -> OutboxItem:
        """A person did this write-back in the ERP by hand: ``failed`` -> ``delivered``
        with the protocol they found (``receipt``) and an audit entry naming ``actor`` and
        ``reason``. Raises :class:`LifecycleError` from any other state."""
        ...

    # -- overview ---------------------------------------------------------------------------
    def outbox_counts(self, tenant_id: str, *, now: datetime) -> OutboxCounts:
        """The outbox part of :meth:`status`, cheap enough to call on every empty claim."""
        ...

    def status(self, tenant_id: str, *, now: datetime) -> TenantStatus: ...

    def close(self) -> None: ...
