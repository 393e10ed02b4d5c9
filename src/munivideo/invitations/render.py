"""Render an invitation for every channel from jinja2 templates.

Built-in templates ship in ``templates/<locale>/``. A tenant may override any of them by putting
a file with the same relative path in its ``templates_dir``; tenant templates are third-party
input, so they run in jinja2's sandbox. Every environment uses ``StrictUndefined`` (a typo in a
template fails loudly instead of sending a blank) and autoescapes HTML templates.

Templates receive only what an invitation needs; the citizen's CPF/CNPJ, phone and e-mail are
never in the context, and the rendered SMS/WhatsApp texts are checked for the document anyway.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from munivideo.errors import ConfigurationError, InvalidRecordError
from munivideo.invitations.calendar import booking_uid, build_ics
from munivideo.invitations.dates import format_date, format_short_date, format_time
from munivideo.invitations.sms import fold_to_gsm7, sms_segments
from munivideo.models import (
    Booking,
    Invitation,
    InvitationMethod,
    JoinLink,
    Locale,
    Room,
    Service,
    Tenant,
)

TEMPLATE_NAMES = (
    "subject.txt.j2",
    "email.txt.j2",
    "email.html.j2",
    "sms.txt.j2",
    "whatsapp.txt.j2",
)
DEFAULT_MAX_SMS_SEGMENTS = 3
_MIN_SERVICE_NAME = 12


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".html", ".htm"))


def _environment(templates_dir: Path | None) -> jinja2.Environment:
    builtin = jinja2.PackageLoader("munivideo.invitations", "templates")
    options: dict[str, Any] = {
        "undefined": jinja2.StrictUndefined,
        "autoescape": _autoescape,
        "keep_trailing_newline": False,
        "trim_blocks": True,
    }
    if templates_dir is None:
        return jinja2.Environment(loader=builtin, **options)  # noqa: S701 - autoescape is set
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(templates_dir)), builtin])
    return SandboxedEnvironment(loader=loader, **options)


@dataclass(frozen=True)
class InvitationRenderer:
    """Compiled templates for one ``templates_dir`` (None: built-ins only). Reuse it: compiling
    the templates costs far more than rendering them."""

    templates_dir: Path | None = None
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS
    organizer_email: str | None = None
    reminder_minutes: int = 15

    @functools.cached_property
    def environment(self) -> jinja2.Environment:
        return _environment(self.templates_dir)

    def _render(self, locale: Locale, name: str, context: dict[str, Any], booking_id: str) -> str:
        path = f"{locale.value}/{name}"
        try:
            return self.environment.get_template(path).render(context).strip()
        except jinja2.TemplateError as exc:
            raise ConfigurationError(
                f"invitation template {path} failed: {type(exc).__name__}: {exc}",
                record_id=booking_id,
                field="templates_dir",
            ) from None

    def render(
        self,
        tenant: Tenant,
        booking: Booking,
        service: Service,
        room: Room,
        citizen_link: JoinLink,
        method: InvitationMethod,
        *,
        locale: Locale | None = None,
        short_link: str | None = None,
        stamp: datetime | None = None,
    ) -> Invitation:
        """Render every channel and the calendar file for one booking."""
        if citizen_link.booking_id != booking.id or room.booking_id != booking.id:
            raise InvalidRecordError(
                "room or join link belongs to another booking", record_id=booking.id, field="room"
            )
        lang = locale or booking.citizen.locale or tenant.locale
        context = _context(tenant, booking, service, citizen_link, method, lang)
        subject = self._render(lang, "subject.txt.j2", context, booking.id)
        context["subject"] = subject
        text = self._render(lang, "email.txt.j2", context, booking.id)
        html = self._render(lang, "email.html.j2", context, booking.id)
        whatsapp = self._render(lang, "whatsapp.txt.j2", context, booking.id)
        sms = self._fit_sms(lang, context, booking.id, short_link)
        for field, value in (("subject", subject), ("sms", sms), ("whatsapp", whatsapp)):
            _refuse_document(booking, field, value)
        ics = build_ics(
            tenant=tenant,
            booking=booking,
            method=method,
            summary=subject,
            description=text,
            join_url=citizen_link.url,
            organizer_email=self.organizer_email,
            reminder_minutes=self.reminder_minutes,
            stamp=stamp,
        )
        return Invitation(
            booking_id=booking.id,
            uid=booking_uid(tenant.id, booking.id),
            sequence=booking.sequence,
            method=method,
            locale=lang,
            subject=subject,
            text=text,
            html=html,
            sms=sms,
            whatsapp=whatsapp,
            ics=ics,
        )

    def _fit_sms(
        self, lang: Locale, context: dict[str, Any], booking_id: str, short_link: str | None
    ) -> str:
        """The first variant that fits the segment budget: as is, accents folded to GSM-7,
        with the short link, then with the service name shortened step by step."""
        links = [context["join_url"]] + ([short_link] if short_link else [])
        name = str(context["service_name"])
        names = [name]
        while len(names[-1]) > _MIN_SERVICE_NAME + 1:
            cut = max(_MIN_SERVICE_NAME, len(names[-1]) * 2 // 3)
            names.append(names[-1][:cut].rstrip(" .") + ".")
        best = ""
        for service_name in names:
            for link in links:
                text = self._render(
                    lang,
                    "sms.txt.j2",
                    {**context, "join_url": link, "service_name": service_name},
                    booking_id,
                )
                for variant in (text, fold_to_gsm7(text)):
                    if sms_segments(variant) <= self.max_sms_segments:
                        return variant
                    best = variant
        raise InvalidRecordError(
            f"SMS needs {sms_segments(best)} segments, more than {self.max_sms_segments}; "
            "give a short link or raise max_sms_segments",
            record_id=booking_id,
            field="sms",
        )


def _context(
    tenant: Tenant,
    booking: Booking,
    service: Service,
    link: JoinLink,
    method: InvitationMethod,
    lang: Locale,
) -> dict[str, Any]:
    cancelled = method is InvitationMethod.CANCEL
    return {
        "tenant_name": tenant.name,
        "citizen_name": booking.citizen.name,
        "servant_name": booking.servant.name if booking.servant else "",
        "service_name": service.name,
        "booking_id": booking.id,
        "sequence": booking.sequence,
        "date": format_date(booking.start, lang),
        "date_short": format_short_date(booking.start, lang),
        "start_time": format_time(booking.start, lang),
        "end_time": format_time(booking.end, lang),
        "duration_minutes": int((booking.end - booking.start).total_seconds() // 60),
        "join_url": link.url,
        "cancelled": cancelled,
        "rescheduled": not cancelled and booking.sequence > 0,
        "locale": lang.value,
    }


def _refuse_document(booking: Booking, field: str, value: str) -> None:
    digits = re.sub(r"\D", "", value)
    for document in (booking.citizen.cpf, booking.citizen.cnpj):
        if document is not None and str(document) in digits:
            raise InvalidRecordError(
                f"the {field} text contains the citizen's document number",
                record_id=booking.id,
                field=field,
            )


@functools.lru_cache(maxsize=32)
def _renderer(
    templates_dir: Path | None,
    max_sms_segments: int,
    organizer_email: str | None,
    reminder_minutes: int,
) -> InvitationRenderer:
    # Cached so repeated calls reuse compiled templates; the renderer itself is immutable.
    return InvitationRenderer(
        templates_dir=templates_dir,
        max_sms_segments=max_sms_segments,
        organizer_email=organizer_email,
        reminder_minutes=reminder_minutes,
    )


def render_invitation(
    tenant: Tenant,
    booking: Booking,
    service: Service,
    room: Room,
    citizen_link: JoinLink,
    method: InvitationMethod,
    *,
    locale: Locale | None = None,
    templates_dir: Path | None = None,
    short_link: str | None = None,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
    organizer_email: str | None = None,
    reminder_minutes: int = 15,
) -> Invitation:
    """Render one invitation (every channel plus the ``.ics``) with the built-in or tenant
    templates.

    :param organizer_email: the calendar ORGANIZER address; keep it the same for a booking's
        whole life (default ``atendimento@<tenant id>.invalid``).
    :param reminder_minutes: the VALARM lead time (0: no alarm).
    """
    renderer = _renderer(templates_dir, max_sms_segments, organizer_email, reminder_minutes)
    return renderer.render(
        tenant, booking, service, room, citizen_link, method, locale=locale, short_link=short_link
    )
