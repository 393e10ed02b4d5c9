"""The servant's invitation (and the citizen's when their service has no configured mapping).

``munivideo.invitations.render_invitation`` renders the citizen's invitation from tenant
templates; the servant needs less: the slot, the room link with moderator rights and a calendar
file with the same UID, so this small renderer serves them."""

from __future__ import annotations

from icalendar import Calendar, Event, vCalAddress, vText

from munivideo.models import (
    Booking,
    Invitation,
    InvitationMethod,
    JoinLink,
    Locale,
    Room,
    Tenant,
)
from munivideo.values import local

_TEXT = {
    Locale.PT_BR: {
        "request": "Atendimento por vídeo: {service} em {when}",
        "cancel": "Cancelado: atendimento por vídeo de {when}",
        "body_request": (
            "Olá, {name}.\n\nSeu atendimento por vídeo ({service}) está marcado para {when} "
            "(horário de Brasília).\nEntre na sala por este link: {url}\n\n"
            "O link vale até {until}."
        ),
        "body_cancel": "Olá, {name}.\n\nSeu atendimento por vídeo de {when} foi cancelado.",
        "fmt": "%d/%m/%Y %H:%M",
    },
    Locale.EN: {
        "request": "Video attendance: {service} on {when}",
        "cancel": "Cancelled: video attendance on {when}",
        "body_request": (
            "Hello, {name}.\n\nYour video attendance ({service}) is booked for {when} "
            "(Brasília time).\nJoin the room with this link: {url}\n\nThe link is valid until "
            "{until}."
        ),
        "body_cancel": "Hello, {name}.\n\nYour video attendance on {when} was cancelled.",
        "fmt": "%Y-%m-%d %H:%M",
    },
}


def render_fallback(
    tenant: Tenant,
    booking: Booking,
    room: Room,
    link: JoinLink | None,
    *,
    name: str,
    service_name: str,
    uid: str,
    sequence: int,
    method: InvitationMethod,
    locale: Locale,
    organizer: str,
) -> Invitation:
    from html import escape

    text = _TEXT[locale]
    when = local(booking.start).strftime(text["fmt"])
    until = local(link.expires_at).strftime(text["fmt"]) if link else ""
    url = link.url if link else ""
    cancel = method is InvitationMethod.CANCEL
    subject = (text["cancel"] if cancel else text["request"]).format(
        service=service_name, when=when
    )
    body = (text["body_cancel"] if cancel else text["body_request"]).format(
        name=name, service=service_name, when=when, url=url, until=until
    )
    cal = Calendar()
    cal.add("prodid", "-//munivideo//video attendance//PT")
    cal.add("version", "2.0")
    cal.add("method", method.value)
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", booking.updated_at)
    event.add("dtstart", booking.start)
    event.add("dtend", booking.end)
    event.add("summary", subject)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    org = vCalAddress(f"mailto:{organizer}")
    org.params["cn"] = vText(tenant.name)
    event["organizer"] = org
    if url and not cancel:
        event.add("location", room.base_url)
        event.add("description", body)
    cal.add_component(event)
    return Invitation(
        booking_id=booking.id,
        uid=uid,
        sequence=sequence,
        method=method,
        locale=locale,
        subject=subject,
        text=body,
        html="<p>" + escape(body).replace("\n", "<br>") + "</p>",
        sms=f"{subject}. {url}".strip(),
        whatsapp=body,
        ics=cal.to_ical(),
    )
