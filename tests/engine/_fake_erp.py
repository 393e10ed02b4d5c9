"""An in-process ERP double for the write-back engine: every capability set, every way an answer
gets lost, and a counter of the effects it executed (not a read-back behind a unique key).

Faults are queued per operation (``create``, ``attach``, ``forward``, ``status``) and consumed
by the next call of that operation:

* ``drop_before``: the connection drops before the ERP did anything (ambiguous to the client);
* ``drop_after``: the ERP commits, then the connection drops;
* ``error_after``: the ERP commits, then answers a 5xx;
* ``late``: the client times out; the ERP commits ``late_seconds`` later (clock time);
* ``unavailable``: 503, nothing done;
* ``kill``: the ERP commits, then the worker process dies (``Killed``, a BaseException);
* ``steal``: before the ERP commits, ``on_steal`` runs (the test takes the lease away).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from munivideo.errors import AmbiguousError, NotFoundError, TransientError
from munivideo.models import (
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    VerifiedDocument,
)
from munivideo.ports import ErpCapabilities

FAULTS = ("drop_before", "drop_after", "error_after", "late", "unavailable", "kill", "steal")


class Killed(BaseException):
    """The worker process died (kill -9): nothing after this point runs."""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2031, 3, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class _Protocol:
    receipt: ProtocolReceipt
    documents: list[VerifiedDocument] = field(default_factory=list)
    forwards: list[ForwardedDemand] = field(default_factory=list)


class FakeErp:
    """:class:`munivideo.ports.ErpAdapter` in memory."""

    name = "fake"

    def __init__(
        self,
        capabilities: ErpCapabilities,
        clock: Clock,
        *,
        late_seconds: float = 5.0,
        foreign_receipts: bool = False,
        lookup_ignores_filter: bool = False,
    ) -> None:
        self.capabilities = capabilities
        self.clock = clock
        self.late_seconds = late_seconds
        self.foreign_receipts = foreign_receipts
        self.lookup_ignores_filter = lookup_ignores_filter
        self.protocols: list[_Protocol] = []
        self.status: dict[str, BookingStatus] = {}
        self.effects: Counter[tuple[str, str]] = Counter()  # (booking id, step) -> executed
        self.faults: dict[str, list[str]] = {}
        self.keys: dict[str, object] = {}
        self.in_progress: set[str] = set()
        self.late: list[tuple[datetime, Callable[[], None]]] = []
        self.on_steal: Callable[[], None] = lambda: None

    # -- plumbing ---------------------------------------------------------------------------

    def inject(self, operation: str, *faults: str) -> None:
        self.faults.setdefault(operation, []).extend(faults)

    def _tick(self) -> None:
        due = [fn for at, fn in self.late if at <= self.clock()]
        self.late = [(at, fn) for at, fn in self.late if at > self.clock()]
        for fn in due:
            fn()

    def _do(self, operation: str, key: str | None, effect: Callable[[], object]) -> object:
        """Run one write under the next queued fault for ``operation``."""
        self._tick()
        keyed = key is not None and self.capabilities.honours_idempotency_key
        if keyed and key in self.in_progress:
            raise AmbiguousError(f"{operation}: the same key is still being processed (409)")
        if keyed and key in self.keys:
            return self.keys[key]
        fault = self.faults.get(operation, [None]).pop(0) if self.faults.get(operation) else None
        if fault == "unavailable":
            raise TransientError(f"{operation}: unavailable (503)", retry_after=1)
        if fault == "drop_before":
            raise AmbiguousError(f"{operation}: the connection dropped")
        if keyed:
            assert key is not None
            self.in_progress.add(key)  # from arrival to commit, the key answers 409
        if fault == "steal":
            self.on_steal()

        def commit() -> object:
            result = effect()
            if keyed:
                assert key is not None
                self.keys[key] = result
                self.in_progress.discard(key)
            return result

        if fault == "late":
            self.late.append((self.clock() + timedelta(seconds=self.late_seconds), commit))
            raise AmbiguousError(f"{operation}: the ERP did not answer in time")
        result = commit()
        if fault == "kill":
            raise Killed(operation)
        if fault in ("drop_after", "error_after"):
            raise AmbiguousError(f"{operation}: {fault}")
        return result

    def _find(self, receipt: ProtocolReceipt) -> _Protocol:
        for p in self.protocols:
            if (p.receipt.number, p.receipt.year) == (receipt.number, receipt.year):
                return p
        raise NotFoundError("no such protocol", record_id=receipt.label, field="numero")

    # -- the port ---------------------------------------------------------------------------

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        return BookingPage(bookings=(), next_cursor=cursor, has_more=False)

    def get_booking(self, booking_id: str) -> Booking:
        raise NotFoundError("bookings are not served here", record_id=booking_id)

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        def effect() -> None:
            self.effects[(booking_id, "status")] += 1
            self.status[booking_id] = status

        self._do("status", None, effect)

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        return None

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        def effect() -> ProtocolReceipt:
            self.effects[(entry.booking_id, "create")] += 1
            receipt = ProtocolReceipt(
                external_reference=entry.external_reference,
                booking_id=entry.booking_id,
                number=len(self.protocols) + 1,
                year=2031,
                created_at=self.clock(),
            )
            self.protocols.append(_Protocol(receipt))
            return receipt

        receipt = self._do("create", idempotency_key, effect)
        assert isinstance(receipt, ProtocolReceipt)
        if self.foreign_receipts:
            return receipt.model_copy(
                update={"external_reference": "munivideo:t:OTHER", "booking_id": "OTHER"}
            )
        return receipt

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        self._tick()
        if self.lookup_ignores_filter:
            return self.protocols[-1].receipt if self.protocols else None
        for p in self.protocols:
            if p.receipt.external_reference == external_reference:
                return p.receipt
        return None

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        self._tick()
        p = self._find(receipt)
        return ProtocolRecord(
            receipt=p.receipt, documents=tuple(p.documents), forwards=tuple(p.forwards)
        )

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        self._tick()
        return self.status.get(booking_id, BookingStatus.CONFIRMED)

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        def effect() -> None:
            self.effects[(receipt.booking_id, "attach")] += 1
            self._find(receipt).documents.append(document)

        self._do("attach", idempotency_key, effect)

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        def effect() -> None:
            self.effects[(receipt.booking_id, "forward")] += 1
            self._find(receipt).forwards.append(demand)

        self._do("forward", idempotency_key, effect)

    def close(self) -> None:
        return None
