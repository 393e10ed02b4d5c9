"""Rendering: locales, escaping, strictness, sandbox, no CPF in short texts, SMS budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from munivideo.errors import ConfigurationError, InvalidRecordError
from munivideo.invitations import InvitationRenderer, render_invitation, sms_segments
from munivideo.models import Booking, InvitationMethod, Locale, Service, Tenant

from .conftest import CPF, make_booking, make_link, make_room

REQ = InvitationMethod.REQUEST


def render(tenant: Tenant, booking: Booking, service: Service, **kw: object):  # type: ignore[no-untyped-def]
    return render_invitation(
        tenant,
        booking,
        service,
        make_room(booking),
        make_link(booking),
        REQ,
        **kw,  # type: ignore[arg-type]
    )


def test_pt_br_default_with_local_time(tenant: Tenant, booking: Booking, service: Service) -> None:
    inv = render(tenant, booking, service)
    assert inv.locale is Locale.PT_BR
    assert inv.subject == "Atendimento por vídeo - Dúvidas de IPTU - 07/12/2026 às 14:00"
    assert "segunda-feira, 7 de dezembro de 2026" in inv.text
    assert "14:00 às 14:30" in inv.text
    assert "https://meet.example.org/grav-" in inv.text
    assert "https://meet.example.org/grav-" in inv.sms
    assert inv.sequence == 0
    assert inv.uid.endswith("@munivideo")


def test_english(tenant: Tenant, booking: Booking, service: Service) -> None:
    inv = render(tenant, booking, service, locale=Locale.EN)
    assert inv.subject == "Video appointment - Dúvidas de IPTU - 12/7/2026 at 2:00 PM"
    assert "Monday, December 7, 2026" in inv.text
    assert "Join:" in inv.sms


def test_reschedule_and_cancel_wording(tenant: Tenant, booking: Booking, service: Service) -> None:
    moved = booking.reschedule(booking.start, booking.end, at=booking.updated_at)
    assert render(tenant, moved, service).subject.startswith("Remarcado: ")
    cancelled = render_invitation(
        tenant, booking, service, make_room(booking), make_link(booking), InvitationMethod.CANCEL
    )
    assert cancelled.subject.startswith("Cancelado: ")
    assert "CANCELADO" in cancelled.text
    assert "https://" not in cancelled.sms


def test_citizen_name_is_escaped_in_html(tenant: Tenant, service: Service) -> None:
    booking = make_booking(name='<script>alert("x")</script> & <b>Zé</b>')
    inv = render(tenant, booking, service)
    assert "<script>" not in inv.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Zé&lt;/b&gt;" in inv.html
    assert '<script>alert("x")</script>' in inv.text  # plain text is not HTML: kept as typed


def test_no_cpf_in_sms_or_whatsapp(tenant: Tenant, booking: Booking, service: Service) -> None:
    inv = render(tenant, booking, service)
    for text in (inv.sms, inv.whatsapp, inv.subject):
        digits = "".join(c for c in text if c.isdigit())
        assert CPF not in digits
        assert "529.982.247-25" not in text


def test_cpf_leaking_into_sms_is_refused(tenant: Tenant, service: Service) -> None:
    booking = make_booking(name=f"Maria {CPF}")
    with pytest.raises(InvalidRecordError) as info:
        render(tenant, booking, service)
    assert info.value.record_id == "B-1"
    assert info.value.field == "whatsapp"
    assert CPF not in str(info.value)


def test_tenant_template_overrides_and_cannot_reach_cpf(
    tmp_path: Path, tenant: Tenant, booking: Booking, service: Service
) -> None:
    (tmp_path / "pt-BR").mkdir()
    (tmp_path / "pt-BR" / "sms.txt.j2").write_text("{{ tenant_name }}: {{ join_url }}")
    inv = render(tenant, booking, service, templates_dir=tmp_path)
    assert inv.sms.startswith("Prefeitura de Gravata")
    assert "Dúvidas de IPTU" in inv.text  # the other templates are the built-ins

    (tmp_path / "pt-BR" / "sms.txt.j2").write_text("{{ citizen.cpf }}")
    with pytest.raises(ConfigurationError) as info:
        render(tenant, booking, service, templates_dir=tmp_path / ".")
    assert info.value.field == "templates_dir"
    assert "UndefinedError" in str(info.value)


def test_tenant_templates_are_sandboxed(
    tmp_path: Path, tenant: Tenant, booking: Booking, service: Service
) -> None:
    (tmp_path / "pt-BR").mkdir()
    (tmp_path / "pt-BR" / "whatsapp.txt.j2").write_text(
        "{{ join_url.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(ConfigurationError, match="SecurityError"):
        render(tenant, booking, service, templates_dir=tmp_path)


def test_sms_segments_gsm7_and_ucs2() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_segments("€" * 80) == 1  # extension characters take two septets
    assert sms_segments("€" * 81) == 2
    assert sms_segments("ã" * 70) == 1  # one ã forces UCS-2
    assert sms_segments("ã" * 71) == 2
    assert sms_segments("ã" * 134) == 2
    assert sms_segments("ã" * 135) == 3


def test_sms_kept_within_budget_with_short_link(
    tenant: Tenant, booking: Booking, service: Service
) -> None:
    long_url = "https://meet.example.org/room?jwt=" + "x" * 600
    renderer = InvitationRenderer(max_sms_segments=2)
    args = (tenant, booking, service, make_room(booking), make_link(booking, long_url), REQ)
    with pytest.raises(InvalidRecordError) as info:
        renderer.render(*args)
    assert info.value.field == "sms"
    inv = renderer.render(*args, short_link="https://s.example.org/abc")
    assert sms_segments(inv.sms) <= 2
    assert "https://s.example.org/abc" in inv.sms
    assert long_url in inv.text  # e-mail keeps the real link


def test_sms_folds_accents_and_shortens_service_name(tenant: Tenant, booking: Booking) -> None:
    service = Service(
        code="x",
        name="Revisão de lançamento de imposto predial e territorial urbano e taxas de coleta",
        erp_subject_code="X",
        department_code="FAZ",
    )
    inv = InvitationRenderer(max_sms_segments=1).render(
        tenant, booking, service, make_room(booking), make_link(booking), REQ
    )
    assert sms_segments(inv.sms) == 1
    assert "ã" not in inv.sms  # folded to GSM-7
    assert "Revisao de" in inv.sms
