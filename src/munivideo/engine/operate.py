"""What an operator does to the outbox and the quarantine, with an audit trail.

The console's buttons and the ``munivideo outbox`` / ``munivideo quarantine`` commands call
these, so a web action and a command leave the same trace:

* :func:`mark_done_elsewhere`: a person did the write-back in the ERP by hand; the row becomes
  ``delivered`` with the protocol number they found, never without one;
* :func:`readmit`: a quarantined record is re-processed (a booking is fetched again from the ERP
  by its id, so a fixed mapping takes it; an attendance is recorded again from its kept raw
  payload; a webhook event for a booking unknown then is kept once the booking is known) and
  its quarantine entry resolved when it goes through.

Replay of dead letters is :func:`munivideo.engine.replay`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, ValidationError

from munivideo.engine.context import Engine
from munivideo.engine.record import ingest_events, record
from munivideo.engine.sync import sync_bookings
from munivideo.errors import InvalidRecordError, LifecycleError, MunivideoError, NotFoundError
from munivideo.models import AttendanceEvent, Booking, OutcomeForm, ProtocolReceipt
from munivideo.store.records import OutboxItem, QuarantineItem, QuarantineKind
from munivideo.store.states import OutboxState

AGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
"""The outbox's age filter (console and ``munivideo outbox list --older-than``): rows created
longer ago than this."""


class OutboxPage(BaseModel):
    """One page of outbox rows; ``next_after`` is the ``after`` of the next page (None: last)."""

    items: list[OutboxItem]
    next_after: int | None = None


def outbox_page(
    engine: Engine,
    *,
    state: OutboxState | None = None,
    older_than: timedelta | None = None,
    after: int | None = None,
    size: int = 50,
) -> OutboxPage:
    """One keyset page of the tenant's rows by ascending id (oldest first), filtered by state
    and age. Ids grow with creation time, so "older than" is a prefix of that order: the page
    ends at the first row that is too young."""
    rows = engine.store.list_items(engine.tenant_id, state=state, limit=size + 1, after=after)
    if older_than is not None:
        cutoff = engine.now() - older_than
        young = next((i for i, r in enumerate(rows) if r.created_at > cutoff), None)
        if young is not None:
            return OutboxPage(items=rows[:young])
    items = rows[:size]
    return OutboxPage(items=items, next_after=items[-1].id if len(rows) > size else None)


class ReadmitResult(BaseModel):
    """What a re-admission did: ``admitted`` False means the record is still quarantined
    (``reason`` says why)."""

    tenant_id: str
    quarantine_id: int
    kind: QuarantineKind
    record_id: str
    admitted: bool = False
    source: str = ""  #: "erp" (fetched again) or "raw" (the kept payload)
    outbox_id: int | None = None
    reason: str = ""
    actions: list[str] = Field(default_factory=list)


def mark_done_elsewhere(
    engine: Engine,
    item_id: int,
    *,
    number: int,
    year: int,
    actor: str,
    reason: str,
    at: datetime | None = None,
) -> OutboxItem:
    """Mark a dead letter (``failed``) delivered because a person created protocol
    ``number``/``year`` in the ERP by hand. Raises :class:`LifecycleError` for other states."""
    if not reason.strip():
        raise InvalidRecordError("a reason is required", record_id=str(item_id), field="reason")
    item = engine.store.get_item(item_id)
    receipt = ProtocolReceipt(
        external_reference=item.external_reference,
        number=number,
        year=year,
        erp_id="",
        created_at=at or engine.now(),
    )
    return engine.store.mark_done_elsewhere(
        item_id,
        tenant_id=engine.tenant_id,
        actor=actor,
        reason=reason.strip(),
        receipt=receipt,
        now=engine.now(),
    )


def find_quarantined(engine: Engine, quarantine_id: int) -> QuarantineItem:
    """The tenant's quarantine entry ``quarantine_id`` (resolved or not).

    :raises munivideo.errors.NotFoundError: the tenant has no entry with that id (field
        ``id``).
    """
    for item in engine.store.list_quarantine(
        engine.tenant_id, include_resolved=True, limit=100_000
    ):
        if item.id == quarantine_id:
            return item
    raise NotFoundError(
        f"no quarantined record {quarantine_id} in tenant {engine.tenant_id}",
        record_id=str(quarantine_id),
        field="id",
    )


def readmit(engine: Engine, quarantine_id: int) -> ReadmitResult:
    """Re-process quarantined record ``quarantine_id``; see the module docstring.

    Raises :class:`LifecycleError` for an already resolved entry and for a webhook payload
    (its authentication headers are not kept: the provider must send it again).
    """
    item = find_quarantined(engine, quarantine_id)
    result = ReadmitResult(
        tenant_id=engine.tenant_id,
        quarantine_id=item.id,
        kind=item.kind,
        record_id=item.record_id,
    )
    if item.resolved_at is not None:
        raise LifecycleError(
            "this record is already resolved", record_id=item.record_id, field="resolved_at"
        )
    if item.kind is QuarantineKind.BOOKING:
        _readmit_booking(engine, item, result)
    elif item.record_id.startswith("webhook:"):
        raise LifecycleError(
            "a webhook payload cannot be re-admitted without its signature: have the video "
            "provider send it again",
            record_id=item.record_id,
            field="kind",
        )
    else:
        _readmit_attendance(engine, item, result)
    if result.admitted:
        engine.store.resolve_quarantine(
            engine.tenant_id, item.kind, item.record_id, now=engine.now()
        )
        result.actions.append("resolved")
    return result


def _readmit_booking(engine: Engine, item: QuarantineItem, result: ReadmitResult) -> None:
    try:
        booking = engine.erp.get_booking(item.record_id)
        result.source = "erp"
    except NotFoundError:
        try:  # refused after mapping (a veto, a service not configured then): the kept copy
            booking = Booking.model_validate_json(item.raw)
        except ValidationError:
            result.reason = "the ERP no longer has this booking"
            return
        result.source = "raw"
    except MunivideoError as exc:
        result.reason = str(exc)
        engine.quarantine(QuarantineKind.BOOKING, item.record_id, exc, item.raw)
        return
    synced = sync_bookings(engine, [booking])
    result.actions.append(
        f"bound {synced.bound}, rooms {synced.rooms_created}, "
        f"invitations {synced.invitations_sent}, unchanged {synced.unchanged}"
    )
    if synced.quarantined:
        result.reason = "still refused: see the quarantine entry's new reason"
        return
    result.admitted = True


def _readmit_attendance(engine: Engine, item: QuarantineItem, result: ReadmitResult) -> None:
    result.source = "raw"
    try:
        data = json.loads(item.raw)
        if isinstance(data, dict) and "event_id" in data:
            # a webhook event for a booking unknown then: keep it if the booking is known now
            event = AttendanceEvent.model_validate(data)
            events, form = [event], None
        else:
            events = [AttendanceEvent.model_validate(e) for e in data.get("events") or []]
            form = OutcomeForm.model_validate(data["form"]) if data.get("form") else None
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        result.reason = f"the kept payload is unreadable ({type(exc).__name__})"
        return
    if form is None and len(events) == 1 and "event_id" in data:
        if engine.store.get_binding(engine.tenant_id, events[0].booking_id) is None:
            result.reason = "the booking is still unknown: sync it first"
            return
        new = ingest_events(engine, events)
        result.admitted = True
        result.actions.append(f"{new} event kept")
        return
    if form is None and not events:
        result.reason = "the kept payload holds no attendance"
        return
    try:
        recorded = record(engine, events, form, booking_id=item.record_id)
    except MunivideoError as exc:
        result.reason = str(exc)
        return
    if recorded.quarantined:
        result.reason = recorded.reason
        return
    result.admitted = True
    result.outbox_id = recorded.outbox_id
    result.actions.append(f"recorded -> outbox #{recorded.outbox_id}")


__all__ = [
    "AGES",
    "OutboxPage",
    "ReadmitResult",
    "find_quarantined",
    "mark_done_elsewhere",
    "outbox_page",
    "readmit",
]
