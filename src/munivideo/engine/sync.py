"""Sync: pull changed bookings from the ERP and make rooms, links and invitations follow them.

At-least-once by design: a page's bookings are bound (durably) before the cursor moves past them,
and every side effect is idempotent (room per booking, link fingerprint, invitation keyed by
UID + SEQUENCE + method + role + channel), so re-reading a page repeats nothing. A booking whose
side effects failed transiently stays "dirty" (empty fingerprint) and is retried by the next sync
from its stored copy; the cursor does not wait for it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from pydantic import ValidationError

from munivideo.engine import invite
from munivideo.engine.context import Engine
from munivideo.engine.keys import booking_fingerprint, short_hash
from munivideo.engine.results import BindingSoFar, SyncResult
from munivideo.error_catalogue import coded
from munivideo.errors import (
    ConfigurationError,
    InvalidRecordError,
    MunivideoError,
    RejectedError,
    StalledSyncError,
    TransientError,
)
from munivideo.invitations import booking_uid
from munivideo.models import (
    MAX_SEQUENCE,
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    InvitationMethod,
    JoinLink,
    OutboundMessage,
    Participant,
    Role,
    Room,
)
from munivideo.store.records import Binding, QuarantineKind

log = logging.getLogger("munivideo.engine.sync")
T = TypeVar("T")

_INVITED = {BookingStatus.CONFIRMED, BookingStatus.RESCHEDULED}
_QUARANTINED = "quarantined:"  # fingerprint prefix of a binding kept for its effects

Progress = Callable[[int], None]


def sync(
    engine: Engine,
    *,
    page_size: int = 100,
    max_pages: int | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Pull every booking changed since the tenant's cursor; returns what was done.

    Reads at most ``max_pages`` pages (default: ``[sync] max_pages``); when the budget runs out
    with more to read, ``result.more`` is True and the next run goes on from the saved cursor.

    :raises StalledSyncError: the ERP's paging did not advance (same or already-seen cursor,
        or an empty page announcing more). Pages read before it keep their saved cursor.
    """
    result = SyncResult(tenant_id=engine.tenant_id)
    budget = max_pages if max_pages is not None else engine.config.sync.max_pages
    for binding in engine.store.dirty_bindings(engine.tenant_id):
        _guarded(engine, binding.booking, result, partial(_finish, engine, binding.booking, result))
    cursor = engine.store.get_cursor(engine.tenant_id)
    # Positions read in this run, by the cursor's token (an ERP's opaque cursor carries a
    # change time we derive from its records, so the token alone says where paging is).
    seen = {cursor.id} if cursor is not None else set()
    while True:
        if result.pages >= budget:
            result.more = True
            log.warning(
                "sync %s: page budget of %d reached, more to read", result.tenant_id, budget
            )
            break
        page = engine.erp.list_bookings(cursor, page_size)
        result.pages += 1
        _quarantine_rejected(engine, page, result)
        result.received += len(page.bookings)
        _page(engine, _unique(engine, list(page.bookings), result), result)
        nxt = page.next_cursor
        if nxt is None and page.bookings:
            last = page.bookings[-1]
            nxt = Cursor(updated_at=last.updated_at, id=last.id)
        advanced = nxt is not None and nxt.id not in seen
        if advanced:
            assert nxt is not None
            # Only now: every booking of the page is bound (or quarantined) durably.
            engine.store.set_cursor(engine.tenant_id, nxt, now=engine.now())
            cursor = nxt
            seen.add(nxt.id)
        if progress is not None:
            progress(len(page.bookings) + len(page.rejected))
        if not page.has_more:
            break
        if not advanced:
            result.cursor = cursor
            raise StalledSyncError(
                f"page {result.pages} says there is more but its cursor does not advance "
                f"({'none' if nxt is None else nxt.id!r} after {cursor.id if cursor else None!r})",
                field="next_cursor",
            )
    result.cursor = cursor
    return result


def _unidentified(raw: str) -> str:
    """A stable id for a record that carries none (a null item, a list): its content hash."""
    return "unidentified:" + hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]


def _quarantine_rejected(engine: Engine, page: BookingPage, result: SyncResult) -> None:
    for rejected in page.rejected:
        record_id = rejected.record_id
        if not record_id or record_id == "?":
            record_id = _unidentified(rejected.raw)
        engine.quarantine(
            QuarantineKind.BOOKING,
            record_id,
            InvalidRecordError(rejected.reason, record_id=record_id, field=rejected.field),
            rejected.raw,
        )
        result.quarantined += 1


