"""The .ics file parsed back by the icalendar library, and the MIME part that carries it."""

from __future__ import annotations

import email
from datetime import UTC, timedelta

from icalendar import Calendar

from munivideo.file_notifier import build_email
from munivideo.invitations import booking_uid, invitation_messages, render_invitation
from munivideo.models import (
    Booking,
    BookingStatus,
    Channel,
    Invitation,
    InvitationMethod,
    Service,
    Tenant,
)

from .conftest import make_link, make_room


def invite(
    tenant: Tenant, booking: Booking, service: Service, method: InvitationMethod
) -> Invitation:
    return render_invitation(
        tenant, booking, service, make_room(booking), make_link(booking), method
    )


def event_of(inv: Invitation) -> tuple[Calendar, Calendar]:
    cal = Calendar.from_ical(inv.ics)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def test_request_calendar(tenant: Tenant, booking: Booking, service: Service) -> None:
    inv = invite(tenant, booking, service, InvitationMethod.REQUEST)
    cal, event = event_of(inv)
    assert cal["METHOD"] == "REQUEST"
    assert str(event["UID"]) == inv.uid == booking_uid("gravatai", "B-1")
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == booking.start
    assert event.decoded("DTSTART").utcoffset() == timedelta(hours=-3)
    assert event.decoded("DTEND") == booking.end
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert "DTSTART;TZID=America/Sao_Paulo:20261207T140000" in inv.ics.decode()
    assert "BEGIN:VTIMEZONE" in inv.ics.decode()
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:atendimento@gravatai.invalid"
    assert organizer.params["CN"] == "Prefeitura de Gravataí"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:maria@example.org"
    assert attendee.params["CN"] == "Maria da Silva"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    link = make_link(booking).url
    assert str(event["URL"]) == link
    assert str(event["LOCATION"]) == link
    assert link in str(event["DESCRIPTION"])
    alarms = event.walk("VALARM")
    assert len(alarms) == 1
    assert alarms[0].decoded("TRIGGER") == timedelta(minutes=-15)


def test_uid_stable_and_sequence_rises_through_reschedule_and_cancel(
    tenant: Tenant, booking: Booking, service: Service
) -> None:
    first = invite(tenant, booking, service, InvitationMethod.REQUEST)
    moved = booking.reschedule(
        booking.start + timedelta(days=1), booking.end + timedelta(days=1), at=booking.updated_at
    )
    second = invite(tenant, moved, service, InvitationMethod.REQUEST)
    cancelled_booking = moved.transition(BookingStatus.CANCELLED)
    third = invite(tenant, cancelled_booking, service, InvitationMethod.CANCEL)

    events = [event_of(i)[1] for i in (first, second, third)]
    assert len({str(e["UID"]) for e in events}) == 1
    sequences = [int(e["SEQUENCE"]) for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert events[1].decoded("DTSTART") == (booking.start + timedelta(days=1)).astimezone(UTC)

    cal, cancel = event_of(third)
    assert cal["METHOD"] == "CANCEL"
    assert cancel["STATUS"] == "CANCELLED"
    assert str(cancel["ORGANIZER"]) == str(events[0]["ORGANIZER"])
    assert not cancel.walk("VALARM")


def test_other_tenant_gets_another_uid() -> None:
    assert booking_uid("gravatai", "B-1") != booking_uid("canoas", "B-1")
    assert booking_uid("gravatai", "B-1") == booking_uid("gravatai", "B-1")


def test_messages_and_mime_method_match_calendar(
    tenant: Tenant, booking: Booking, service: Service
) -> None:
    for method in InvitationMethod:
        inv = invite(tenant, booking, service, method)
        messages = invitation_messages(inv, booking)
        assert [m.channel for m in messages] == [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP]
        keys = {m.idempotency_key for m in messages}
        assert keys == {
            f"gravatai:B-1:invitation:0:{method.value}:citizen:{c}"
            for c in ("email", "sms", "whatsapp")
        }
        mail = email.message_from_bytes(build_email(messages[0], sender="a@b.org").as_bytes())
        parts = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
        assert len(parts) == 1
        assert parts[0].get_param("method") == method.value
        assert Calendar.from_ical(parts[0].get_payload(decode=True))["METHOD"] == method.value


def test_messages_skip_missing_addresses(
    tenant: Tenant, booking: Booking, service: Service
) -> None:
    citizen = booking.citizen.model_copy(update={"email": None, "phone": None})
    bare = booking.model_copy(update={"citizen": citizen})
    inv = invite(tenant, bare, service, InvitationMethod.REQUEST)
    assert invitation_messages(inv, bare) == []


def test_organizer_and_reminder_options(tenant: Tenant, booking: Booking, service: Service) -> None:
    inv = render_invitation(
        tenant,
        booking,
        service,
        make_room(booking),
        make_link(booking),
        InvitationMethod.REQUEST,
        organizer_email="atendimento@gravatai.rs.gov.br",
        reminder_minutes=60,
    )
    _, event = event_of(inv)
    assert str(event["ORGANIZER"]) == "mailto:atendimento@gravatai.rs.gov.br"
    assert event.walk("VALARM")[0].decoded("TRIGGER") == timedelta(minutes=-60)
