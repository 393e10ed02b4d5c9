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
    fingerprint: str  # of the booking fully processed; "" while side effects are unfinished
    room: Room | None = None
    room_link_recorded: str = ""  # fingerprint of the link last stored in the ERP
    invitation_uid: str = ""
    invitation_sequence: int = -1  # last sequence fully sent; -1: none yet
    invitation_method: str = ""
    invitation_key: str = ""  # fingerprint of the invitation content last sent
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
    next_attempt_at: datetime
    last_error: str | None = None
    last_error_type: str | None = None
    steps: dict[str, str] = Field(default_factory=dict)  # step name -> detail, in order done
    #: step name -> when it was last sent (marked before sending, so after a crash or a lost
    #: answer the step may have landed); kept across replays and requeues
    attempted: dict[str, datetime] = Field(default_factory=dict)
    receipt: ProtocolReceipt | None = None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None


class AuditEntry(_Row):
    id: int
    outbox_id: int
    tenant_id: str
    from_state: OutboxState | None
    to_state: OutboxState
    actor: str
    reason: str
    at: datetime


class QuarantineKind(StrEnum):
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
    pending: int = 0
    in_flight: int = 0
    delivered: int = 0
    failed: int = 0
    stale_leases: int = 0
    oldest_pending_at: datetime | None = None
    next_attempt_at: datetime | None = None


class TenantStatus(_Row):
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
