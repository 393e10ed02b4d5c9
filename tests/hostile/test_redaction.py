"""Kind 9 of issue 11: redaction is a guarantee at record creation, for child loggers and for
the third-party loggers munivideo drives, whatever handler an integrator attaches."""

from __future__ import annotations

import io
import logging

import pytest

from munivideo.models import Channel, Invitation, InvitationMethod, Locale, OutboundMessage
from munivideo.redact import install_log_redaction, redact
from munivideo.transport.http import Timeouts, build_session

from .peers import json_answer, serve

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiYWJjIn0.c2lnbmF0dXJlLXZhbHVl"
CPF = "05278934123"


@pytest.fixture
def captured() -> io.StringIO:
    """A plain handler on the root logger, added *after* redaction was installed (as an
    integrator's DEBUG logging would be)."""
    install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_child_loggers_are_redacted(captured: io.StringIO) -> None:
    logging.getLogger("munivideo.engine.sync.deep").warning(
        "booking for cpf %s, e-mail joao.araujo@example.com.br, phone (51) 98765-4321", CPF
    )
    out = captured.getvalue()
    assert CPF not in out and "joao.araujo" not in out and "98765-4321" not in out
    assert "***.789.341-**" in out or "***" in out


def test_tracebacks_are_redacted(captured: io.StringIO) -> None:
    try:
        raise ValueError(f"password=hunter2 for {CPF}")
    except ValueError:
        logging.getLogger("munivideo.x").exception("failed")
    out = captured.getvalue()
    assert "hunter2" not in out and CPF not in out
    assert "ValueError" in out


def test_urllib3_debug_lines_with_bbb_passwords_are_redacted(captured: io.StringIO) -> None:
    with serve(lambda r: json_answer({})) as peer:
        session = build_session(Timeouts())
        session.get(peer.url + "/api/join?meetingID=m1&password=333444&moderatorPW=999888")
    out = captured.getvalue()
    assert "urllib3" in out  # the library did log the URL at DEBUG
    assert "333444" not in out and "999888" not in out


def test_zeep_envelopes_are_redacted(captured: io.StringIO) -> None:
    envelope = (
        f"<soap:Envelope><wsse:Password>s3nh@-forte</wsse:Password><cpfCnpj>{CPF}</cpfCnpj>"
        "<email>joao.araujo@example.com.br</email></soap:Envelope>"
    )
    logging.getLogger("zeep.transports").debug("HTTP Post to x:\n%s", envelope)
    out = captured.getvalue()
    assert CPF not in out and "joao.araujo" not in out


def test_free_text_catches_phones_and_name_secret_pairs() -> None:
    text = redact(
        "shared_secret=abc123 client_password: p4ss moderatorPW=333444 "
        "tel +55 51 98765-4321, +5551987654321, (51) 3333-4444"
    )
    for leaked in ("abc123", "p4ss", "333444", "98765-4321", "5551987654321", "3333-4444"):
        assert leaked not in text, (leaked, text)


def test_reprs_hide_the_join_link() -> None:
    link = f"https://meet.example/sala?jwt={JWT}"
    invitation = Invitation(
        booking_id="AG-1",
        uid="u@munivideo",
        sequence=0,
        method=InvitationMethod.REQUEST,
        locale=Locale.PT_BR,
        subject="Convite",
        text=link,
        html=link,
        sms=link,
        whatsapp=link,
        ics=link.encode(),
    )
    message = OutboundMessage(
        booking_id="AG-1",
        channel=Channel.EMAIL,
        to="joao@example.com.br",
        text=link,
        html=link,
        idempotency_key="k",
    )
    for shown in (repr(invitation), repr(message), str(invitation), str(message)):
        assert JWT not in shown and "jwt=" not in shown
