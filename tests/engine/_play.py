"""Attendance scenarios played against synced bookings."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from munivideo.models import (
    AttendanceEvent,
    Booking,
    EventKind,
    ForwardedDemand,
    OutcomeForm,
    Role,
    VerifiedDocument,
)


def _ev(booking: Booking, n: int, role: Role, kind: EventKind, minutes: float) -> AttendanceEvent:
    who = (
        f"citizen-{booking.id}"
        if role is Role.CITIZEN
        else (booking.servant.registration if booking.servant else "servant")
    )
    return AttendanceEvent(
        event_id=f"{booking.id}-{n}",
        booking_id=booking.id,
        participant_id=who,
        role=role,
        kind=kind,
        at=booking.start + timedelta(minutes=minutes),
        source="test",
    )


def attended(booking: Booking) -> list[AttendanceEvent]:
    return [
        _ev(booking, 1, Role.SERVANT, EventKind.JOIN, -2),
        _ev(booking, 2, Role.CITIZEN, EventKind.JOIN, 0),
        _ev(booking, 3, Role.CITIZEN, EventKind.LEAVE, 22),
        _ev(booking, 4, Role.SERVANT, EventKind.LEAVE, 23),
    ]


def citizen_no_show(booking: Booking) -> list[AttendanceEvent]:
    return [
        _ev(booking, 1, Role.SERVANT, EventKind.JOIN, 0),
        _ev(booking, 2, Role.SERVANT, EventKind.LEAVE, 30),
    ]


def document(name: str) -> VerifiedDocument:
    return VerifiedDocument(
        name=name, kind="comprovante", sha256=hashlib.sha256(name.encode()).hexdigest(), size=1024
    )


def form(
    booking: Booking,
    *,
    documents: tuple[str, ...] = (),
    demands: tuple[tuple[str, str], ...] = (),
    summary: str = "Dúvidas sobre o carnê respondidas.",
) -> OutcomeForm:
    assert booking.servant is not None
    return OutcomeForm(
        booking_id=booking.id,
        servant_registration=booking.servant.registration,
        summary=summary,
        documents=tuple(document(d) for d in documents),
        demands=tuple(ForwardedDemand(department_code=d, description=t) for d, t in demands),
    )
