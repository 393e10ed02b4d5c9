"""Small built-in fallbacks for parts built elsewhere (attendance classification, invitation
rendering), used only while ``munivideo.attendance`` / ``munivideo.invitations`` are absent.

They keep the engine runnable on its own; the real modules win as soon as they are importable.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

from munivideo.config import AttendanceConfig
from munivideo.models import (
    Attendance,
    AttendanceEvent,
    Booking,
    BookingStatus,
    EventKind,
    Invitation,
    InvitationMethod,
    JoinLink,
    Locale,
    Outcome,
    OutcomeForm,
    Participant,
    Role,
    Room,
    Tenant,
)
from munivideo.values import local


def _presence(
    events: list[AttendanceEvent], role: Role, until: datetime
) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    opened: dict[str, datetime] = {}
    for ev in sorted(events, key=lambda e: e.at):
        if ev.role is not role:
            continue
        if ev.kind is EventKind.JOIN:
            opened.setdefault(ev.participant_id, ev.at)
        elif ev.participant_id in opened:
            spans.append((opened.pop(ev.participant_id), ev.at))
    spans.extend((start, until) for start in opened.values())
    return spans


def _overlap(a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    for s1, e1 in a:
        for s2, e2 in b:
            start, end = max(s1, s2), min(e1, e2)
            if end > start:
                total += (end - start).total_seconds()
    return total / 60


def classify_fallback(
    booking: Booking,
    events: list[AttendanceEvent],
    form: OutcomeForm | None,
    settings: AttendanceConfig,
) -> Attendance:
    """Citizen and servant overlap long enough: attended; only the servant came: citizen
    no-show; only the citizen came: servant no-show; a form's explicit outcome wins."""
    mine = [e for e in events if e.booking_id == booking.id]
    until = booking.end + timedelta(minutes=settings.grace_minutes)
    citizen = _presence(mine, Role.CITIZEN, until)
    servant = _presence(mine, Role.SERVANT, until)
    if form is not None and form.outcome is not None:
        outcome = form.outcome
    elif booking.status is BookingStatus.CANCELLED:
        outcome = Outcome.CANCELLED
    elif form is not None and form.technical_failure:
        outcome = Outcome.TECHNICAL_FAILURE
    elif citizen and servant and _overlap(citizen, servant) >= settings.min_overlap_minutes:
        outcome = Outcome.ATTENDED
    elif citizen and not servant:
        outcome = Outcome.SERVANT_NO_SHOW
    else:
        outcome = Outcome.CITIZEN_NO_SHOW
    times = [e.at for e in mine]
    participants = {
        e.participant_id: Participant(
            id=e.participant_id,
            name=booking.citizen.name
            if e.role is Role.CITIZEN
            else (booking.servant.name if booking.servant else e.participant_id),
            role=e.role,
        )
        for e in mine
    }
    return Attendance(
        booking_id=booking.id,
        tenant_id=booking.tenant_id,
        outcome=outcome,
        started_at=min(times) if times else None,
        ended_at=max(times) if times else None,
        participants=tuple(participants.values()),
        summary=form.summary if form else "",
        documents=form.documents if form else (),
        demands=form.demands if form else (),
    )


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
