"""What the store hands back: plain frozen pydantic models, one per table row kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from munivideo.models import Attendance, Booking, ProtocolEntry, ProtocolReceipt, Room
from munivideo.store.states import OutboxState


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Binding(_Row):
    """The one place that knows how a booking relates to everything made for it.

    booking <-> room <-> invitation (uid, sequence) <-> attendance <-> protocol entry, one row per
    (tenant, booking id).
    """

    tenant_id: str
    booking_id: str
    booking: Booking
    fingerprint: str  #: of the booking fully processed; "" while side effects are unfinished
    room: Room | None = None
    room_link_recorded: str = ""  #: fingerprint of the link last stored in the ERP
    invitation_uid: str = ""
    invitation_sequence: int = -1  #: last sequence fully sent; -1: none yet
    invitation_method: str = ""
    invitation_key: str = ""  #: fingerprint of the invitation content last sent
    attendance: Attendance | None = None
    external_reference: str = ""
    protocol_label: str = ""
    created_at: datetime
    updated_at: datetime

    def columns(self, when: Callable[[datetime], object]) -> tuple[object, ...]:
        """The row's values in the ``binding`` table's column order (tenant_id, booking_id,
        booking, fingerprint, room, room_link_recorded, invitation_uid, invitation_sequence,
        invitation_method, invitation_key, attendance, external_reference, protocol_label,
        created_at, updated_at): models as JSON, times through ``when`` (each store's own
        timestamp encoding). Both stores write bindings from this one tuple."""
        return (
            self.tenant_id,
            self.booking_id,
            self.booking.model_dump_json(),
            self.fingerprint,
            self.room.model_dump_json() if self.room else None,
            self.room_link_recorded,
            self.invitation_uid,
            self.invitation_sequence,
            self.invitation_method,
            self.invitation_key,
            self.attendance.model_dump_json() if self.attendance else None,
            self.external_reference,
            self.protocol_label,
            when(self.created_at),
            when(self.updated_at),
        )


class OutboxItem(_Row):
    """One write-back: the canonical entry as it was prepared, and where its delivery stands."""

    id: int
    tenant_id: str
    booking_id: str
    external_reference: str
    entry: ProtocolEntry
    state: OutboxState
    attempts: int
    max_attempts: int
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    #: the row's claim counter: every claim adds one, so the latest claim's token is the only
    #: one the fenced store methods accept (0: never claimed). Kept across requeues and replays.
    fencing_token: int = 0
    next_attempt_at: datetime
    last_error: str | None = None
    last_error_type: str | None = None
    steps: dict[str, str] = Field(default_factory=dict)  #: step name -> detail, in order done
    #: step name -> when it was last sent (marked before sending, so after a crash or a lost
    #: answer the step may have landed); kept across replays and requeues
    attempted: dict[str, datetime] = Field(default_factory=dict)
    receipt: ProtocolReceipt | None = None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None


class AuditEntry(_Row):
    """One state change of an outbox row, written in the same transaction as the change.

    ``from_state`` is ``None`` for the row's creation; ``from_state == to_state`` for changes
    that keep the state (an operator's requeue, a dead letter's step checked by hand). ``actor``
    is the worker id, the operator named on the command line, ``engine`` or ``store`` (a lease
    that expired); ``reason`` is redacted; ``at`` is UTC.
    """

    id: int
    outbox_id: int
    tenant_id: str
    from_state: OutboxState | None
    to_state: OutboxState
    actor: str
    reason: str
    at: datetime


class QuarantineKind(StrEnum):
    """What kind of record was quarantined; ``record_id`` is read in its namespace.

    * ``booking``: a booking from the ERP that failed validation or mapping (its ERP id);
    * ``attendance``: an attendance (form, events, or the protocol entry built from them) or
      a video provider's webhook that could not be recorded: the booking id, or
      ``webhook:<first 16 hex digits of the body's SHA-256>`` for an unreadable body;
    * ``entry``: reserved for protocol entries; the engine files none under it today.
    """

    BOOKING = "booking"
    ATTENDANCE = "attendance"
    ENTRY = "entry"


class QuarantineItem(_Row):
    """A record that could not be processed, kept with the reason and the raw payload."""

    id: int
    tenant_id: str
    kind: QuarantineKind
    record_id: str
    field: str | None
    reason: str
    error_type: str
    raw: str = Field(repr=False)
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None = None


class OutboxCounts(_Row):
    """A tenant's outbox by state, as of the ``now`` it was read at.

    ``stale_leases`` are ``in_flight`` rows whose lease expired (their worker died or hung;
    the next write-back requeues them). ``oldest_pending_at`` is when the oldest waiting row
    was created and ``next_attempt_at`` the earliest time a waiting row is due (UTC, ``None``
    when nothing waits): together they show a stuck queue.
    """

    pending: int = 0
    in_flight: int = 0
    delivered: int = 0
    failed: int = 0
    stale_leases: int = 0
    oldest_pending_at: datetime | None = None
    next_attempt_at: datetime | None = None


class TenantStatus(_Row):
    """One tenant at a glance (``munivideo status``, the console, the metrics).

    ``cursor_updated_at`` / ``cursor_id``: where the last sync stopped (``None`` before the
    first); ``bindings``: bookings ever synced; ``quarantined``: open quarantine entries.
    """

    tenant_id: str
    cursor_updated_at: datetime | None = None
    cursor_id: str | None = None
    bindings: int = 0
    outbox: OutboxCounts = OutboxCounts()
    quarantined: int = 0


__all__ = [
    "AuditEntry",
    "Binding",
    "OutboxCounts",
    "OutboxItem",
    "QuarantineItem",
    "QuarantineKind",
    "TenantStatus",
]
