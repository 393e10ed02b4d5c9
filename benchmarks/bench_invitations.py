"""Invitations rendered per second (every channel plus the .ics) against a bare jinja2 baseline.

Baseline: one ``jinja2.Template`` rendering just a plain-text e-mail body, the least a sender
could do. The ratio shows what the full invitation (five templates, SMS budget check, CPF guard,
iCalendar file) costs on top of it. Bounded to about 10 s.

Second table: milliseconds to build one invitation e-mail (text + HTML + ``text/calendar``) and
write it to bytes, with ``EmailMessage`` and its content manager (how the e-mail was built
before) against ``email.mime`` (:func:`munivideo.invitations.messages.build_email` now), the same
message and structure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP

import jinja2

from munivideo.invitations import InvitationRenderer, build_ics, invitation_messages
from munivideo.invitations.messages import WIRE_POLICY, build_email, message_id
from munivideo.models import (
    Booking,
    BookingStatus,
    Citizen,
    InvitationMethod,
    JoinLink,
    OutboundMessage,
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


def email_message_build(message: OutboundMessage, *, sender: str) -> EmailMessage:
    """The e-mail as it was built before ``email.mime`` (``EmailMessage`` + content manager,
    ``policy=SMTP``): the reference the second table compares against."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Message-ID"] = message_id(message.idempotency_key, sender)
    mail["X-Munivideo-Booking"] = message.booking_id
    mail.set_content(message.text)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    if message.ics is not None:
        method = message.ics_method.value if message.ics_method else "REQUEST"
        mail.add_attachment(
            message.ics,
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": method, "charset": "utf-8"},
        )
    return mail


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

    invitation = renderer.render(TENANT, BOOKING, SERVICE, ROOM, LINK, InvitationMethod.REQUEST)
    mail = next(m for m in invitation_messages(invitation, BOOKING) if m.ics is not None)
    sender = "atendimento@gravatai.invalid"
    before = 1000 / _rate(lambda: email_message_build(mail, sender=sender).as_bytes(), seconds)
    after = 1000 / _rate(
        lambda: build_email(mail, sender=sender, now=START).as_bytes(policy=WIRE_POLICY), seconds
    )
    print()
    print(f"{'e-mail built and written (text+html+.ics)':<48} {'ms/message':>12} {'speed-up':>12}")
    print(f"{'before: EmailMessage + content manager':<48} {before:>12.3f} {1.0:>11.2f}x")
    print(f"{'now: email.mime (messages.build_email)':<48} {after:>12.3f} {before / after:>11.2f}x")


if __name__ == "__main__":
    main()
