"""Attendance classification: join/leave events plus the servant's form -> an outcome.

Pure functions. Events may arrive twice (webhook retries, a poll and a webhook reporting the same
join) and out of order (webhooks race), so they are de-duplicated by ``event_id`` and sorted
before any interval is built; the result does not depend on arrival order.

Rules, in order:

1. the booking was cancelled -> ``cancelled``;
2. the servant's form names an outcome -> that outcome (the servant has the last word);
3. the form says the call failed technically -> ``technical_failure``;
4. the servant never joined -> ``servant_no_show`` (the room is the servant's to open);
5. the citizen never joined -> ``citizen_no_show``;
6. citizen and servant overlapped for at least ``min_overlap`` -> ``attended``;
7. they overlapped, but too briefly -> ``technical_failure`` (a short call that ended is a
   dropped call far more often than a finished one; repeated drop/rejoin makes it certain);
8. they never overlapped -> the one who arrived after the other had left is the no-show.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from munivideo.config import AttendanceConfig
from munivideo.errors import InvalidRecordError
from munivideo.models import (
    Attendance,
    AttendanceEvent,
    Booking,
    BookingStatus,
    EventKind,
    Outcome,
    OutcomeForm,
    Participant,
    Role,
)

Interval = tuple[datetime, datetime]

DEFAULT_MIN_OVERLAP = timedelta(minutes=AttendanceConfig().min_overlap_minutes)


class IgnoredEvent(BaseModel):
    """An event that did not count, and why (kept for the audit trail, never silently lost)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    reason: str


class Classification(BaseModel):
    """The classified attendance plus how it was reached."""

    model_config = ConfigDict(frozen=True)

    attendance: Attendance
    reason: str
    overlap: timedelta = timedelta(0)
    ignored: tuple[IgnoredEvent, ...] = ()


def _sort_key(event: AttendanceEvent) -> tuple[datetime, int, str, str]:
    # At the same instant a join sorts before a leave, so a join/leave pair stamped with one
    # second never reads as "leave without join".
    return (
        event.at,
        0 if event.kind is EventKind.JOIN else 1,
        event.participant_id,
        event.event_id,
    )


def normalize_events(
    booking_id: str, events: Iterable[AttendanceEvent]
) -> tuple[list[AttendanceEvent], list[IgnoredEvent]]:
    """Events of ``booking_id``, de-duplicated by ``event_id`` and in time order.

    When two events share an id but differ (a provider bug), the earliest in sort order wins,
    so the choice does not depend on arrival order.
    """
    ignored: list[IgnoredEvent] = []
    chosen: dict[str, AttendanceEvent] = {}
    for event in events:
        if event.booking_id != booking_id:
            ignored.append(
                IgnoredEvent(
                    event_id=event.event_id,
                    reason=f"event belongs to booking {event.booking_id}, not {booking_id}",
                )
            )
            continue
        kept = chosen.get(event.event_id)
        if kept is None or _sort_key(event) < _sort_key(kept):
            chosen[event.event_id] = event
    ordered = sorted(chosen.values(), key=_sort_key)
    return ordered, sorted(ignored, key=lambda i: (i.event_id, i.reason))


def presence_intervals(
    events: list[AttendanceEvent], until: datetime
) -> tuple[dict[Role, list[Interval]], dict[Role, int], list[IgnoredEvent]]:
    """Per role: the merged time intervals someone of that role was in the room, and how many
    sessions (joins that counted) there were. A session still open at the end closes at
    ``until``."""
    open_since: dict[tuple[Role, str], datetime] = {}
    raw: dict[Role, list[Interval]] = {Role.CITIZEN: [], Role.SERVANT: []}
    sessions: dict[Role, int] = {Role.CITIZEN: 0, Role.SERVANT: 0}
    ignored: list[IgnoredEvent] = []
    for event in events:
        key = (event.role, event.participant_id)
        if event.kind is EventKind.JOIN:
            if key in open_since:
                ignored.append(IgnoredEvent(event_id=event.event_id, reason="join while present"))
                continue
            open_since[key] = event.at
            sessions[event.role] += 1
        else:
            started = open_since.pop(key, None)
            if started is None:
                ignored.append(IgnoredEvent(event_id=event.event_id, reason="leave without join"))
                continue
            raw[event.role].append((started, event.at))
    for (role, _), started in open_since.items():
        raw[role].append((started, max(started, until)))
    return {role: _merge(spans) for role, spans in raw.items()}, sessions, ignored


