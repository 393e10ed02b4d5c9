"""Render an invitation for every channel from jinja2 templates.

Built-in templates ship in ``templates/<locale>/``. A tenant may override any of them by putting
a file with the same relative path in its ``templates_dir``; tenant templates are third-party
input, so they run in jinja2's sandbox. Every environment uses ``StrictUndefined`` (a typo in a
template fails loudly instead of sending a blank) and autoescapes HTML templates.

Templates receive only what an invitation needs; the citizen's CPF/CNPJ, phone and e-mail are
never in the context, and the rendered SMS/WhatsApp texts are checked for the document anyway.
Tenant templates also run under time, output-size, loop and call-depth limits
(:mod:`munivideo.invitations.limits`); a breach is a ``ConfigurationError`` naming the template.

One renderer serves both participants: the citizen (every channel) and the servant (e-mail and
calendar, moderator link, ATTENDEE role CHAIR). Every time in a text is in the tenant's zone
(``Tenant.timezone``), written by Babel in the tenant's ``date_locale`` or the template language.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from munivideo.errors import ConfigurationError, InvalidRecordError
from munivideo.invitations.calendar import booking_uid, build_ics
from munivideo.invitations.dates import format_date, format_short_date, format_time, zone_name
from munivideo.invitations.limits import (
    LimitedSandbox,
    TemplateLimitError,
    TemplateLimits,
    render_limited,
)
from munivideo.invitations.sms import fold_to_gsm7, sms_segments
from munivideo.models import (
    Booking,
    Invitation,
    InvitationMethod,
    JoinLink,
    Locale,
    Participant,
    Role,
    Room,
    Service,
    Tenant,
)
from munivideo.values import utcnow

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


def _environment(
    templates_dir: Path | None, limits: TemplateLimits | None = None
) -> jinja2.Environment:
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
    return LimitedSandbox(loader=loader, limits=limits, **options)


@dataclass(frozen=True)
class InvitationRenderer:
    """Compiled templates for one ``templates_dir`` (None: built-ins only). Reuse it: compiling
    the templates costs far more than rendering them."""

    templates_dir: Path | None = None
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS
    organizer_email: str | None = None
    reminder_minutes: int = 15
    limits: TemplateLimits = field(default_factory=TemplateLimits)

    @functools.cached_property
    def environment(self) -> jinja2.Environment:
        """The jinja2 environment (sandboxed and limited when tenant templates are in use)."""
        return _environment(self.templates_dir, self.limits)

    def _render(self, locale: Locale, name: str, context: dict[str, Any], booking_id: str) -> str:
        path = f"{locale.value}/{name}"
        try:
            template = self.environment.get_template(path)
            if isinstance(self.environment, LimitedSandbox):
                return render_limited(template, context, self.limits).strip()
            return template.render(context).strip()
        except TemplateLimitError as exc:
            raise ConfigurationError(
                f"invitation template {path} stopped: {exc}",
                record_id=booking_id,
                field="templates_dir",
            ) from None
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
        recipient: Participant | None = None,
    ) -> Invitation:
        """Render every channel and the calendar file for one booking and one recipient.

        :param citizen_link: the recipient's join link (the servant's for a servant invitation;
            for a cancellation, a link to the closed room: its address carries no credential).
        :param recipient: who the invitation is for (default: the citizen); a servant gets the
            e-mail and calendar texts only (no SMS/WhatsApp) and is the ATTENDEE with role CHAIR.
        :param stamp: DTSTAMP and the moment the texts are rendered (default: now).
        :param short_link: a shorter address for the same link, used when the SMS does not fit.
        :raises munivideo.errors.InvalidRecordError: the room or link is another booking's
            (field ``room``); no SMS variant (accents folded to GSM-7, the short link, the
            service name shortened) fits ``max_sms_segments`` (field ``sms``); a text would
            carry the citizen's CPF or CNPJ (field: the text's name).
        :raises munivideo.errors.ConfigurationError: a template failed or ran past its
            limits (time, output size, loops; field ``templates_dir``).
        """
        if citizen_link.booking_id != booking.id or room.booking_id != booking.id:
            raise InvalidRecordError(
                "room or join link belongs to another booking", record_id=booking.id, field="room"
            )
        who = recipient or _citizen(booking)
        servant = who.role is Role.SERVANT
        lang = locale or (tenant.locale if servant else booking.citizen.locale) or tenant.locale
        context = _context(tenant, booking, service, citizen_link, method, lang, who)
        subject = self._render(lang, "subject.txt.j2", context, booking.id)
        context["subject"] = subject
        text = self._render(lang, "email.txt.j2", context, booking.id)
        html = self._render(lang, "email.html.j2", context, booking.id)
        whatsapp = "" if servant else self._render(lang, "whatsapp.txt.j2", context, booking.id)
        sms = "" if servant else self._fit_sms(lang, context, booking.id, short_link)
        for name, value in (("subject", subject), ("sms", sms), ("whatsapp", whatsapp)):
            _refuse_document(booking, name, value)
        cancelled = method is InvitationMethod.CANCEL
        ics = build_ics(
            tenant=tenant,
            booking=booking,
            method=method,
            summary=subject,
            description=text,
            join_url="" if cancelled else citizen_link.url,
            organizer_email=self.organizer_email,
            reminder_minutes=self.reminder_minutes,
            stamp=stamp or utcnow(),
            attendee=who,
            tz=tenant.zone,
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


def _citizen(booking: Booking) -> Participant:
    return Participant(
        id=f"citizen-{booking.id}",
        name=booking.citizen.name,
        email=booking.citizen.email,
        role=Role.CITIZEN,
    )


def _context(
    tenant: Tenant,
    booking: Booking,
    service: Service,
    link: JoinLink,
    method: InvitationMethod,
    lang: Locale,
    recipient: Participant,
) -> dict[str, Any]:
    cancelled = method is InvitationMethod.CANCEL
    zone = tenant.zone
    words = tenant.date_locale or lang
    return {
        "tenant_name": tenant.name,
        "citizen_name": booking.citizen.name,
        "servant_name": booking.servant.name if booking.servant else "",
        "recipient_name": recipient.name,
        "role": recipient.role.value,
        "service_name": service.name,
        "booking_id": booking.id,
        "sequence": booking.sequence,
        "date": format_date(booking.start, words, zone),
        "date_short": format_short_date(booking.start, words, zone),
        "start_time": format_time(booking.start, words, zone),
        "end_time": format_time(booking.end, words, zone),
        "zone_name": zone_name(booking.start, words, zone),
        "timezone": zone.key,
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
    limits: TemplateLimits,
) -> InvitationRenderer:
    # Cached so repeated calls reuse compiled templates; the renderer itself is immutable.
    return InvitationRenderer(
        templates_dir=templates_dir,
        max_sms_segments=max_sms_segments,
        organizer_email=organizer_email,
        reminder_minutes=reminder_minutes,
        limits=limits,
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
    stamp: datetime | None = None,
    recipient: Participant | None = None,
    limits: TemplateLimits | None = None,
) -> Invitation:
    """Render one invitation (every channel plus the ``.ics``) with the built-in or tenant
    templates, for the citizen or (``recipient`` with role servant) the servant.

    :param organizer_email: the calendar ORGANIZER address; keep it the same for a booking's
        whole life (default ``atendimento@<tenant id>.invalid``).
    :param reminder_minutes: the VALARM lead time (0: no alarm).
    :param stamp: the time of rendering (DTSTAMP); default now.
    :param limits: limits for tenant templates (default :class:`TemplateLimits`).
    :raises ConfigurationError: a template failed or went past a limit (field names it).
    :raises InvalidRecordError: the SMS cannot fit, or a text holds the citizen's document.
    """
    renderer = _renderer(
        templates_dir,
        max_sms_segments,
        organizer_email,
        reminder_minutes,
        limits or TemplateLimits(),
    )
    return renderer.render(
        tenant,
        booking,
        service,
        room,
        citizen_link,
        method,
        locale=locale,
        short_link=short_link,
        stamp=stamp,
        recipient=recipient,
    )
