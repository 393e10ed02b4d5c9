from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

from icalendar import Calendar

from munivideo.engine import Engine, sync
from munivideo.errors import VetoedError
from munivideo.hookspecs import hookimpl
from munivideo.models import Booking, BookingStatus, Tenant
from munivideo.sandbox import Sandbox
from munivideo.store import QuarantineKind

from .conftest import TENANT, plugins_for_tests


def _all_calendars(outbox: Path) -> dict[str, list[Calendar]]:
    found: dict[str, list[Calendar]] = {}
    for path in sorted((outbox / TENANT / "email").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                found.setdefault(str(message["X-Munivideo-Booking"]), []).append(
                    Calendar.from_ical(part.get_payload(decode=True))
                )
    return found


def _calendars(outbox: Path, booking_id: str) -> list[Calendar]:
    return _all_calendars(outbox).get(booking_id, [])


def test_first_sync_binds_everything_and_invites_confirmed_bookings(
    engine: Engine, sb: Sandbox, tmp_path: Path
) -> None:
    result = sync(engine, page_size=7)
    assert result.pages >= 5  # 30 bookings in pages of 7
    # our own room-link writes bump bookings in the ERP: they come back later in the same run,
    # unchanged
    assert result.bound == 30
    assert result.received == 30 + result.unchanged
    assert result.quarantined == 0
    assert result.deferred == 0
    erp = {b["id"]: b for b in sb.bookings()}
    invited = [i for i, b in erp.items() if b["situacao"] in ("CF", "RM")]
    calendars = _all_calendars(tmp_path / "outbox")
    assert result.rooms_created == len(invited)
    assert result.links_recorded == len(invited)
    for booking_id in invited:
        assert erp[booking_id]["sala"]["url"].startswith("https://meet.gravatai.example.gov.br/")
        binding = engine.store.get_binding(TENANT, booking_id)
        assert binding is not None
        assert binding.room is not None
        assert binding.fingerprint != ""
        cals = calendars.get(booking_id, [])
        assert cals, booking_id
        for cal in cals:
            assert cal["method"] == "REQUEST"
            event = cal.walk("VEVENT")[0]
            assert str(event["uid"]) == binding.invitation_uid
            assert int(event["sequence"]) == binding.booking.sequence
            # citizen and servant calendars name one organizer: the configured sender
            assert str(event["organizer"]) == "mailto:atendimento@gravatai.example.gov.br"
    not_invited = set(erp) - set(invited)
    assert not_invited
    for booking_id in not_invited:
        assert booking_id not in calendars
    assert engine.store.get_cursor(TENANT) == result.cursor


def test_resync_of_unchanged_bookings_sends_nothing(engine: Engine, tmp_path: Path) -> None:
    sync(engine)
    files = sorted((tmp_path / "outbox").rglob("*"))
    again = sync(engine)
    # our own writes (the room link) bumped them in the ERP, so they come back: unchanged
    assert again.received > 0
    assert again.unchanged == again.received
    assert again.messages_sent == 0
    assert again.rooms_created == again.links_recorded == 0
    assert sorted((tmp_path / "outbox").rglob("*")) == files
    assert sync(engine).received == 0


def test_reschedule_updates_room_and_reinvites_with_same_uid_higher_sequence(
    engine: Engine, sb: Sandbox, tmp_path: Path
) -> None:
    sync(engine)
    before = engine.store.get_binding(TENANT, "AG-000001")
    assert before is not None
    assert before.booking.status is BookingStatus.CONFIRMED
    day = before.booking.start.date().isoformat()
    sb.reschedule_booking("AG-000001", day, "15:00", "15:30")
    result = sync(engine)
    assert result.rooms_updated == 1
    assert result.invitations_sent == 1
    after = engine.store.get_binding(TENANT, "AG-000001")
    assert after is not None
    assert after.booking.status is BookingStatus.RESCHEDULED
    assert after.room is not None
    assert after.room.name == before.room.name if before.room else False
    assert after.invitation_uid == before.invitation_uid
    assert after.invitation_sequence > before.invitation_sequence
    sequences = sorted(
        int(c.walk("VEVENT")[0]["sequence"]) for c in _calendars(tmp_path / "outbox", "AG-000001")
    )
    assert sequences[-1] == after.invitation_sequence
    assert sb.booking("AG-000001")["sala"]["validaAte"] != before.room.valid_until.isoformat()


def test_cancellation_closes_the_room_and_sends_cancel(
    engine: Engine, sb: Sandbox, tmp_path: Path
) -> None:
    sync(engine)
    sb.cancel_booking("AG-000002", "Cidadão desistiu.")
    result = sync(engine)
    assert result.rooms_closed == 1
    assert result.cancellations_sent == 1
    binding = engine.store.get_binding(TENANT, "AG-000002")
    assert binding is not None
    assert binding.room is not None
    assert binding.room.closed
    cancels = [c for c in _calendars(tmp_path / "outbox", "AG-000002") if c["method"] == "CANCEL"]
    assert cancels
    event = cancels[0].walk("VEVENT")[0]
    assert event["status"] == "CANCELLED"
    assert str(event["uid"]) == binding.invitation_uid
    assert int(event["sequence"]) == binding.invitation_sequence
    again = sync(engine)
    assert again.cancellations_sent == 0
    assert again.messages_sent == 0


def test_bad_bookings_are_quarantined_with_reasons(engine: Engine, sb: Sandbox) -> None:
    doc = sb.booking("AG-000003")
    doc.update(id="AG-BAD-CPF", cidadao={**doc["cidadao"], "cpfCnpj": "12345678900"})
    doc.pop("sala", None)
    sb.add_booking(doc)
    other = sb.booking("AG-000004")
    other.update(id="AG-BAD-SVC", codigoServico="ALVARA")
    other.pop("sala", None)
    sb.add_booking(other)
    result = sync(engine)
    assert result.quarantined == 2
    items = {q.record_id: q for q in engine.store.list_quarantine(TENANT)}
    assert set(items) == {"AG-BAD-CPF", "AG-BAD-SVC"}
    assert items["AG-BAD-CPF"].field is not None
    assert "cpf" in items["AG-BAD-CPF"].field.lower() or "document" in items["AG-BAD-CPF"].field
    assert items["AG-BAD-CPF"].raw  # kept for the operator
    assert items["AG-BAD-SVC"].field == "service_code"
    assert "ALVARA" in items["AG-BAD-SVC"].reason
    assert engine.store.get_binding(TENANT, "AG-BAD-SVC") is None
    assert result.bound == 30  # the good ones were not held back


class _Veto:
    @hookimpl
    def booking_received(self, tenant: Tenant, booking: Booking) -> Booking | None:
        if booking.id == "AG-000005":
            raise VetoedError("consent missing", record_id=booking.id, field="consent_recorded")
        return booking.model_copy(update={"notes": "enriched"})


def test_a_vetoed_booking_is_quarantined(sb: Sandbox, make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(sb, plugins=plugins_for_tests(("veto", _Veto())))
    result = sync(engine)
    assert result.quarantined == 1
    (item,) = engine.store.list_quarantine(TENANT)
    assert item.kind is QuarantineKind.BOOKING
    assert item.record_id == "AG-000005"
    assert item.field == "consent_recorded"
    assert item.error_type == "VetoedError"
    bound = engine.store.get_binding(TENANT, "AG-000001")
    assert bound is not None
    assert bound.booking.notes == "enriched"


def test_a_failing_notifier_defers_the_booking_and_the_next_sync_finishes_it(
    sb: Sandbox,
    make_engine,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    engine = make_engine(sb)
    blocked = tmp_path / "outbox"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the outbox folder should be")
    result = sync(engine)
    assert result.deferred > 0
    assert result.cursor is not None  # the cursor did not wait for the mailbox
    assert engine.store.dirty_bindings(TENANT)
    blocked.unlink()
    retry = sync(engine)
    assert retry.messages_sent > 0
    assert retry.deferred == 0
    assert engine.store.dirty_bindings(TENANT) == []


def test_an_outcome_stated_for_a_cancelled_booking_is_refused_not_rewritten(
    engine: Engine, sb: Sandbox
) -> None:
    from munivideo.engine import record
    from munivideo.models import OutcomeForm

    sync(engine)
    sb.cancel_booking("AG-000002", "Cidadão desistiu.")
    sync(engine)
    form = OutcomeForm(booking_id="AG-000002", servant_registration="AF-0002", outcome="attended")  # type: ignore[arg-type]
    result = record(engine, [], form)
    assert result.quarantined and result.outbox_id is None
    assert "field status" in str(result.reason) and "AG-000002" in str(result.reason)
    assert engine.store.list_items(TENANT) == []
    (item,) = [q for q in engine.store.list_quarantine(TENANT) if q.record_id == "AG-000002"]
    assert item.kind is QuarantineKind.ATTENDANCE and item.field == "status"
