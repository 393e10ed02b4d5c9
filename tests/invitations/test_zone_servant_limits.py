"""The tenant's zone and locale in every text and .ics (read back by vobject, a second
iCalendar parser), the servant's invitation (ATTENDEE as RFC 5546 asks), DTSTAMP, the MIME
headers read back by the stdlib ``email`` parser, and tenant template limits."""

from __future__ import annotations

import email
import time
from datetime import UTC, datetime
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import vobject
from icalendar import Calendar

from munivideo.errors import ConfigurationError
from munivideo.invitations import render_invitation
from munivideo.invitations.calendar import PRODID
from munivideo.invitations.limits import TemplateLimits
from munivideo.invitations.messages import WIRE_POLICY, build_email, invitation_messages
from munivideo.models import (
    Booking,
    Channel,
    InvitationMethod,
    Participant,
    Role,
    Service,
    Tenant,
)

from .conftest import make_booking, make_link, make_room

REQ = InvitationMethod.REQUEST
SLOT = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # 14:00 in Manaus (UTC-4), 15:00 in Sao Paulo
MANAUS = Tenant(id="manaus", name="Prefeitura de Manaus", timezone="America/Manaus")


def _manaus_booking() -> Booking:
    return make_booking(tenant_id="manaus", start=SLOT, end=SLOT.replace(minute=30))


def test_a_manaus_tenant_announces_its_own_wall_time(service: Service) -> None:
    booking = _manaus_booking()
    inv = render_invitation(MANAUS, booking, service, make_room(booking), make_link(booking), REQ)
    assert "às 14:00" in inv.subject and "15:00" not in inv.subject
    assert "14:00 às 14:30 (Horário do Amazonas)" in inv.text
    assert "às 14:00" in inv.sms and "14:00" in inv.whatsapp
    event = vobject.readOne(inv.ics.decode()).vevent  # a second parser reads the same instant
    assert event.dtstart.value.astimezone(UTC) == SLOT
    assert event.dtstart.value.strftime("%H:%M") == "14:00"
    assert "DTSTART;TZID=America/Manaus:20261207T140000" in inv.ics.decode()
    cal = Calendar.from_ical(inv.ics)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/Manaus"]
    assert cal.walk("VEVENT")[0].decoded("DTSTART") == SLOT


@pytest.mark.parametrize(
    ("date_locale", "words"),
    [("es", "lunes, 7 de diciembre de 2026"), ("en_GB", "Monday, 7 December 2026")],
)
def test_dates_in_words_in_any_babel_locale(service: Service, date_locale: str, words: str) -> None:
    tenant = MANAUS.model_copy(update={"date_locale": date_locale})
    booking = _manaus_booking()
    inv = render_invitation(tenant, booking, service, make_room(booking), make_link(booking), REQ)
    assert words in inv.text and "14:00" in inv.text


def test_servant_invitation_names_the_servant_as_attendee(
    tenant: Tenant, booking: Booking, service: Service
) -> None:
    assert booking.servant is not None
    servant = Participant(
        id="S-9", name=booking.servant.name, email=booking.servant.email, role=Role.SERVANT
    )
    stamp = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    invitations = [
        render_invitation(
            tenant,
            booking,
            service,
            make_room(booking),
            make_link(booking),
            method,
            recipient=servant,
            stamp=stamp,
        )
        for method in (REQ, InvitationMethod.CANCEL)
    ]
    for inv in invitations:
        cal = vobject.readOne(inv.ics.decode())
        assert cal.prodid.value == PRODID
        event = cal.vevent
        assert event.attendee.value == "mailto:ana@gravatai.rs.gov.br"
        assert event.attendee.params["ROLE"] == ["CHAIR"]
        assert event.dtstamp.value == stamp  # rendering time, not booking.updated_at
        assert inv.sms == "" and inv.whatsapp == ""
        assert "Olá, Ana Auditora." in inv.text
    assert "Cidadão: Maria da Silva" in invitations[0].text
    assert [vobject.readOne(i.ics.decode()).method.value for i in invitations] == [
        "REQUEST",
        "CANCEL",
    ]


def test_every_message_has_date_and_message_id_on_the_sender_domain(
    tenant: Tenant, booking: Booking, service: Service
) -> None:
    inv = render_invitation(tenant, booking, service, make_room(booking), make_link(booking), REQ)
    [mail] = [m for m in invitation_messages(inv, booking) if m.channel is Channel.EMAIL]
    now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    raw = build_email(mail, sender="Prefeitura <atendimento@gravatai.rs.gov.br>", now=now)
    parsed = email.message_from_bytes(raw.as_bytes(policy=WIRE_POLICY), policy=default)
    assert parsedate_to_datetime(str(parsed["Date"])) == now
    assert str(parsed["Message-ID"]).endswith("@gravatai.rs.gov.br>")
    assert str(parsed["Subject"]) == inv.subject  # RFC 2047 decoded back
    calendar = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_payload(decode=True) == inv.ics
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == inv.text + "\n" or (
        parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == inv.text
    )
    assert parsed.get_body(("html",)) is not None


def test_a_landline_gets_no_sms(tenant: Tenant, service: Service) -> None:
    booking = make_booking(
        citizen={"name": "Maria", "cpf": "52998224725", "phone": "(51) 3484-1000"}
    )
    inv = render_invitation(tenant, booking, service, make_room(booking), make_link(booking), REQ)
    assert {m.channel for m in invitation_messages(inv, booking)} == set()


RUNAWAYS = {
    "loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "output": "{% for i in range(90000) %}{{ 'xxxxxxxxxx' }}{% endfor %}",
    "repeat": "{{ 'x' * 1000000000 }}",
    "recursion": "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
    "budget": "{{ __munivideo_budget__.step(-100000000) }}",
}


@pytest.mark.parametrize("kind", sorted(RUNAWAYS))
def test_tenant_templates_stop_at_their_limits(
    tmp_path: Path, tenant: Tenant, booking: Booking, service: Service, kind: str
) -> None:
    (tmp_path / "pt-BR").mkdir()
    (tmp_path / "pt-BR" / "subject.txt.j2").write_text(RUNAWAYS[kind])
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=r"pt-BR/subject\.txt\.j2") as info:
        render_invitation(
            tenant,
            booking,
            service,
            make_room(booking),
            make_link(booking),
            REQ,
            templates_dir=tmp_path,
            limits=TemplateLimits(seconds=2.0),
        )
    assert time.monotonic() - started < 5
    assert info.value.field == "templates_dir" and info.value.record_id == booking.id