def _unique(engine: Engine, bookings: list[Booking], result: SyncResult) -> list[Booking]:
    """Two records with one id in one page are ambiguous: which one is the booking? Both go to
    the quarantine (each with its own payload) and neither has any effect."""
    counts = Counter(b.id for b in bookings)
    if all(n == 1 for n in counts.values()):
        return bookings
    kept = []
    for booking in bookings:
        if counts[booking.id] == 1:
            kept.append(booking)
            continue
        engine.quarantine(
            QuarantineKind.BOOKING,
            booking.id,
            coded(
                InvalidRecordError,
                "sync.duplicate_id",
                record_id=booking.id,
                field="id",
                count=counts[booking.id],
            ),
            booking.model_dump_json(),
        )
        result.quarantined += 1
    return kept


def sync_bookings(engine: Engine, bookings: list[Booking]) -> SyncResult:
    """Process given bookings as if a sync page had brought them (bind, room, link,
    invitation; quarantine what is refused), without moving the cursor: how a re-admitted
    record re-enters."""
    result = SyncResult(tenant_id=engine.tenant_id, received=len(bookings))
    _page(engine, bookings, result)
    return result


def _admit(engine: Engine, booking: Booking, result: SyncResult) -> Booking | None:
    """A booking read from the ERP: the ``booking_received`` hook, then :func:`_check`; a
    refused booking is quarantined (None)."""
    tenant = engine.config.tenant
    try:
        _check_tenant(tenant.id, booking)
        booking = engine.plugins.booking_received(tenant, booking)
    except RejectedError as exc:  # VetoedError and InvalidRecordError are RejectedErrors
        engine.quarantine(QuarantineKind.BOOKING, booking.id, exc, booking.model_dump_json())
        result.quarantined += 1
        return None
    return _check(engine, booking, result)


def _check_tenant(tenant_id: str, booking: Booking) -> None:
    if booking.tenant_id != tenant_id:
        raise coded(
            InvalidRecordError,
            "sync.foreign_tenant",
            record_id=booking.id,
            field="tenant_id",
            other=booking.tenant_id,
            tenant=tenant_id,
        )


def _check(engine: Engine, booking: Booking, result: SyncResult) -> Booking | None:
    """The tenant's checks (tenant, phone policy, configured service) without the hook (a
    stored booking already went through it); a refused booking is quarantined (None)."""
    try:
        _check_tenant(engine.tenant_id, booking)
        invite.check_booking(engine, booking)  # brdata: the tenant's phone policy
        if engine.config.services and engine.config.service(booking.service_code) is None:
            raise coded(
                InvalidRecordError,
                "sync.unknown_service",
                record_id=booking.id,
                field="service_code",
                service=booking.service_code,
            )
    except RejectedError as exc:  # VetoedError and InvalidRecordError are RejectedErrors
        engine.quarantine(QuarantineKind.BOOKING, booking.id, exc, booking.model_dump_json())
        result.quarantined += 1
        return None
    return booking


# Failures that are not the record's fault: the store or the machine. They stop the run (the
# cursor has not moved past the page, so nothing is lost) instead of quarantining good records.
_INFRASTRUCTURE_MODULES = ("sqlite3", "psycopg", "psycopg2", "psycopg_pool", "sqlalchemy")


def _infrastructure(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".")[0]
    return isinstance(exc, OSError | KeyboardInterrupt) or module in _INFRASTRUCTURE_MODULES


def _unexpected(booking_id: str, exc: Exception) -> InvalidRecordError:
    """A raw failure while processing one record, as the record's error (field unknown)."""
    return InvalidRecordError(
        f"processing failed: {type(exc).__name__}: {str(exc)[:300]}", record_id=booking_id
    )


