"""One ERP port from configuration: a single adapter, or bookings read from one system and
protocols written to another (``[erp.bookings]`` + ``[erp.protocols]``), composed here so no
integrator writes a composite adapter by hand."""

from __future__ import annotations

from datetime import datetime

from munivideo.config import ErpConfig, ErpSource
from munivideo.errors import ConfigurationError
from munivideo.models import (
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    Tenant,
    VerifiedDocument,
)
from munivideo.plugins import Plugins
from munivideo.ports import ErpAdapter


class SplitErp:
    """:class:`~munivideo.ports.ErpAdapter` over two systems: booking operations (list, get,
    status, room link) go to ``bookings``, protocol operations (create, lookup, read, attach,
    forward) to ``protocols``, whose capabilities are the write-back's."""

    def __init__(self, bookings: ErpAdapter, protocols: ErpAdapter) -> None:
        self.bookings = bookings
        self.protocols = protocols
        self.name = f"{bookings.name}+{protocols.name}"
        self.capabilities = protocols.capabilities

    def __repr__(self) -> str:
        return f"SplitErp(bookings={self.bookings!r}, protocols={self.protocols!r})"

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        """Bookings changed after ``cursor``, from the bookings system."""
        return self.bookings.list_bookings(cursor, limit)

    def get_booking(self, booking_id: str) -> Booking:
        """One booking, from the bookings system."""
        return self.bookings.get_booking(booking_id)

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        """Set a booking's status in the bookings system."""
        self.bookings.update_booking_status(booking_id, status, note)

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        """Store the servant's room link on the booking, in the bookings system."""
        self.bookings.record_room_link(booking_id, url, valid_until)

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        """The booking's current status in the bookings system (a probe)."""
        return self.bookings.read_booking_status(booking_id)

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        """Create the protocol entry in the protocols system."""
        return self.protocols.create_protocol(entry, idempotency_key)

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        """Look a protocol up by external reference in the protocols system (a probe)."""
        return self.protocols.find_protocol(external_reference)

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        """The protocol with its attachments and routing, from the protocols system."""
        return self.protocols.read_protocol(receipt)

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        """Attach a verified document in the protocols system."""
        self.protocols.attach_document(receipt, document, idempotency_key)

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        """Forward the protocol to a department in the protocols system."""
        self.protocols.forward_protocol(receipt, demand, idempotency_key)

    def close(self) -> None:
        """Release both systems' connections (the protocols one even if the first fails)."""
        try:
            self.bookings.close()
        finally:
            self.protocols.close()


def build_source(
    plugins: Plugins, tenant: Tenant, source: ErpSource, section: str = "erp"
) -> ErpAdapter:
    """The adapter one source names, built by its registered factory; errors name the
    source's own section (``erp.bookings.settings.base_url``).

    :param section: the source's section in the tenant file (``erp``, ``erp.bookings`` or
        ``erp.protocols``), put in front of the factory's field names.
    :raises munivideo.errors.ConfigurationError: an unknown adapter
        (:class:`munivideo.errors.PluginError`) or settings its factory refuses.
    """
    try:
        return plugins.erp_adapter(source.adapter)(tenant, source.settings)
    except ConfigurationError as exc:
        if section == "erp" or exc.field is None or not exc.field.startswith("erp."):
            raise
        raise ConfigurationError(
            exc.message, record_id=exc.record_id, field=section + exc.field[3:]
        ) from None


def build_erp(plugins: Plugins, tenant: Tenant, config: ErpConfig) -> ErpAdapter:
    """The ERP port of ``[erp]``: one adapter, or a :class:`SplitErp` over two.

    :raises ConfigurationError: from the adapters' factories (unknown adapter, bad settings).
    """
    bookings, protocols = config.sources()
    if bookings == protocols:
        return build_source(plugins, tenant, bookings)
    first = build_source(plugins, tenant, bookings, "erp.bookings")
    try:
        second = build_source(plugins, tenant, protocols, "erp.protocols")
    except BaseException:
        first.close()
        raise
    return SplitErp(first, second)
