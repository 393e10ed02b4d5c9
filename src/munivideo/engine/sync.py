"""Sync: pull changed bookings from the ERP and make rooms, links and invitations follow them.

At-least-once by design: a page's bookings are bound (durably) before the cursor moves past them,
and every side effect is idempotent (room per booking, link fingerprint, invitation keyed by
UID + SEQUENCE + method + role + channel), so re-reading a page repeats nothing. A booking whose
side effects failed transiently stays "dirty" (empty fingerprint) and is retried by the next sync
from its stored copy; the cursor does not wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from munivideo.engine import invite
from munivideo.engine.context import Engine
from munivideo.engine.keys import booking_fingerprint, short_hash
from munivideo.engine.results import SyncResult
from munivideo.errors import InvalidRecordError, MunivideoError, RejectedError, TransientError
from munivideo.invitations import booking_uid
from munivideo.models import (
    Booking,
    BookingStatus,
    Cursor,
    InvitationMethod,
    Participant,
    Role,
)
from munivideo.store.records import Binding, QuarantineKind

log = logging.getLogger("munivideo.engine.sync")

_INVITED = {BookingStatus.CONFIRMED, BookingStatus.RESCHEDULED}

Progress = Callable[[int], None]


def sync(
    engine: Engine,
    *,
    page_size: int = 100,
    max_pages: int | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Pull every booking changed since the tenant's cursor; returns what was done."""
    result = SyncResult(tenant_id=engine.tenant_id)
    for binding in engine.store.dirty_bindings(engine.tenant_id):
        _process(engine, binding.booking, result, retry=True)
    cursor = engine.store.get_cursor(engine.tenant_id)
    while max_pages is None or result.pages < max_pages:
        page = engine.erp.list_bookings(cursor, page_size)
        result.pages += 1
        for rejected in page.rejected:
            engine.quarantine(
                QuarantineKind.BOOKING,
                rejected.record_id,
                InvalidRecordError(
                    rejected.reason, record_id=rejected.record_id, field=rejected.field
                ),
                rejected.raw,
            )
            result.quarantined += 1
        result.received += len(page.bookings)
        _page(engine, list(page.bookings), result)
        nxt = page.next_cursor
        if nxt is None and page.bookings:
            last = page.bookings[-1]
            nxt = Cursor(updated_at=last.updated_at, id=last.id)
        if nxt is not None and nxt != cursor:
            # Only now: every booking of the page is bound (or quarantined) durably.
            engine.store.set_cursor(engine.tenant_id, nxt, now=engine.now())
            cursor = nxt
        if progress is not None:
            progress(len(page.bookings) + len(page.rejected))
        if not page.has_more:
            break
    result.cursor = cursor
    return result


def _admit(engine: Engine, booking: Booking, result: SyncResult, *, retry: bool) -> Booking | None:
    """Checks and the ``booking_received`` hook; a refused booking is quarantined (None)."""
    tenant = engine.config.tenant
    try:
        if booking.tenant_id != tenant.id:
            raise InvalidRecordError(
                f"booking belongs to tenant {booking.tenant_id}, not {tenant.id}",
                record_id=booking.id,
                field="tenant_id",
            )
        if not retry:
            booking = engine.plugins.booking_received(tenant, booking)
        if engine.config.services and engine.config.service(booking.service_code) is None:
            raise InvalidRecordError(
                f"service {booking.service_code!r} is not configured for this tenant",
                record_id=booking.id,
                field="service_code",
            )
    except RejectedError as exc:  # VetoedError and InvalidRecordError are RejectedErrors
        engine.quarantine(QuarantineKind.BOOKING, booking.id, exc, booking.model_dump_json())
        result.quarantined += 1
        return None
    return booking


def _needs_effects(booking: Booking, previous: Binding | None) -> bool:
    if booking.status in _INVITED:
        return True
    if booking.status is BookingStatus.CANCELLED and previous is not None:
        return (previous.room is not None and not previous.room.closed) or (
            previous.invitation_sequence >= 0 and previous.invitation_method != "CANCEL"
        )
    return False


