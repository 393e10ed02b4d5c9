"""The iCalendar (RFC 5545 / iTIP RFC 5546) file attached to every invitation.

What calendar clients check, and what Cal.com users keep filing bugs about:

* one UID per booking for its whole life (derived from tenant + booking id, never random), so a
  reschedule updates the event and a cancel removes it instead of adding a second one;
* SEQUENCE goes up on every change (we use ``booking.sequence``);
* METHOD lives in VCALENDAR and must equal the MIME ``text/calendar; method=...`` parameter;
* a cancel is METHOD:CANCEL + STATUS:CANCELLED + same UID + higher SEQUENCE + same ORGANIZER,
  which is why the organizer is the tenant's address, not the (changeable) servant's;
* RFC 5546 requires an ATTENDEE in a REQUEST and a CANCEL: each copy names its recipient
  (the citizen, or the servant as chair);
* DTSTAMP is when the file was rendered (not when the ERP last touched the booking);
* one PRODID for every file munivideo writes;
* times carry the tenant's zone (``DTSTART;TZID=America/Manaus``) with its VTIMEZONE, so a
  client shows the slot in the city's wall time whatever the reader's own zone.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone, vCalAddress, vText

from munivideo.models import Booking, InvitationMethod, Participant, Role, Tenant
from munivideo.values import SAO_PAULO, local, utcnow

PRODID = "-//munivideo//video attendance//EN"
"""The one PRODID of every calendar file munivideo writes."""

_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://munivideo.invalid/calendar-uid")


def booking_uid(tenant_id: str, booking_id: str) -> str:
    """The calendar UID of a booking: the same for its whole life, different across tenants."""
    return f"{uuid.uuid5(_UID_NAMESPACE, f'{tenant_id}/{booking_id}')}@munivideo"


def organizer_address(tenant: Tenant, organizer_email: str | None) -> str:
    """The ORGANIZER's address: the configured sender, else ``atendimento@<tenant>.invalid``."""
    return organizer_email or f"atendimento@{tenant.id.lower()}.invalid"


def _attendee(person: Participant) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["cn"] = vText(person.name)
    address.params["cutype"] = vText("INDIVIDUAL")
    address.params["role"] = vText("CHAIR" if person.role is Role.SERVANT else "REQ-PARTICIPANT")
    address.params["partstat"] = vText(
        "ACCEPTED" if person.role is Role.SERVANT else "NEEDS-ACTION"
    )
    address.params["rsvp"] = vText("FALSE")
    return address


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
    attendee: Participant | None = None,
    tz: ZoneInfo | None = None,
) -> bytes:
    """The calendar file (UTF-8 bytes, CRLF lines) for one invitation.

    :param attendee: the recipient named as ATTENDEE (default: the citizen, when they have an
        e-mail address); a participant without an e-mail address is left out.
    :param stamp: DTSTAMP, the time of rendering (default: now).
    :param tz: the zone DTSTART/DTEND are written in, with its VTIMEZONE (default: the
        tenant's zone).
    """
    zone = tz or (ZoneInfo(tenant.timezone) if tenant.timezone else SAO_PAULO)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method.value)

    event = Event()
    event.add("uid", booking_uid(tenant.id, booking.id))
    event.add("sequence", booking.sequence)
    event.add("dtstamp", stamp or utcnow())
    event.add("dtstart", local(booking.start, zone))
    event.add("dtend", local(booking.end, zone))
    event.add("summary", summary)
    event.add("description", f"{description}\n\n{join_url}" if join_url else description)
    if join_url:
        event.add("location", join_url)
        event.add("url", join_url)
    cancelled = method is InvitationMethod.CANCEL
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")

    organizer = vCalAddress(f"mailto:{organizer_address(tenant, organizer_email)}")
    organizer.params["cn"] = vText(tenant.name)
    event.add("organizer", organizer)
    if attendee is None and booking.citizen.email is not None:
        attendee = Participant(
            id=f"citizen-{booking.id}",
            name=booking.citizen.name,
            email=booking.citizen.email,
            role=Role.CITIZEN,
        )
    if attendee is not None and attendee.email is not None:
        event.add("attendee", _attendee(attendee))

    if not cancelled and reminder_minutes > 0:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", timedelta(minutes=-reminder_minutes))
        event.add_component(alarm)

    cal.add_component(event)
    for tzid in sorted(cal.get_missing_tzids()):
        cal.add_component(Timezone.from_ical(vtimezone(tzid)))
    data: bytes = cal.to_ical()
    return data


@functools.lru_cache(maxsize=64)
def vtimezone(tzid: str) -> bytes:
    """The VTIMEZONE of an IANA zone (RFC 5545 section 3.6.5) as iCalendar bytes, built once per
    zone and process: building it walks the zone's transitions and costs ~0.2 s, far more than
    the rest of an invitation. Deterministic data, so the memo never needs invalidating."""
    data: bytes = Timezone.from_tzid(tzid).to_ical()
    return data
