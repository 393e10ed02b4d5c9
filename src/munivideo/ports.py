"""The ports: what the engine needs from an ERP, a video provider and a notifier.

Adapters implement these structurally (no base class needed). An adapter is built by a factory
that receives the tenant and the adapter's own settings table from the tenant configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from munivideo.models import (
    AttendanceEvent,
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    DeliveryReceipt,
    ForwardedDemand,
    JoinLink,
    OutboundMessage,
    Participant,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    Room,
    Tenant,
    VerifiedDocument,
)


class ErpCapabilities(BaseModel):
    """What an ERP can do; the engine adapts its exactly-once strategy to it.

    The three capability sets the write-back guarantees (see docs/operations.md):

    * ``honours_idempotency_key``: a step whose answer was lost is re-sent with the same key;
    * ``lookup_by_external_reference`` only: the ERP is asked (probed) before a re-send, and a
      "not found" counts only after the settle window;
    * neither: a step whose answer was lost becomes a dead letter that says what to check.

    The booking's status is always probed with :meth:`ErpAdapter.read_booking_status`.
    """

    model_config = ConfigDict(frozen=True)

    #: The ERP deduplicates creates, attachments and forwards by idempotency key: a write whose
    #: answer was lost may be re-sent with the same key.
    honours_idempotency_key: bool = True
    #: The ERP can be asked what landed: :meth:`ErpAdapter.find_protocol` by our external
    #: reference and :meth:`ErpAdapter.read_protocol` (attachments, routing history).
    lookup_by_external_reference: bool = True
    #: The ERP stores attachments (documents verified) on a protocol.
    attachments: bool = True
    #: The ERP routes protocols between departments.
    forwarding: bool = True


@runtime_checkable
class ErpAdapter(Protocol):
    """The only code that speaks an ERP's protocol (SOAP, REST, ...)."""

    name: str
    capabilities: ErpCapabilities

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        """Bookings changed after ``cursor`` in (updated_at, id) order, at most ``limit``."""
        ...

    def get_booking(self, booking_id: str) -> Booking:
        """One booking; raises :class:`munivideo.errors.NotFoundError` if unknown."""
        ...

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        """Set the booking's status in the ERP (idempotent: same status twice is fine)."""
        ...

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        """Store the servant-facing room link on the booking (idempotent)."""
        ...

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        """Create a protocol entry. Raises :class:`munivideo.errors.AmbiguousError` when the
        outcome is unknown (timeout, connection dropped after sending)."""
        ...

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        """The protocol created for ``external_reference``, or None. Return what the ERP
        answered: the engine checks the receipt's reference and booking id itself."""
        ...

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        """The protocol ``receipt`` names (by number and year), with its attachments and
        routing history as the ERP holds them now: the probe before an attachment or a forward
        is re-sent to an ERP without idempotency keys. Raises
        :class:`munivideo.errors.NotFoundError` when the ERP has no such protocol."""
        ...

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        """The booking's status in the ERP now: the probe before a status update whose answer
        was lost is re-sent. Raises :class:`munivideo.errors.NotFoundError` if unknown."""
        ...

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        """Attach a verified document's record (append-only in the ERP)."""
        ...

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        """Forward the protocol to another department."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class VideoProvider(Protocol):
    """A video service that hosts rooms (Jitsi, BigBlueButton, ...)."""

    name: str

    def create_room(self, booking: Booking) -> Room:
        """Provision (or describe) a room for ``booking`` with a validity window around it."""
        ...

    def update_room(self, room: Room, booking: Booking) -> Room:
        """Move the room's validity window after a reschedule; same room name."""
        ...

    def close_room(self, room: Room) -> Room:
        """Close the room (cancel); join links stop working."""
        ...

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        """A link for one participant, with the right role (servant = moderator)."""
        ...

    def attendance_report(self, room: Room) -> list[AttendanceEvent]:
        """Join/leave events the provider can report for the room (may be empty)."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AttendanceEvent]:
        """Join/leave events from one webhook call; raises
        :class:`munivideo.errors.ContractViolationError` on a payload it cannot read."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """A delivery channel for invitations (SMTP, webhook, file outbox, ...)."""

    name: str

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one message. Raises :class:`munivideo.errors.TransientError` to be retried."""
        ...


Settings = Mapping[str, Any]
ErpAdapterFactory = Callable[[Tenant, Settings], ErpAdapter]
VideoProviderFactory = Callable[[Tenant, Settings], VideoProvider]
NotifierFactory = Callable[[Tenant, Settings], Notifier]
