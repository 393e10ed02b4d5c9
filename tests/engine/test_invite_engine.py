"""Invitations as the engine sends them, against the sandbox ERP and real peers: channel
routing (an SMTP-only tenant, counted at a real SMTP server), a recipient change (CANCEL to the
old address, old room closed, new invitation), slots already over, foreign phones, the servant's
calendar (ATTENDEE, PRODID, DTSTAMP) read by a second parser (vobject), tenant template limits
with no side effect, and short join links served by a real HTTP redirect."""

from __future__ import annotations

import email
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import vobject
from aiosmtpd.controller import Controller

from munivideo.engine import Engine, invite, sync
from munivideo.engine.shortlinks import redirect_app
from munivideo.errors import InvalidRecordError
from munivideo.invitations import sms_segments
from munivideo.invitations.calendar import PRODID
from munivideo.models import Booking, BookingStatus, Citizen
from munivideo.sandbox import Sandbox

from .conftest import TENANT

SENDER = "atendimento@gravatai.example.gov.br"


def _mails(outbox: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=default)  # type: ignore[misc]
        for p in sorted((outbox / TENANT / "email").glob("*.eml"))
    ]


def _calendar(mail: email.message.EmailMessage) -> Any:
    for part in mail.walk():
        if part.get_content_type() == "text/calendar":
            return vobject.readOne(part.get_payload(decode=True).decode())
    raise AssertionError("no calendar part")


def _future_confirmed(sb: Sandbox) -> str:
    return next(b["id"] for b in sb.bookings() if b["situacao"] == "CF" and b.get("servidor"))


def test_messages_have_date_message_id_and_one_calendar_shape(
    engine: Engine, sb: Sandbox, tmp_path: Path
) -> None:
    stamp = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    engine.clock = lambda: stamp
    sync(engine)
    mails = _mails(tmp_path / "outbox")
    assert mails
    servants = 0
    for mail in mails:
        # Date: when the notifier built the message (the wall clock), parseable by `email`
        sent = parsedate_to_datetime(str(mail["Date"]))
        assert abs(sent - datetime.now(UTC)) < timedelta(minutes=5)
        assert str(mail["Message-ID"]).endswith("@gravatai.example.gov.br>")
        cal = _calendar(mail)
        assert cal.prodid.value == PRODID
        event = cal.vevent
        assert event.dtstamp.value == stamp  # the time of rendering, not the ERP's update time
        attendee = event.attendee
        assert attendee.value == f"mailto:{mail['To']}"  # RFC 5546: the recipient is ATTENDEE
        if attendee.params["ROLE"] == ["CHAIR"]:
            servants += 1
            assert "Cidadão:" in mail.get_body(("plain",)).get_content()
    assert servants > 0
    assert len({m["Message-ID"] for m in mails}) == len(mails)


