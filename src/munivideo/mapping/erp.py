"""The mappers every ERP adapter needs, built from one dialect (bookings in, protocols out).

Record kinds a dialect declares (``[[records.<kind>.fields]]``):

* ``booking``: ERP booking -> :class:`~munivideo.models.Booking` (``tenant_id`` comes from us)
* ``cursor``: :class:`~munivideo.models.Cursor` <-> the ERP's cursor (when it is not opaque)
* ``protocol``: :class:`~munivideo.models.ProtocolEntry` -> ERP new protocol
* ``receipt``: ERP protocol -> :class:`~munivideo.models.ProtocolReceipt`
* ``document``: :class:`~munivideo.models.VerifiedDocument` -> ERP attachment
* ``forward``: :class:`~munivideo.models.ForwardedDemand` -> ERP routing step
* ``room``: :class:`RoomLink` -> ERP room link
* ``status``: :class:`StatusChange` -> ERP status update body
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    InvalidRecordError,
    RejectedError,
)
from munivideo.mapping.dialect import UNKNOWN, Dialect, load_dialect
from munivideo.mapping.documents import join_document, split_document
from munivideo.mapping.mapper import Mapper, _Table
from munivideo.models import (
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    RejectedRecord,
    VerifiedDocument,
)
from munivideo.redact import redact
from munivideo.values import UtcDatetime


class RoomLink(BaseModel):
    """The body of "record the room link" (``records.room``): the servant's join ``url``
    (a credential: it lets its holder in as the servant) and when it stops working
    (``valid_until``, UTC: the end of the room window)."""

    model_config = ConfigDict(frozen=True)

    url: str
    valid_until: UtcDatetime


class StatusChange(BaseModel):
    """The body of a booking status update (``records.status``): the status and a note."""

    model_config = ConfigDict(frozen=True)

    booking_id: str
    status: BookingStatus
    note: str | None = None


class ErpMappers:
    """All mappers of one dialect, built once per adapter."""

    def __init__(self, dialect: Dialect, timezone: str | None = None) -> None:
        self.dialect = dialect
        self.booking = Mapper(
            dialect,
            "booking",
            Booking,
            functions_in=[split_document("citizen")],
            prepare_out=[join_document("citizen")],
            aliases={"citizen.cpf": "citizen.document", "citizen.cnpj": "citizen.document"},
            timezone=timezone,
        )
        self.protocol = Mapper(
            dialect,
            "protocol",
            ProtocolEntry,
            functions_in=[split_document("applicant")],
            prepare_out=[join_document("applicant")],
            aliases={"applicant.cpf": "applicant.document", "applicant.cnpj": "applicant.document"},
            timezone=timezone,
        )
        self.receipt = Mapper(dialect, "receipt", ProtocolReceipt, timezone=timezone)
        self.document = Mapper(dialect, "document", VerifiedDocument, timezone=timezone)
        self.forward = Mapper(dialect, "forward", ForwardedDemand, timezone=timezone)
        self.room = Mapper(dialect, "room", RoomLink, timezone=timezone)
        self.cursor = (
            Mapper(dialect, "cursor", Cursor, timezone=timezone)
            if "cursor" in dialect.records
            else None
        )
        self.status = (
            Mapper(dialect, "status", StatusChange, timezone=timezone)
            if "status" in dialect.records
            else None
        )
        self._statuses = _Table("statuses", dialect.tables["statuses"])

    @classmethod
    def from_file(cls, path: Path | str, timezone: str | None = None) -> ErpMappers:
        """The mappers of a mapping file, shared by every tenant using the same file version
        and zone (they are read-only): parsing TOML costs more than building a tenant's
        services. ``timezone``: the tenant's, for naive ERP times when the file names none."""
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
        except OSError:
            return cls(load_dialect(resolved), timezone)  # load_dialect reports the error
        return _cached_mappers(str(resolved), stat.st_mtime_ns, stat.st_size, timezone)

    def protocol_record(
        self, doc: Mapping[str, Any], attachments: Any, routing: Any
    ) -> ProtocolRecord:
        """An ERP protocol with its attachment and routing lists as a
        :class:`~munivideo.models.ProtocolRecord` (the ``receipt``, ``document`` and
        ``forward`` records read back). Raises :class:`ContractViolationError` when a list is
        missing: without it nobody can tell what landed."""
        receipt = self.receipt.to_canonical(doc)
        for name, value in (("attachments", attachments), ("routing", routing)):
            if not isinstance(value, list):
                raise ContractViolationError(
                    f"the ERP's protocol carries no {name} list",
                    record_id=receipt.external_reference,
                    field=name,
                )
        return ProtocolRecord(
            receipt=receipt,
            documents=tuple(self.document.to_canonical(a) for a in attachments),
            forwards=tuple(self.forward.to_canonical(f) for f in routing),
        )

    def updated_at_of(self, record: Mapping[str, Any]) -> datetime | None:
        """The booking's ``updated_at`` read with the dialect's own converter, or None."""
        if not isinstance(record, Mapping):
            return None
        try:
            value = self.booking.to_canonical_dict(record).get("updated_at")
        except Exception:  # noqa: BLE001 - a bad record has no usable time; it is rejected later
            return None
        return value if isinstance(value, datetime) else None

    def status_to_erp(self, booking_id: str, status: BookingStatus) -> str:
        """The ERP's code for ``status``, from the mapping's ``[tables.statuses]``.

        :raises munivideo.errors.RejectedError: the table has no code for it (field
            ``status``, record ``booking_id``): the ERP cannot take this status.
        """
        code = self._statuses.to_erp(status.value)
        if code == UNKNOWN:
            raise RejectedError(
                f"the ERP has no status code for {status.value!r}",
                record_id=booking_id,
                field="status",
            )
        return code

    def status_body(self, booking_id: str, status: BookingStatus, note: str) -> dict[str, Any]:
        """The ERP body of a status update, mapped by ``records.status``.

        :raises ConfigurationError: when the mapping has no ``records.status``.
        :raises RejectedError: when the ERP has no code for ``status``.
        """
        self.status_to_erp(booking_id, status)
        if self.status is None:
            raise ConfigurationError(
                f"mapping {self.dialect.name}: no [records.status]", field="records.status"
            )
        change = StatusChange(booking_id=booking_id, status=status, note=note or None)
        return self.status.to_erp(change)

    def bookings_page(
        self,
        records: list[Mapping[str, Any]],
        tenant_id: str,
        *,
        next_cursor: Cursor | None,
        has_more: bool,
    ) -> BookingPage:
        """Map a page; records that fail are returned in ``rejected``, never dropped."""
        bookings: list[Booking] = []
        rejected: list[RejectedRecord] = []
        extra = {"tenant_id": tenant_id}
        for record in records:
            if not isinstance(record, Mapping):
                # A null, a list or a scalar where a record should be: no id to read.
                rejected.append(
                    RejectedRecord(
                        record_id="?",
                        field=None,
                        reason=f"a page item is a {type(record).__name__}, not a record",
                        raw=redact(repr(record))[:4000],
                    )
                )
                continue
            try:
                bookings.append(self.booking.to_canonical(record, extra))
            except Exception as exc:  # noqa: BLE001 - one bad record never fails the page
                error = exc if isinstance(exc, InvalidRecordError) else None
                rejected.append(
                    RejectedRecord(
                        record_id=(error.record_id if error else None)
                        or self.booking.record_id(record),
                        field=error.field if error else None,
                        reason=error.message if error else f"{type(exc).__name__}: {exc}"[:300],
                        raw=redact(repr(dict(record)))[:4000],
                    )
                )
        return BookingPage(
            bookings=tuple(bookings),
            rejected=tuple(rejected),
            next_cursor=next_cursor,
            has_more=has_more,
        )


@functools.lru_cache(maxsize=64)
def _cached_mappers(path: str, mtime_ns: int, size: int, timezone: str | None) -> ErpMappers:
    return ErpMappers(load_dialect(path), timezone)
