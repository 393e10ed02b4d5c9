"""Canonical records for store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from munivideo.models import (
    Applicant,
    Attendance,
    Booking,
    Citizen,
    Outcome,
    ProtocolEntry,
)
from munivideo.sandbox.seeds import make_cpf
from munivideo.store.records import Binding

T0 = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)


def booking(booking_id: str = "AG-1", tenant: str = "gravatai") -> Booking:
    return Booking(
        id=booking_id,
        tenant_id=tenant,
        service_code="IPTU",
        citizen=Citizen(name="João da Conceição", cpf=make_cpf(3)),
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=1, minutes=30),
        updated_at=T0,
    )


def binding(booking_id: str = "AG-1", tenant: str = "gravatai") -> Binding:
    return Binding(
        tenant_id=tenant,
        booking_id=booking_id,
        booking=booking(booking_id, tenant),
        fingerprint="f1",
        created_at=T0,
        updated_at=T0,
    )


def attendance(booking_id: str = "AG-1", tenant: str = "gravatai") -> Attendance:
    return Attendance(booking_id=booking_id, tenant_id=tenant, outcome=Outcome.ATTENDED)


def entry(booking_id: str = "AG-1", tenant: str = "gravatai", summary: str = "ok") -> ProtocolEntry:
    return ProtocolEntry(
        external_reference=f"munivideo:{tenant}:{booking_id}",
        tenant_id=tenant,
        booking_id=booking_id,
        subject_code="IPTU-REV",
        applicant=Applicant(name="João da Conceição", cpf=make_cpf(3)),
        department_code="SMF-FISC",
        opened_at=T0,
        summary=summary,
        outcome=Outcome.ATTENDED,
    )
