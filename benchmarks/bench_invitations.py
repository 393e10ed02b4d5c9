"""Invitations rendered per second (every channel plus the .ics) against a bare jinja2 baseline.

Baseline: one ``jinja2.Template`` rendering just a plain-text e-mail body, the least a sender
could do. The ratio shows what the full invitation (five templates, SMS budget check, CPF guard,
iCalendar file) costs on top of it. Bounded to about 10 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jinja2

from munivideo.invitations import InvitationRenderer, build_ics
from munivideo.models import (
    Booking,
    BookingStatus,
    Citizen,
    InvitationMethod,
    JoinLink,
    Role,
    Room,
    Servant,
    Service,
    Tenant,
)

SECONDS_PER_CASE = 2.5
START = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")
SERVICE = Service(code="iptu", name="Dúvidas de IPTU", erp_subject_code="I", department_code="F")
BOOKING = Booking(
    id="B-1",
    tenant_id="gravatai",
    service_code="iptu",
    citizen=Citizen(
        name="Maria da Silva", cpf="52998224725", email="maria@example.org", phone="51987654321"
    ),
    servant=Servant(registration="S-9", name="Ana Auditora"),
    start=START,
    end=START + timedelta(minutes=30),
    status=BookingStatus.CONFIRMED,
    updated_at=START,
)
ROOM = Room(
    booking_id="B-1",
    provider="jitsi",
    name="grav-0123456789abcdef0123456789abcdef",
    base_url="https://meet.example.org",
    valid_from=START - timedelta(minutes=15),
    valid_until=START + timedelta(minutes=60),
)
LINK = JoinLink(
    booking_id="B-1",
    participant_id="citizen",
    role=Role.CITIZEN,
    url="https://meet.example.org/grav-0123456789abcdef0123456789abcdef",
    expires_at=START + timedelta(minutes=60),
)
BARE = jinja2.Template(
    "Olá, {{ name }}.\nSeu atendimento {{ service }} está confirmado para {{ date }} às {{ time }}."
    "\nEntre pelo link: {{ url }}\n{{ tenant }}\n"
)


def _rate(work: Callable[[], object], seconds: float) -> float:
    work()  # warm up (template compilation)
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            work()
        count += 50
    return count / elapsed


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """Invitation rendering rate against bare jinja2; ``smoke``: 0.05 s per case."""
    seconds = 0.05 if smoke else SECONDS_PER_CASE
    renderer = InvitationRenderer()

    def bare() -> object:
        return BARE.render(
            name=BOOKING.citizen.name,
            service=SERVICE.name,
            date="07/12/2026",
            time="14:00",
            url=LINK.url,
            tenant=TENANT.name,
        )

    def full() -> object:
        return renderer.render(TENANT, BOOKING, SERVICE, ROOM, LINK, InvitationMethod.REQUEST)

    def ics_only() -> object:
        return build_ics(
            tenant=TENANT,
            booking=BOOKING,
            method=InvitationMethod.REQUEST,
            summary="Atendimento",
            description=str(bare()),
            join_url=LINK.url,
        )

    baseline = _rate(bare, seconds)
    rows = [
        ("baseline: bare jinja2 text e-mail", baseline),
        ("invitation: 5 templates + SMS budget + .ics", _rate(full, seconds)),
        ("of which: the .ics alone (icalendar library)", _rate(ics_only, seconds)),
    ]
    print(f"{'case':<48} {'per second':>12} {'vs baseline':>12}")
    for name, rate in rows:
        print(f"{name:<48} {rate:>12,.0f} {rate / baseline:>11.3f}x")


if __name__ == "__main__":
    main()