def _page(engine: Engine, bookings: list[Booking], result: SyncResult) -> None:
    """One page: bookings that only need binding are bound in one transaction; the others go
    through :func:`_process` one by one (room, link, invitation)."""
    tenant_id = engine.tenant_id
    admitted = [b for b in (_admit(engine, b, result, retry=False) for b in bookings) if b]
    existing = engine.store.get_bindings(tenant_id, [b.id for b in admitted])
    now = engine.now()
    plain: list[Binding] = []
    for booking in admitted:
        previous = existing.get(booking.id)
        fingerprint = booking_fingerprint(booking)
        if previous is not None and previous.fingerprint == fingerprint:
            result.unchanged += 1
        elif _needs_effects(booking, previous):
            _process(engine, booking, result, retry=False, admitted=True, previous=previous)
        else:
            result.bound += previous is None
            plain.append(
                previous.model_copy(
                    update={"booking": booking, "fingerprint": fingerprint, "updated_at": now}
                )
                if previous is not None
                else Binding(
                    tenant_id=tenant_id,
                    booking_id=booking.id,
                    booking=booking,
                    fingerprint=fingerprint,
                    invitation_uid=booking_uid(tenant_id, booking.id),
                    created_at=now,
                    updated_at=now,
                )
            )
    if plain:
        engine.store.save_bindings(plain, now=now)


def _process(
    engine: Engine,
    booking: Booking,
    result: SyncResult,
    *,
    retry: bool,
    admitted: bool = False,
    previous: Binding | None = None,
) -> None:
    tenant = engine.config.tenant
    store = engine.store
    raw = booking.model_dump_json()
    if not admitted:
        checked = _admit(engine, booking, result, retry=retry)
        if checked is None:
            return
        booking = checked
        previous = store.get_binding(tenant.id, booking.id)

    fingerprint = booking_fingerprint(booking)
    now = engine.now()
    if previous is not None and previous.fingerprint == fingerprint and not retry:
        result.unchanged += 1
        return
    binding = (
        previous.model_copy(update={"booking": booking, "fingerprint": "", "updated_at": now})
        if previous is not None
        else Binding(
            tenant_id=tenant.id,
            booking_id=booking.id,
            booking=booking,
            fingerprint="",
            invitation_uid=booking_uid(tenant.id, booking.id),
            created_at=now,
            updated_at=now,
        )
    )
    result.bound += previous is None
    # Side effects update ``done[0]`` as they succeed. A crash before the final save re-reads
    # the page (the cursor has not moved) and every effect is idempotent; a transient failure
    # saves what was done, dirty, for the next sync to finish.
    done = [binding]
    try:
        binding = _follow(engine, done, previous.booking if previous else None, result)
    except TransientError as exc:
        log.warning("booking %s deferred: %s", booking.id, exc)
        store.save_binding(done[0].model_copy(update={"fingerprint": ""}))
        result.deferred += 1
        result.errors.append(str(exc))
        return
    except (RejectedError, ValidationError) as exc:
        error = exc if isinstance(exc, MunivideoError) else _invalid(booking.id, exc)
        engine.quarantine(QuarantineKind.BOOKING, booking.id, error, raw)
        result.quarantined += 1
        return
    store.save_binding(binding.model_copy(update={"fingerprint": fingerprint}))
    store.resolve_quarantine(tenant.id, QuarantineKind.BOOKING, booking.id, now=engine.now())


def _invalid(record_id: str, exc: ValidationError) -> InvalidRecordError:
    first = exc.errors()[0]
    return InvalidRecordError(
        first["msg"], record_id=record_id, field=".".join(str(p) for p in first["loc"])
    )