@pytest.fixture
def smtp_peer() -> Iterator[tuple[list[bytes], int]]:
    received: list[bytes] = []

    class Collector:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collector(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield received, port
    finally:
        controller.stop()


def test_an_smtp_only_tenant_sends_email_and_reports_the_other_channels(
    sb: Sandbox, make_engine: Callable[..., Engine], smtp_peer: tuple[list[bytes], int]
) -> None:
    received, port = smtp_peer
    smtp = {"host": "127.0.0.1", "port": port, "security": "plain", "sender": SENDER}
    engine = make_engine(sb, notifiers=[{"name": "smtp", "settings": smtp}])
    result = sync(engine)
    assert result.quarantined == 0 and result.deferred == 0
    assert result.undeliverable.get("sms", 0) > 0 and result.undeliverable.get("whatsapp", 0) > 0
    assert len(received) == result.messages_sent > 0  # counted at the SMTP server
    for raw in received:
        assert email.message_from_bytes(raw)["To"]


def test_a_new_citizen_contact_cancels_the_old_invitation_and_revokes_its_room(
    engine: Engine, sb: Sandbox, tmp_path: Path
) -> None:
    sync(engine)
    booking_id = _future_confirmed(sb)
    before = engine.store.get_binding(TENANT, booking_id)
    assert before is not None and before.room is not None
    doc = sb.booking(booking_id)
    old_mail = doc["cidadao"]["email"]
    doc["cidadao"]["email"] = "novo.endereco@example.com.br"
    doc["dataAtualizacao"] = datetime.now(UTC).isoformat()
    sb.add_booking(doc)
    result = sync(engine)
    after = engine.store.get_binding(TENANT, booking_id)
    assert after is not None and after.room is not None
    assert after.room.name != before.room.name  # the old join links point at a closed room
    assert result.rooms_closed == 1 and result.cancellations_sent == 1
    mine = [m for m in _mails(tmp_path / "outbox") if m["X-Munivideo-Booking"] == booking_id]
    to_old = [(_calendar(m).method.value, m) for m in mine if m["To"] == old_mail]
    assert sorted(method for method, _ in to_old) == ["CANCEL", "REQUEST"]
    cancel = next(m for method, m in to_old if method == "CANCEL")
    new = [m for m in mine if m["To"] == "novo.endereco@example.com.br"]
    assert len(new) == 1 and _calendar(new[0]).method.value == "REQUEST"
    seq_cancel = int(_calendar(cancel).vevent.sequence.value)
    seq_new = int(_calendar(new[0]).vevent.sequence.value)
    assert seq_new > seq_cancel > before.invitation_sequence
    assert after.room.name in str(_calendar(new[0]).vevent.url.value)
    assert sb.booking(booking_id)["sala"]["url"].split("?")[0].endswith(after.room.name)
    assert sync(engine).messages_sent == 0


def test_a_slot_already_over_gets_no_room_and_no_invitation(
    engine: Engine, sb: Sandbox, tmp_path: Path
) -> None:
    doc = sb.booking(_future_confirmed(sb))
    doc.update(id="AG-PAST01", data=(datetime.now(UTC) - timedelta(days=2)).date().isoformat())
    doc.pop("sala", None)
    sb.add_booking(doc)
    sync(engine)
    binding = engine.store.get_binding(TENANT, "AG-PAST01")
    assert binding is not None and binding.room is None
    assert not [m for m in _mails(tmp_path / "outbox") if m["X-Munivideo-Booking"] == "AG-PAST01"]
    assert "sala" not in sb.booking("AG-PAST01")


@pytest.mark.parametrize("allowed", [False, True])
def test_foreign_phones_only_where_the_tenant_allows_them(
    sb: Sandbox, make_engine: Callable[..., Engine], allowed: bool
) -> None:
    # The reference ERP contract only carries Brazilian numbers, so the booking is built here
    # and handed to the engine's admission check (what sync calls before any side effect).
    tenant = {"id": TENANT, "name": "Gravataí", "allow_foreign_phones": allowed}
    engine = make_engine(sb, tenant=tenant)
    booking = Booking(
        id="AG-FOREIGN",
        tenant_id=TENANT,
        service_code="IPTU",
        citizen=Citizen(name="Joana", cpf="52998224725", phone="+351 912 345 678"),
        start=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
        end=datetime(2026, 12, 7, 17, 30, tzinfo=UTC),
        status=BookingStatus.CONFIRMED,
        updated_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    if allowed:
        invite.check_booking(engine, booking)
    else:
        with pytest.raises(InvalidRecordError, match="PT") as info:
            invite.check_booking(engine, booking)
        assert (info.value.record_id, info.value.field) == ("AG-FOREIGN", "citizen.phone")


def test_a_runaway_tenant_template_is_stopped_before_any_side_effect(
    sb: Sandbox, make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    templates = tmp_path / "templates" / "pt-BR"
    templates.mkdir(parents=True)
    (templates / "subject.txt.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
    )
    engine = make_engine(sb, templates_dir=str(tmp_path / "templates"))
    links_before = [b.get("sala") for b in sb.bookings()]
    started = datetime.now(UTC)
    result = sync(engine)
    assert datetime.now(UTC) - started < timedelta(seconds=60)
    assert result.deferred > 0 and result.rooms_created == result.messages_sent == 0
    assert all("pt-BR/subject.txt.j2 stopped" in e and "loop steps" in e for e in result.errors)
    assert [b.get("sala") for b in sb.bookings()] == links_before  # no room link written
    assert not (tmp_path / "outbox").exists()  # nothing sent


@pytest.fixture
def http_peer() -> Iterator[Callable[[Any], str]]:
    servers: list[Any] = []

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    def serve(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/j"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def _get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=5) as answer:
            return answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "") or ""


def test_short_links_fit_the_sms_and_redirect_inside_the_room_window_only(
    sb: Sandbox, make_engine: Callable[..., Engine], tmp_path: Path, http_peer: Any
) -> None:
    probe = make_engine(sb)
    base = http_peer(redirect_app(probe))
    short = {"base_url": base, "secret": {"env": "MV_TEST_JITSI_SECRET"}}
    engine = make_engine(sb, invitations={"short_links": short})
    probe.store = engine.store
    probe.config = engine.config
    sync(engine)
    booking_id = _future_confirmed(sb)
    sms = next((tmp_path / "outbox" / TENANT / "sms").glob(f"*{booking_id}*"))
    text = sms.read_text()
    link = next(word for word in text.split() if word.startswith(base))
    assert sms_segments(text.split("\n\n", 1)[1].strip()) <= 3 and "jwt=" not in text
    binding = engine.store.get_binding(TENANT, booking_id)
    assert binding is not None and binding.room is not None
    probe.clock = lambda: binding.room.valid_from - timedelta(minutes=1)  # type: ignore[union-attr]
    assert _get(link) == (410, "")
    probe.clock = lambda: binding.room.valid_from + timedelta(minutes=1)  # type: ignore[union-attr]
    status, location = _get(link)
    assert status == 302 and binding.room.name in location and "jwt=" in location
    probe.clock = lambda: binding.room.valid_until  # type: ignore[union-attr]
    assert _get(link)[0] == 410
    assert _get(link[:-3] + "AAA")[0] == 404  # a forged signature
