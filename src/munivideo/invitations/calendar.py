"""The iCalendar (RFC 5545 / iTIP RFC 5546) file attached to every invitation.

What calendar clients check, and what Cal.com users keep filing bugs about:

* one UID per booking for its whole life (derived from tenant + booking id, never random), so a
  reschedule updates the event and a cancel removes it instead of adding a second one;
* SEQUENCE goes up on every change (we use ``booking.sequence``);
* METHOD lives in VCALENDAR and must equal the MIME ``text/calendar; method=...`` parameter;
* a cancel is METHOD:CANCEL + STATUS:CANCELLED + same UID + higher SEQUENCE + same ORGANIZER,
  which is why the organizer is the tenant's address, not the (changeable) servant's;
* times in UTC, so no VTIMEZONE is needed and no client shifts the slot by an hour.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from munivideo.models import Booking, InvitationMethod, Tenant
from munivideo.values import utcnow

PRODID = "-//munivideo//video attendance//EN"
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://munivideo.invalid/calendar-uid")


def booking_uid(tenant_id: str, booking_id: str) -> str:
    """The calendar UID of a booking: the same for its whole life, different across tenants."""
    return f"{uuid.uuid5(_UID_NAMESPACE, f'{tenant_id}/{booking_id}')}@munivideo"


def organizer_address(tenant: Tenant, organizer_email: str | None) -> str:
    return organizer_email or f"atendimento@{tenant.id.lower()}.invalid"


def build_ics(
    *,
    tenant: Tenant,
    booking: Booking,
    method: InvitationMethod,
    summary: str,
    description: str,
    join_url: str,
    organizer_email: str | None = None,
    reminder_minutes: int = 15,
    stamp: datetime | None = None,
) -> bytes:
    """The calendar file (UTF-8 bytes, CRLF lines) for one invitation."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method.value)

    event = Event()
    event.add("uid", booking_uid(tenant.id, booking.id))
    event.add("sequence", booking.sequence)
    event.add("dtstamp", stamp or utcnow())
    event.add("dtstart", booking.start)
    event.add("dtend", booking.end)
    event.add("summary", summary)
    event.add("description", f"{description}\n\n{join_url}")
    event.add("location", join_url)
    event.add("url", join_url)
    cancelled = method is InvitationMethod.CANCEL
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")

    organizer = vCalAddress(f"mailto:{organizer_address(tenant, organizer_email)}")
    organizer.params["cn"] = vText(tenant.name)
    event.add("organizer", organizer)
    if booking.citizen.email is not None:
        attendee = vCalAddress(f"mailto:{booking.citizen.email}")
        attendee.params["cn"] = vText(booking.citizen.name)
        attendee.params["cutype"] = vText("INDIVIDUAL")
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("FALSE")
        event.add("attendee", attendee)

    if not cancelled and reminder_minutes > 0:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", timedelta(minutes=-reminder_minutes))
        event.add_component(alarm)

    cal.add_component(event)
    data: bytes = cal.to_ical()
    return data