def _guarded(
    engine: Engine, booking: Booking, result: SyncResult, step: Callable[[], T]
) -> T | None:
    """Run ``step`` for one booking; a raw failure (not the store's or the machine's)
    quarantines the booking and gives None instead of stopping the run."""
    try:
        return step()
    except Exception as exc:
        if _infrastructure(exc) or isinstance(exc, TransientError):
            raise
        log.warning("booking %s: unexpected %s", booking.id, type(exc).__name__)
        engine.quarantine(
            QuarantineKind.BOOKING,
            booking.id,
            _unexpected(booking.id, exc),
            booking.model_dump_json(),
        )
        result.quarantined += 1
        return None


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
    admitted = [
        b
        for b in (_guarded(engine, b, result, partial(_admit, engine, b, result)) for b in bookings)
        if b
    ]
    existing = engine.store.get_bindings(tenant_id, [b.id for b in admitted])
    now = engine.now()
    plain: list[Binding] = []
    for booking in admitted:
        previous = existing.get(booking.id)
        fingerprint = booking_fingerprint(booking)
        if previous is not None and previous.fingerprint == fingerprint:
            result.unchanged += 1
        elif _needs_effects(booking, previous):
            _guarded(engine, booking, result, partial(_process, engine, booking, result, previous))
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


def _finish(engine: Engine, booking: Booking, result: SyncResult) -> None:
    """A dirty binding's stored booking (it went through the hook when it was read): checked
    again, then :func:`_process` completes its side effects."""
    checked = _check(engine, booking, result)
    if checked is not None:
        _process(engine, checked, result, engine.store.get_binding(engine.tenant_id, booking.id))


def _process(
    engine: Engine, booking: Booking, result: SyncResult, previous: Binding | None
) -> None:
    """Bring one admitted booking's room, link and invitation in line with it and save its
    binding (``previous``: the stored one, None for a new booking). Unchanged bookings never
    get here: :func:`_page` counts them."""
    tenant = engine.config.tenant
    store = engine.store
    raw = booking.model_dump_json()
    fingerprint = booking_fingerprint(booking)
    now = engine.now()
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
    # Side effects update ``done.binding`` as they succeed. A crash before the final save re-reads
    # the page (the cursor has not moved) and every effect is idempotent; a transient failure
    # saves what was done, dirty, for the next sync to finish.
    done = BindingSoFar(binding)
    try:
        binding = _follow(engine, done, previous.booking if previous else None, result)
    except (TransientError, ConfigurationError) as exc:
        # Transient, or our own configuration (a template): retried by the next sync from the
        # stored copy, reusing whatever was already made.
        log.warning("booking %s deferred: %s", booking.id, exc)
        store.save_binding(done.binding.model_copy(update={"fingerprint": ""}))
        result.deferred += 1
        result.errors.append(str(exc))
        return
    except Exception as exc:
        if _infrastructure(exc) or isinstance(exc, TransientError):
            raise
        if isinstance(exc, MunivideoError):
            error = exc
        elif isinstance(exc, ValidationError):
            error = _invalid(booking.id, exc)
        else:
            error = _unexpected(booking.id, exc)
        if done.binding is not binding or done.binding.room is not None:
            # Keep what was made (a room, a recorded link, sent messages) for the next try of
            # this booking; not dirty: it waits for a changed record or a readmission.
            store.save_binding(
                done.binding.model_copy(update={"fingerprint": _QUARANTINED + fingerprint})
            )
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
    engine: Engine, done: BindingSoFar, before: Booking | None, result: SyncResult
) -> Binding:
    """Make the room, the ERP's room link and the invitation match the booking."""
    binding = done.binding
    booking = binding.booking
    tenant = engine.config.tenant
    if booking.status is BookingStatus.CANCELLED:
        if binding.invitation_sequence >= 0 and binding.invitation_method != "CANCEL":
            _preflight(
                engine,
                binding,
                InvitationMethod.CANCEL,
                max(booking.sequence, binding.invitation_sequence + 1),
            )
        if binding.room is not None and not binding.room.closed:
            room = engine.video.close_room(binding.room)
            binding = binding.model_copy(update={"room": room})
            done.binding = binding
            result.rooms_closed += 1
        if binding.invitation_sequence >= 0 and binding.invitation_method != "CANCEL":
            sequence = max(booking.sequence, binding.invitation_sequence + 1)
            done.binding = binding
            binding = _invite(engine, done, InvitationMethod.CANCEL, sequence, result)
            result.cancellations_sent += 1
        return binding
    if booking.status not in _INVITED:
        return binding  # requested (no servant yet) or finished: bound, nothing to send
    content_sequence = max(booking.sequence, binding.invitation_sequence + 1)
    _preflight(engine, binding, InvitationMethod.REQUEST, content_sequence)
    # brdata (engine/invite.py): no invitation for a slot already over; a new recipient gets
    # the old one cancelled and the old room (and its links) closed first.
    if invite.slot_over(engine, booking):
        return binding
    if invite.recipient_changed(before, booking) and binding.invitation_sequence >= 0:
        assert before is not None
        binding = invite.replace_recipient(engine, done, before, result)
    existing = binding.room
    if existing is None or existing.closed:
        room = engine.video.create_room(booking)
        room = engine.plugins.room_created(tenant, booking, room)
        # Kept at once (dirty): a crash or a failure later reuses this room, never makes another.
        engine.store.save_binding(binding.model_copy(update={"room": room, "fingerprint": ""}))
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
        done.binding = binding

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
            done.binding = binding
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
        done.binding = binding
        binding = _invite(engine, done, InvitationMethod.REQUEST, sequence, result, content=content)
    return binding