def _merge(spans: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _participants(booking: Booking) -> tuple[Participant, ...]:
    people = [Participant(id=booking.id + ":citizen", name=booking.citizen.name, role=Role.CITIZEN)]
    if booking.servant is not None:
        people.append(
            Participant(
                id=booking.servant.registration, name=booking.servant.name, role=Role.SERVANT
            )
        )
    return tuple(people)


def classify(
    booking: Booking,
    events: Iterable[AttendanceEvent],
    form: OutcomeForm | None = None,
    *,
    min_overlap: timedelta = DEFAULT_MIN_OVERLAP,
    until: datetime | None = None,
) -> Classification:
    """Classify what happened in ``booking``'s room.

    :param events: join/leave events from any source, in any order, duplicates allowed; events
        of other bookings and impossible ones (leave without join) are ignored with a reason.
    :param form: the servant's outcome form, if filled in.
    :param min_overlap: how long citizen and servant must be in the room together to count as
        attended (``AttendanceConfig.min_overlap_minutes``).
    :param until: when sessions still open are considered closed (default: the later of the
        slot's end and the last event).
    :raises InvalidRecordError: the form belongs to another booking.
    """
    if form is not None and form.booking_id != booking.id:
        raise InvalidRecordError(
            f"outcome form is for booking {form.booking_id}", record_id=booking.id, field="form"
        )
    ordered, ignored = normalize_events(booking.id, events)
    end_of_report = until or max([booking.end, *(e.at for e in ordered)])
    spans, sessions, dropped = presence_intervals(ordered, end_of_report)
    ignored.extend(dropped)
    together = _intersect(spans[Role.CITIZEN], spans[Role.SERVANT])
    overlap = sum((end - start for start, end in together), timedelta(0))
    everyone = spans[Role.CITIZEN] + spans[Role.SERVANT]

    outcome, reason = _decide(booking, form, spans, sessions, overlap, min_overlap)
    if together:
        started_at: datetime | None = together[0][0]
        ended_at: datetime | None = together[-1][1]
    elif everyone:
        started_at = min(s for s, _ in everyone)
        ended_at = max(e for _, e in everyone)
    else:
        started_at = ended_at = None
    attendance = Attendance(
        booking_id=booking.id,
        tenant_id=booking.tenant_id,
        outcome=outcome,
        started_at=started_at,
        ended_at=ended_at,
        participants=_participants(booking),
        summary=form.summary if form else "",
        documents=form.documents if form else (),
        demands=form.demands if form else (),
    )
    return Classification(
        attendance=attendance, reason=reason, overlap=overlap, ignored=tuple(ignored)
    )


def _decide(
    booking: Booking,
    form: OutcomeForm | None,
    spans: dict[Role, list[Interval]],
    sessions: dict[Role, int],
    overlap: timedelta,
    min_overlap: timedelta,
) -> tuple[Outcome, str]:
    if booking.status is BookingStatus.CANCELLED:
        return Outcome.CANCELLED, "booking was cancelled"
    if form is not None and form.outcome is not None:
        return form.outcome, "outcome declared by the servant"
    if form is not None and form.technical_failure:
        return Outcome.TECHNICAL_FAILURE, "servant reported a technical failure"
    citizen, servant = spans[Role.CITIZEN], spans[Role.SERVANT]
    if not servant:
        return Outcome.SERVANT_NO_SHOW, "servant never joined"
    if not citizen:
        return Outcome.CITIZEN_NO_SHOW, "citizen never joined"
    if overlap >= min_overlap and overlap > timedelta(0):
        return Outcome.ATTENDED, f"together for {overlap}"
    if overlap > timedelta(0):
        drops = sessions[Role.CITIZEN] > 1 or sessions[Role.SERVANT] > 1
        why = "with repeated drop/rejoin" if drops else "and then the call ended"
        return Outcome.TECHNICAL_FAILURE, f"together only {overlap} {why}"
    if citizen[0][0] >= servant[-1][1]:
        return Outcome.CITIZEN_NO_SHOW, "citizen arrived after the servant had left"
    return Outcome.SERVANT_NO_SHOW, "servant arrived after the citizen had left"


__all__ = [
    "DEFAULT_MIN_OVERLAP",
    "Classification",
    "IgnoredEvent",
    "classify",
    "normalize_events",
    "presence_intervals",
]
