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
    """The only code that speaks an ERP's protocol (SOAP, REST, ...).

    The contract every adapter keeps (the acceptance suite :mod:`munivideo.testing.acceptance`
    checks it against the sandbox ERP):

    * **Canonical in, canonical out.** Arguments and results are the models of
      :mod:`munivideo.models`; the adapter maps to and from the ERP's shapes and never lets an
      ERP payload through.
    * **Typed failures, by what the caller should do** (:mod:`munivideo.errors`):
      :class:`~munivideo.errors.TransientError` when the request surely did nothing (connection
      refused, 429, 503; ``retry_after`` in seconds when the ERP said);
      :class:`~munivideo.errors.AmbiguousError` when it may have been processed (read timeout,
      connection dropped after sending, 502, 504);
      :class:`~munivideo.errors.RejectedError` (or :class:`~munivideo.errors.NotFoundError`)
      when the ERP refused the data; :class:`~munivideo.errors.ContractViolationError` for an
      answer its contract does not allow; :class:`~munivideo.errors.ConfigurationError` for
      our own bad settings or credentials. Each names the record and, when known, the field.
      :mod:`munivideo.transport.classify` makes these decisions for HTTP and SOAP.
    * **Bounded calls.** Every call has a deadline (:mod:`munivideo.transport.deadline`) and
      retries only what :mod:`munivideo.transport.classify` allows in-call: never a create
      whose outcome is unknown.
    * **Writes are idempotent or keyed.** Status and room-link updates may be repeated;
      creates, attachments and forwards carry the engine's ``idempotency_key``, which the ERP
      deduplicates when :attr:`ErpCapabilities.honours_idempotency_key` is true.
    """

    name: str
    capabilities: ErpCapabilities

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        """Bookings changed after ``cursor`` in (``updated_at``, ``id``) order, at most
        ``limit`` (the ERP may serve fewer).

        :param cursor: where the last page ended; ``None`` reads from the beginning.
        :returns: the page: the bookings that mapped, the records that did not
            (``rejected``, quarantined by the engine with their reason), ``next_cursor``
            (``None``: the engine uses the last booking's (``updated_at``, ``id``)) and
            ``has_more``. A page that says ``has_more`` must move the cursor forward, or the
            sync stops with :class:`munivideo.errors.StalledSyncError`.
        """
        ...

    def get_booking(self, booking_id: str) -> Booking:
        """One booking; raises :class:`munivideo.errors.NotFoundError` if unknown."""
        ...

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        """Set the booking's status in the ERP (idempotent: the same status twice is fine).

        :param note: a short text for the ERP's history (may be empty).
        :raises munivideo.errors.RejectedError: the ERP has no code for ``status`` or refuses
            the change from the booking's current status.
        """
        ...

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        """Store the servant's join link on the booking (idempotent: the sync records it again
        only when the room or the servant changed).

        :param url: the servant's join link; a credential, never logged.
        :param valid_until: when the link stops working (UTC, the end of the room window).
        """
        ...

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        """Create the protocol entry of one attendance ("abrir protocolo").

        :param idempotency_key: the same for every attempt of this entry
            (:func:`munivideo.transport.idempotency.idempotency_key`, e.g.
            ``gravatai:AG-000001:criarProtocolo``); an ERP that honours keys answers a
            repeat with the first protocol instead of creating another.
        :returns: the receipt (number/year); the engine checks that its
            ``external_reference`` (and ``booking_id`` when echoed) are the entry's before it
            believes it.
        :raises munivideo.errors.AmbiguousError: the outcome is unknown (timeout, connection
            dropped after sending): the engine probes :meth:`find_protocol` or re-sends with
            the same key, never blindly.
        :raises munivideo.errors.RejectedError: the ERP refused the entry (a dead letter).
        """
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
        """Attach a verified document's record (name, kind, SHA-256, media type, size; the
        bytes stay with the city) to the protocol ``receipt`` names. Append-only in the ERP:
        a repeat without a key the ERP honours would attach it twice, so the engine probes
        :meth:`read_protocol` first when an earlier attempt may have landed.

        :param idempotency_key: per (booking, document hash), e.g.
            ``gravatai:AG-000001:anexarDocumento:<sha256 prefix>``.
        """
        ...

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        """Forward ("tramitar") the protocol to ``demand.department_code`` with its
        description. Like :meth:`attach_document`: keyed, probed by :meth:`read_protocol`
        before a re-send.

        :param idempotency_key: per (booking, position of the demand in the entry), e.g.
            ``gravatai:AG-000001:tramitarProtocolo:0``.
        """
        ...

    def close(self) -> None:
        """Release the adapter's connections (HTTP pools, SOAP clients). Called once, when
        the engine closes; the adapter is not used afterwards."""
        ...


@runtime_checkable
class VideoProvider(Protocol):
    """A video service that hosts rooms (Jitsi, BigBlueButton, ...)."""

    name: str

    def create_room(self, booking: Booking) -> Room:
        """Provision (or describe) a room for ``booking`` with a validity window around it
        (:func:`munivideo.models.room_window`: open a little before the slot, closed a grace
        period after). Called once per booking and again only after the room was closed (a
        new recipient): the engine stores the room at once and reuses it after a crash."""
        ...

    def update_room(self, room: Room, booking: Booking) -> Room:
        """Move the room's validity window after a reschedule; same room name. The engine then
        records the servant's new link and sends an updated invitation."""
        ...

    def close_room(self, room: Room) -> Room:
        """Close the room (cancellation, new recipient): its join links stop working as far
        as the provider can enforce it. Returns the room with ``closed`` set."""
        ...

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        """A link for one participant, with the right role (servant = moderator, citizen =
        guest), valid until the room window ends (``expires_at``, UTC). The URL is a
        credential: adapters never log it."""
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
        """Deliver one message, at most once per ``message.idempotency_key`` as far as the
        peer allows. A notifier may declare ``channels`` (the :class:`~munivideo.models.Channel`
        values it delivers; default all) and ``dedupes = True`` when its peer drops a repeated
        key (then a send interrupted by a crash is re-sent; otherwise it is held as
        unconfirmed, see :mod:`munivideo.engine.delivery`).

        :returns: the receipt, with the peer's reference for the message.
        :raises munivideo.errors.TransientError: surely not sent; retried on the next sync.
        :raises munivideo.errors.AmbiguousError: may have been sent.
        :raises munivideo.errors.RejectedError: the peer refused it (a bad address).
        """
        ...


Settings = Mapping[str, Any]
ErpAdapterFactory = Callable[[Tenant, Settings], ErpAdapter]
VideoProviderFactory = Callable[[Tenant, Settings], VideoProvider]
NotifierFactory = Callable[[Tenant, Settings], Notifier]
