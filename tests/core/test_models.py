"""Canonical models: validation, the booking lifecycle, masking of personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from munivideo.errors import LifecycleError
from munivideo.models import (
    BOOKING_TRANSITIONS,
    OUTCOME_STATUS,
    Booking,
    BookingStatus,
    Citizen,
    JoinLink,
    Outcome,
    Role,
)

START = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def make_booking(**overrides: object) -> Booking:
    data: dict[str, object] = {
        "id": "AG-2026-0001",
        "tenant_id": "gravatai",
        "service_code": "IPTU",
        "citizen": {"name": "João da Silva", "cpf": "529.982.247-25", "email": "joao@example.com"},
        "start": START,
        "end": START + timedelta(minutes=30),
        "updated_at": START - timedelta(days=1),
    }
    data.update(overrides)
    return Booking.model_validate(data)


def test_booking_validates_and_masks_personal_data() -> None:
    booking = make_booking()
    assert booking.citizen.cpf == "52998224725"
    text = repr(booking)
    assert "52998224725" not in text and "joao@example.com" not in text
    assert "***.982.247-**" in text


def test_booking_rejects_bad_input_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        make_booking(citizen={"name": "Ana", "cpf": "123.456.789-00"})
    assert info.value.errors()[0]["loc"] == ("citizen", "cpf")
    with pytest.raises(ValidationError, match="end must be after start"):
        make_booking(end=START)
    with pytest.raises(ValidationError, match="CPF or a CNPJ"):
        make_booking(citizen={"name": "Ana"})
    with pytest.raises(ValidationError, match="time zone"):
        make_booking(start=datetime(2026, 12, 1, 10, 0))


def test_models_are_frozen() -> None:
    booking = make_booking()
    with pytest.raises(ValidationError):
        booking.status = BookingStatus.CANCELLED  # type: ignore[misc]


@given(st.lists(st.sampled_from(list(BookingStatus)), max_size=12))
def test_lifecycle_follows_the_transition_table(steps: list[BookingStatus]) -> None:
    booking = make_booking()
    for new in steps:
        before = booking
        if new in BOOKING_TRANSITIONS[booking.status]:
            booking = booking.transition(new)
            assert booking.status is new
            assert booking.sequence >= before.sequence
        else:
            with pytest.raises(LifecycleError) as info:
                booking.transition(new)
            assert info.value.record_id == booking.id
            assert info.value.field == "status"
            assert booking == before


def test_terminal_statuses_accept_nothing() -> None:
    for status in (BookingStatus.ATTENDED, BookingStatus.NO_SHOW, BookingStatus.CANCELLED):
        booking = make_booking(status=status)
        for new in BookingStatus:
            with pytest.raises(LifecycleError):
                booking.transition(new)


def test_reschedule_moves_the_slot_and_bumps_the_sequence() -> None:
    booking = make_booking(status=BookingStatus.CONFIRMED)
    moved = booking.reschedule(
        START + timedelta(days=1), START + timedelta(days=1, minutes=45), at=START
    )
    assert moved.status is BookingStatus.RESCHEDULED
    assert moved.sequence == booking.sequence + 1
    assert moved.start == START + timedelta(days=1)
    cancelled = moved.transition(BookingStatus.CANCELLED)
    assert cancelled.sequence == moved.sequence + 1


def test_every_outcome_maps_to_a_reachable_status() -> None:
    confirmed = make_booking(status=BookingStatus.CONFIRMED)
    for outcome in Outcome:
        assert confirmed.transition(OUTCOME_STATUS[outcome]).status is OUTCOME_STATUS[outcome]


def test_join_link_repr_hides_the_credential() -> None:
    link = JoinLink(
        booking_id="AG-1",
        participant_id="c1",
        role=Role.CITIZEN,
        url="https://meet.example/room?jwt=eyJhbGciOi.secret.sig",
        expires_at=START,
    )
    assert "jwt" not in repr(link) and "secret" not in repr(link)


def test_citizen_document_prefers_cpf() -> None:
    both = Citizen(name="Empresa", cpf="52998224725", cnpj="11222333000181")  # type: ignore[arg-type]
    assert both.document == "52998224725"


def test_room_window_and_reschedule_keep_the_room_and_refuse_a_closed_one() -> None:
    from munivideo.models import Room, room_window

    booking = make_booking(status=BookingStatus.CONFIRMED)
    opens, closes = room_window(booking, early_open_minutes=15, grace_minutes=30)
    assert opens == START - timedelta(minutes=15)
    assert closes == booking.end + timedelta(minutes=30)
    room = Room(
        booking_id=booking.id,
        provider="jitsi",
        name="gravatai-abc",
        base_url="https://meet.example",
        valid_from=opens,
        valid_until=closes,
    )
    moved_booking = booking.reschedule(
        START + timedelta(days=2), START + timedelta(days=2, minutes=30), at=START
    )
    moved = room.rescheduled(moved_booking, early_open_minutes=15, grace_minutes=30)
    assert moved.name == room.name
    assert moved.valid_from == START + timedelta(days=2, minutes=-15)
    closed = room.model_copy(update={"closed": True})
    with pytest.raises(LifecycleError) as info:
        closed.rescheduled(moved_booking, early_open_minutes=15, grace_minutes=30)
    assert info.value.field == "room.closed"


@pytest.mark.parametrize(
    "name",
    ["Maria\r\nBcc: evil@example.com", "José\x00", "Ana\u202egnp.exe", "Rui\tSilva", "Lia\x1b[2J"],
)
def test_a_name_with_control_characters_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Citizen(name=name, cpf="05278934123")
    error = caught.value.errors()[0]
    assert error["loc"] == ("name",)
    assert "control character U+" in error["msg"]


def test_accented_and_punctuated_names_are_kept() -> None:
    name = 'Padaria "Pão Quente" & Cia — D\'Ávila-Núñez'
    assert Citizen(name=name, cpf="05278934123").name == name


def test_an_invalid_outcome_form_is_a_typed_error_naming_booking_and_field() -> None:
    from munivideo.errors import InvalidRecordError
    from munivideo.models import OutcomeForm

    with pytest.raises(InvalidRecordError) as info:
        OutcomeForm(booking_id="AG-000001", servant_registration="AF-0001", outcome="maybe")  # type: ignore[arg-type]
    assert info.value.record_id == "AG-000001" and info.value.field == "outcome"
    with pytest.raises(InvalidRecordError) as info:
        OutcomeForm.model_validate(
            {"booking_id": "AG-000002", "servant_registration": "AF-0001", "summary": "x" * 8001}
        )
    assert info.value.record_id == "AG-000002" and info.value.field == "summary"
    assert "xxxx" not in str(info.value)
