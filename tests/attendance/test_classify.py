"""Attendance classification: rules, bad input, and order/duplicate invariance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from munivideo.attendance import classify
from munivideo.errors import InvalidRecordError
from munivideo.models import (
    AttendanceEvent,
    Booking,
    BookingStatus,
    Citizen,
    EventKind,
    Outcome,
    OutcomeForm,
    Role,
    Servant,
)

T0 = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def booking(status: BookingStatus = BookingStatus.CONFIRMED) -> Booking:
    return Booking(
        id="B-1",
        tenant_id="gravatai",
        service_code="iptu",
        citizen=Citizen(name="Maria", cpf="52998224725"),
        servant=Servant(registration="S-9", name="Auditor"),
        start=T0,
        end=T0 + timedelta(minutes=30),
        status=status,
        updated_at=T0,
    )


def ev(
    n: int, role: Role, kind: EventKind, minute: float, booking_id: str = "B-1"
) -> AttendanceEvent:
    return AttendanceEvent(
        event_id=f"e{n}",
        booking_id=booking_id,
        participant_id="c" if role is Role.CITIZEN else "s",
        role=role,
        kind=kind,
        at=T0 + timedelta(minutes=minute),
    )


C, S, J, L = Role.CITIZEN, Role.SERVANT, EventKind.JOIN, EventKind.LEAVE


def test_attended_when_overlap_reaches_minimum() -> None:
    events = [ev(1, S, J, 0), ev(2, C, J, 2), ev(3, C, L, 12), ev(4, S, L, 13)]
    result = classify(booking(), events)
    assert result.attendance.outcome is Outcome.ATTENDED
    assert result.overlap == timedelta(minutes=10)
    assert result.attendance.started_at == T0 + timedelta(minutes=2)
    assert result.attendance.ended_at == T0 + timedelta(minutes=12)


def test_min_overlap_is_configurable() -> None:
    events = [ev(1, S, J, 0), ev(2, C, J, 2), ev(3, C, L, 12), ev(4, S, L, 13)]
    result = classify(booking(), events, min_overlap=timedelta(minutes=11))
    assert result.attendance.outcome is Outcome.TECHNICAL_FAILURE


def test_citizen_no_show() -> None:
    result = classify(booking(), [ev(1, S, J, 0), ev(2, S, L, 20)])
    assert result.attendance.outcome is Outcome.CITIZEN_NO_SHOW


def test_servant_no_show() -> None:
    result = classify(booking(), [ev(1, C, J, 0), ev(2, C, L, 20)])
    assert result.attendance.outcome is Outcome.SERVANT_NO_SHOW
    assert classify(booking(), []).attendance.outcome is Outcome.SERVANT_NO_SHOW


def test_late_citizen_after_servant_left_is_citizen_no_show() -> None:
    result = classify(booking(), [ev(1, S, J, 0), ev(2, S, L, 15), ev(3, C, J, 16)])
    assert result.attendance.outcome is Outcome.CITIZEN_NO_SHOW


def test_repeated_drops_with_short_overlap_is_technical_failure() -> None:
    events = [
        ev(1, S, J, 0),
        ev(2, C, J, 1),
        ev(3, C, L, 1.5),
        ev(4, C, J, 2),
        ev(5, C, L, 2.5),
        ev(6, S, L, 20),
    ]
    result = classify(booking(), events)
    assert result.attendance.outcome is Outcome.TECHNICAL_FAILURE
    assert "drop/rejoin" in result.reason


def test_servant_form_declares_technical_failure() -> None:
    events = [ev(1, S, J, 0), ev(2, C, J, 2), ev(3, C, L, 12), ev(4, S, L, 13)]
    form = OutcomeForm(booking_id="B-1", servant_registration="S-9", technical_failure=True)
    assert classify(booking(), events, form).attendance.outcome is Outcome.TECHNICAL_FAILURE


def test_form_summary_is_carried_over() -> None:
    form = OutcomeForm(booking_id="B-1", servant_registration="S-9", summary="IPTU explained")
    events = [ev(1, S, J, 0), ev(2, C, J, 0), ev(3, C, L, 10), ev(4, S, L, 10)]
    assert classify(booking(), events, form).attendance.summary == "IPTU explained"


def test_cancelled_booking_is_cancelled_whatever_the_events() -> None:
    events = [ev(1, S, J, 0), ev(2, C, J, 0), ev(3, C, L, 10)]
    result = classify(booking(BookingStatus.CANCELLED), events)
    assert result.attendance.outcome is Outcome.CANCELLED


def test_other_booking_and_leave_without_join_are_ignored_with_reason() -> None:
    events = [ev(1, S, J, 0), ev(2, C, L, 1), ev(3, C, J, 0, booking_id="B-2"), ev(4, S, L, 5)]
    result = classify(booking(), events)
    reasons = {i.event_id: i.reason for i in result.ignored}
    assert reasons["e2"] == "leave without join"
    assert "B-2" in reasons["e3"]
    assert result.attendance.outcome is Outcome.CITIZEN_NO_SHOW


def test_form_for_another_booking_is_refused() -> None:
    form = OutcomeForm(booking_id="B-2", servant_registration="S-9")
    with pytest.raises(InvalidRecordError) as info:
        classify(booking(), [], form)
    assert info.value.record_id == "B-1"
    assert info.value.field == "form"


def test_open_session_closes_at_slot_end() -> None:
    # Both joined, no leave ever arrived (lost webhook): they count until the slot's end.
    result = classify(booking(), [ev(1, S, J, 0), ev(2, C, J, 5)])
    assert result.attendance.outcome is Outcome.ATTENDED
    assert result.overlap == timedelta(minutes=25)


event_strategy = st.builds(
    ev,
    st.integers(0, 12),
    st.sampled_from([C, S]),
    st.sampled_from([J, L]),
    st.integers(0, 40),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(event_strategy, max_size=12, unique_by=lambda e: e.event_id), st.randoms())
def test_order_never_changes_the_outcome(events: list[AttendanceEvent], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = classify(booking(), events)
    second = classify(booking(), shuffled)
    assert first.attendance == second.attendance
    assert first.overlap == second.overlap


@settings(max_examples=200, deadline=None)
@given(st.lists(event_strategy, max_size=12), st.data())
def test_duplicates_never_change_the_outcome(
    events: list[AttendanceEvent], data: st.DataObject
) -> None:
    extra = data.draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    assert classify(booking(), events).attendance == classify(booking(), events + extra).attendance
