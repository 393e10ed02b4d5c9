"""SMTP notifier against a real aiosmtpd server on loopback; the message is parsed back."""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from munivideo_smtp import SmtpNotifier, make_smtp_notifier
from pydantic import SecretStr

from munivideo.errors import ConfigurationError, RejectedError, TransientError
from munivideo.invitations import invitation_messages, render_invitation
from munivideo.models import (
    Booking,
    BookingStatus,
    Channel,
    Citizen,
    InvitationMethod,
    JoinLink,
    OutboundMessage,
    Role,
    Room,
    Service,
    Tenant,
)
from munivideo.plugins import load_plugins
from munivideo.ports import Notifier

START = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("busy@"):
            return "451 4.3.0 mailbox busy, try later"
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    port = free_port()  # aiosmtpd's start() probes the port it was given, so 0 will not do
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


def notifier(port: int) -> SmtpNotifier:
    return make_smtp_notifier(
        TENANT,
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "plain",
            "sender": "atendimento@gravatai.example",
            "timeout_seconds": 5,
        },
    )


def booking(name: str = "Maria da Silva", mail: str = "maria@example.org") -> Booking:
    return Booking(
        id="B-1",
        tenant_id="gravatai",
        service_code="iptu",
        citizen=Citizen(name=name, cpf="52998224725", email=mail),
        start=START,
        end=START + timedelta(minutes=30),
        status=BookingStatus.CONFIRMED,
        updated_at=START,
    )


def email_message(
    b: Booking, method: InvitationMethod = InvitationMethod.REQUEST
) -> OutboundMessage:
    service = Service(
        code="iptu", name="Dúvidas de IPTU", erp_subject_code="I", department_code="F"
    )
    room = Room(
        booking_id=b.id,
        provider="jitsi",
        name="r",
        base_url="https://m.example",
        valid_from=START,
        valid_until=START + timedelta(hours=1),
    )
    link = JoinLink(
        booking_id=b.id,
        participant_id="citizen",
        role=Role.CITIZEN,
        url="https://m.example/r?jwt=abc",
        expires_at=START + timedelta(hours=1),
    )
    inv = render_invitation(TENANT, b, service, room, link, method)
    return invitation_messages(inv, b, channels=[Channel.EMAIL])[0]


def test_delivers_multipart_with_calendar(smtp_server: tuple[Collector, int]) -> None:
    collector, port = smtp_server
    n = notifier(port)
    assert isinstance(n, Notifier)
    message = email_message(booking(name="<img src=x onerror=alert(1)> Maria"))
    receipt = n.send(message)
    assert receipt.notifier == "smtp" and receipt.booking_id == "B-1"
    assert len(collector.messages) == 1
    mail_from, rcpt, raw = collector.messages[0]
    assert mail_from == "atendimento@gravatai.example"
    assert rcpt == ["maria@example.org"]
    parsed: Message = email.message_from_bytes(raw, policy=default)
    assert parsed["Message-ID"] == receipt.reference
    assert parsed.get_content_type() == "multipart/mixed"
    types = [p.get_content_type() for p in parsed.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html").get_content()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    cal_part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert cal_part.get_param("method") == "REQUEST"
    cal = Calendar.from_ical(cal_part.get_payload(decode=True))
    assert cal["METHOD"] == "REQUEST"


def test_cancel_carries_method_cancel(smtp_server: tuple[Collector, int]) -> None:
    collector, port = smtp_server
    b = booking().transition(BookingStatus.CANCELLED)
    notifier(port).send(email_message(b, InvitationMethod.CANCEL))
    parsed = email.message_from_bytes(collector.messages[0][2], policy=default)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "CANCEL"
    assert Calendar.from_ical(part.get_payload(decode=True))["METHOD"] == "CANCEL"


def test_4xx_is_transient_5xx_is_rejected(smtp_server: tuple[Collector, int]) -> None:
    collector, port = smtp_server
    with pytest.raises(TransientError) as busy:
        notifier(port).send(email_message(booking(mail="busy@example.org")))
    assert "451" in str(busy.value) and busy.value.record_id == "B-1"
    with pytest.raises(RejectedError) as nobody:
        notifier(port).send(email_message(booking(mail="nobody@example.org")))
    assert "550" in str(nobody.value)
    assert "nobody@example.org" not in str(nobody.value)
    assert collector.messages == []


def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientError):
        notifier(free_port()).send(email_message(booking()))


def test_only_email_channel_and_registration() -> None:
    sms = OutboundMessage(
        booking_id="B-1", channel=Channel.SMS, to="+5551987654321", text="x", idempotency_key="k"
    )
    with pytest.raises(RejectedError) as info:
        notifier(25).send(sms)
    assert info.value.field == "channel"
    factory = load_plugins(allow=["smtp"], strict=True).notifier("smtp")
    assert isinstance(factory(TENANT, {"host": "h", "sender": "a@b.org"}), SmtpNotifier)


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"atendimento"
        and auth_data.password == b"s3nha-de-teste"
    )
    return AuthResult(success=ok, handled=False)


def test_authenticates_and_bad_password_is_rejected() -> None:
    collector = Collector()
    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=check_login,
        auth_require_tls=False,
    )
    controller.start()
    try:
        base = {
            "host": "127.0.0.1",
            "port": port,
            "security": "plain",
            "sender": "atendimento@gravatai.example",
            "username": "atendimento",
            "timeout_seconds": 5,
        }
        good = make_smtp_notifier(TENANT, {**base, "password": SecretStr("s3nha-de-teste")})
        good.send(email_message(booking()))
        assert len(collector.messages) == 1
        bad = make_smtp_notifier(TENANT, {**base, "password": SecretStr("wrong")})
        with pytest.raises(RejectedError) as info:
            bad.send(email_message(booking()))
        assert info.value.field == "notifiers.smtp.username"
        assert "wrong" not in str(info.value)
        assert len(collector.messages) == 1
    finally:
        controller.stop()


def test_starttls_and_implicit_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    base = {"host": "127.0.0.1", "sender": "atendimento@gravatai.example", "timeout_seconds": 5}

    collector = Collector()
    port = free_port()
    starttls = Controller(
        collector, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    starttls.start()
    try:
        # certificate not trusted: refused before anything is sent, and retrying will not help
        strict = make_smtp_notifier(TENANT, {**base, "port": port, "security": "starttls"})
        with pytest.raises(ConfigurationError) as info:
            strict.send(email_message(booking()))
        assert info.value.field == "notifiers.smtp.verify_tls"
        # a plain session cannot send when the server requires STARTTLS
        with pytest.raises((TransientError, RejectedError)):
            make_smtp_notifier(TENANT, {**base, "port": port, "security": "plain"}).send(
                email_message(booking())
            )
        relaxed = {**base, "port": port, "security": "starttls", "verify_tls": False}
        make_smtp_notifier(TENANT, relaxed).send(email_message(booking()))
        assert len(collector.messages) == 1
    finally:
        starttls.stop()

    port = free_port()
    implicit = Controller(collector, hostname="127.0.0.1", port=port, ssl_context=context)
    implicit.start()
    try:
        relaxed = {**base, "port": port, "security": "ssl", "verify_tls": False}
        make_smtp_notifier(TENANT, relaxed).send(email_message(booking()))
        assert len(collector.messages) == 2
    finally:
        implicit.stop()