_FORBIDDEN_IN_HEADERS = frozenset("\r\n\x00")


def _preflight(engine: Engine, binding: Binding, method: InvitationMethod, sequence: int) -> None:
    """Render every message this booking will get, without a real room and without sending,
    so a record that cannot be invited (a SEQUENCE past the iCalendar range, a name that breaks
    a template or a header) is refused before any room, ERP link or message exists.

    :raises InvalidRecordError: naming the record and the field.
    """
    booking = binding.booking
    if sequence > MAX_SEQUENCE:
        raise InvalidRecordError(
            f"sequence {sequence} is beyond the iCalendar SEQUENCE range (max {MAX_SEQUENCE})",
            record_id=booking.id,
            field="sequence",
        )
    room = binding.room or _provisional_room(engine, booking)
    roles = [Role.CITIZEN] + ([Role.SERVANT] if booking.servant is not None else [])
    for role in roles:
        link = None
        if method is InvitationMethod.REQUEST:
            link = JoinLink(
                booking_id=booking.id,
                participant_id=_participant(booking, role).id,
                role=role,
                url=f"{room.base_url}/{room.name}",
                expires_at=room.valid_until,
            )
        invitation = invite.render(
            engine,
            booking,
            room,
            link,
            role=role,
            uid=binding.invitation_uid,
            sequence=sequence,
            method=method,
        )
        for message in invite.messages(engine, booking, invitation, role):
            _check_message(booking.id, message)


def _provisional_room(engine: Engine, booking: Booking) -> Room:
    from munivideo.models import room_window

    valid_from, valid_until = room_window(booking, early_open_minutes=15, grace_minutes=30)
    return Room(
        booking_id=booking.id,
        provider=engine.video.name,
        name="preflight-" + "0" * 32,
        base_url="https://preflight.invalid",
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _check_message(booking_id: str, message: OutboundMessage) -> None:
    """Header fields must be one line: a CR/LF would inject headers or be refused by a
    notifier after other effects happened."""
    for name, value in (("subject", message.subject), ("to", message.to)):
        if _FORBIDDEN_IN_HEADERS.intersection(value):
            raise InvalidRecordError(
                f"the rendered {name} holds a line break or NUL (from the record's data)",
                record_id=booking_id,
                field=f"message.{name}",
            )


def _participant(booking: Booking, role: Role) -> Participant:
    if role is Role.CITIZEN:
        return Participant(
            id=f"citizen-{booking.id}",
            name=booking.citizen.name,
            email=booking.citizen.email,
            role=Role.CITIZEN,
        )
    assert booking.servant is not None
    return Participant(
        id=booking.servant.registration,
        name=booking.servant.name,
        email=booking.servant.email,
        role=Role.SERVANT,
    )


def _invite(
    engine: Engine,
    done: BindingSoFar,
    method: InvitationMethod,
    sequence: int,
    result: SyncResult,
    *,
    content: str = "",
) -> Binding:
    binding = done.binding
    booking = binding.booking
    room = binding.room
    assert room is not None or method is InvitationMethod.CANCEL
    roles = [Role.CITIZEN] + ([Role.SERVANT] if booking.servant is not None else [])
    uid = binding.invitation_uid
    sent_any = False
    for role in roles:
        link = None
        if room is not None and method is InvitationMethod.REQUEST:
            link = engine.video.join_link(room, _participant(booking, role))
        if room is None:
            continue  # never had a room: nobody was invited
        invitation = invite.render(
            engine, booking, room, link, role=role, uid=uid, sequence=sequence, method=method
        )
        outbound = invite.messages(engine, booking, invitation, role)
        sent_any = invite.deliver(engine, booking, outbound, result) or sent_any
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
    done.binding = binding
    return binding