def _follow(
    engine: Engine, done: list[Binding], before: Booking | None, result: SyncResult
) -> Binding:
    """Make the room, the ERP's room link and the invitation match the booking."""
    binding = done[0]
    booking = binding.booking
    tenant = engine.config.tenant
    if booking.status is BookingStatus.CANCELLED:
        if binding.room is not None and not binding.room.closed:
            room = engine.video.close_room(binding.room)
            binding = binding.model_copy(update={"room": room})
            done[0] = binding
            result.rooms_closed += 1
        if binding.invitation_sequence >= 0 and binding.invitation_method != "CANCEL":
            sequence = max(booking.sequence, binding.invitation_sequence + 1)
            done[0] = binding
            binding = _invite(engine, done, InvitationMethod.CANCEL, sequence, result)
            result.cancellations_sent += 1
        return binding
    if booking.status not in _INVITED:
        return binding  # requested (no servant yet) or finished: bound, nothing to send

    existing = binding.room
    if existing is None or existing.closed:
        room = engine.video.create_room(booking)
        room = engine.plugins.room_created(tenant, booking, room)
        engine.crash.hit("after_room")
        result.rooms_created += 1
    elif before is not None and (before.start, before.end) != (booking.start, booking.end):
        room = engine.video.update_room(existing, booking)
        room = engine.plugins.room_created(tenant, booking, room)
        result.rooms_updated += 1
    else:
        room = existing
    if room != binding.room:
        binding = binding.model_copy(update={"room": room})
        done[0] = binding

    if booking.servant is not None:
        servant = Participant(
            id=booking.servant.registration,
            name=booking.servant.name,
            email=booking.servant.email,
            role=Role.SERVANT,
        )
        link = engine.video.join_link(room, servant)
        link_key = short_hash(room.name, room.valid_until.isoformat(), servant.id)
        if binding.room_link_recorded != link_key:
            engine.erp.record_room_link(booking.id, link.url, link.expires_at)
            binding = binding.model_copy(update={"room_link_recorded": link_key})
            done[0] = binding
            result.links_recorded += 1

    content = short_hash(
        booking.start.isoformat(),
        booking.end.isoformat(),
        room.name,
        booking.servant.registration if booking.servant else "",
    )
    if binding.invitation_key != content or binding.invitation_method != "REQUEST":
        sequence = booking.sequence
        if binding.invitation_sequence >= sequence:
            sequence = binding.invitation_sequence + 1  # content changed, ERP did not bump
        done[0] = binding
        binding = _invite(engine, done, InvitationMethod.REQUEST, sequence, result, content=content)
    return binding


def _invite(
    engine: Engine,
    done: list[Binding],
    method: InvitationMethod,
    sequence: int,
    result: SyncResult,
    *,
    content: str = "",
) -> Binding:
    binding = done[0]
    booking = binding.booking
    room = binding.room
    assert room is not None or method is InvitationMethod.CANCEL
    roles = [Role.CITIZEN] + ([Role.SERVANT] if booking.servant is not None else [])
    uid = binding.invitation_uid
    sent_any = False
    for role in roles:
        link = None
        if room is not None and method is InvitationMethod.REQUEST:
            if role is Role.CITIZEN:
                who = Participant(
                    id=f"citizen-{booking.id}",
                    name=booking.citizen.name,
                    email=booking.citizen.email,
                    role=Role.CITIZEN,
                )
            else:
                assert booking.servant is not None
                who = Participant(
                    id=booking.servant.registration,
                    name=booking.servant.name,
                    email=booking.servant.email,
                    role=Role.SERVANT,
                )
            link = engine.video.join_link(room, who)
        if room is None:
            continue  # never had a room: nobody was invited
        invitation = invite.render(
            engine, booking, room, link, role=role, uid=uid, sequence=sequence, method=method
        )
        for message in invite.messages(engine, booking, invitation, role):
            for notifier in engine.notifiers:
                key = f"{message.idempotency_key}:{notifier.name}"
                if engine.store.was_sent(engine.tenant_id, key):
                    continue
                receipt = notifier.send(message)
                engine.crash.hit("after_send")
                engine.store.mark_sent(
                    engine.tenant_id, booking.id, key, receipt.reference, now=engine.now()
                )
                result.messages_sent += 1
                sent_any = True
    if sent_any and method is InvitationMethod.REQUEST:
        result.invitations_sent += 1
    binding = binding.model_copy(
        update={
            "invitation_uid": uid,
            "invitation_sequence": sequence,
            "invitation_method": method.value,
            "invitation_key": content or binding.invitation_key,
        }
    )
    done[0] = binding
    return binding
