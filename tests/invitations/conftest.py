from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from munivideo.models import (
    Booking,
    BookingStatus,
    Citizen,
    JoinLink,
    Role,
    Room,
    Servant,
    Service,
    Tenant,
)

START = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # 14:00 in Sao Paulo, a Monday
CPF = "52998224725"


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(id="gravatai", name="Prefeitura de Gravataí")


@pytest.fixture
def service() -> Service:
    return Service(
        code="iptu", name="Dúvidas de IPTU", erp_subject_code="IPTU01", department_code="FAZ"
    )


def make_booking(name: str = "Maria da Silva", **extra: object) -> Booking:
    data: dict[str, object] = {
        "id": "B-1",
        "tenant_id": "gravatai",
        "service_code": "iptu",
        "citizen": Citizen(name=name, cpf=CPF, email="maria@example.org", phone="(51) 98765-4321"),
        "servant": Servant(registration="S-9", name="Ana Auditora", email="ana@gravatai.rs.gov.br"),
        "start": START,
        "end": START + timedelta(minutes=30),
        "status": BookingStatus.CONFIRMED,
        "updated_at": START - timedelta(days=2),
    }
    data.update(extra)
    return Booking.model_validate(data)


@pytest.fixture
def booking() -> Booking:
    return make_booking()


def make_room(booking: Booking) -> Room:
    return Room(
        booking_id=booking.id,
        provider="jitsi",
        name="grav-0123456789abcdef0123456789abcdef",
        base_url="https://meet.example.org",
        valid_from=booking.start - timedelta(minutes=15),
        valid_until=booking.end + timedelta(minutes=30),
    )


def make_link(booking: Booking, url: str | None = None) -> JoinLink:
    return JoinLink(
        booking_id=booking.id,
        participant_id="citizen",
        role=Role.CITIZEN,
        url=url or "https://meet.example.org/grav-0123456789abcdef0123456789abcdef",
        expires_at=booking.end + timedelta(minutes=30),
    )
