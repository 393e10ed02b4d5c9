"""Render an invitation for one participant and turn it into messages per channel."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from munivideo.engine.compat import render_fallback
from munivideo.engine.context import Engine
from munivideo.engine.keys import operation_key
from munivideo.errors import InvalidRecordError
from munivideo.models import (
    Booking,
    Channel,
    Invitation,
    InvitationMethod,
    JoinLink,
    Locale,
    OutboundMessage,
    Role,
    Room,
)

LONG_SMS_SEGMENTS = 12
log = logging.getLogger("munivideo.engine.invite")


def _real_renderer() -> Any | None:
    try:
        module = importlib.import_module("munivideo.invitations")
    except ModuleNotFoundError:
        return None
    return getattr(module, "render_invitation", None)


def _real_messages() -> Any | None:
    try:
        module = importlib.import_module("munivideo.invitations")
    except ModuleNotFoundError:
        return None
    return getattr(module, "invitation_messages", None)


def render(
    engine: Engine,
    booking: Booking,
    room: Room,
    link: JoinLink | None,
    *,
    role: Role,
    uid: str,
    sequence: int,
    method: InvitationMethod,
) -> Invitation:
    config = engine.config
    service = config.service(booking.service_code)
    service_name = service.name if service else booking.service_code
    if role is Role.CITIZEN:
        name, locale = booking.citizen.name, booking.citizen.locale
    else:
        name = booking.servant.name if booking.servant else ""
        locale = config.locale
    organizer = _organizer(engine)
    real = _real_renderer()
    invitation: Invitation | None = None
    if real is not None:
        invitation = _call_real(
            real,
            engine,
            booking,
            room,
            link,
            uid=uid,
            sequence=sequence,
            method=method,
            locale=locale,
            role=role,
        )
    if invitation is None:
        invitation = render_fallback(
            config.tenant,
            booking,
            room,
            link,
            name=name,
            service_name=service_name,
            uid=uid,
            sequence=sequence,
            method=method,
            locale=locale if isinstance(locale, Locale) else Locale.PT_BR,
            organizer=organizer,
        )
    return engine.plugins.invitation_rendered(config.tenant, booking, invitation)


def _call_real(
    real: Any,
    engine: Engine,
    booking: Booking,
    room: Room,
    link: JoinLink | None,
    *,
    uid: str,
    sequence: int,
    method: InvitationMethod,
    locale: Locale,
    role: Role,
) -> Invitation | None:
    """Adapter onto ``munivideo.invitations.render_invitation``, which renders the citizen's
    invitation (templates per tenant, SMS segment budget, VTIMEZONE). Servant invitations stay
    with the built-in renderer."""
    service = engine.config.service(booking.service_code)
    if role is not Role.CITIZEN or service is None:
        return None
    if link is None:  # a cancellation: the room is closed, its address carries no credential
        link = JoinLink(
            booking_id=booking.id,
            participant_id=f"citizen-{booking.id}",
            role=Role.CITIZEN,
            url=room.base_url,
            expires_at=room.valid_until,
        )
    # The engine owns SEQUENCE (it may run ahead of the ERP's counter when only the room moved).
    args = (engine.config.tenant, booking.model_copy(update={"sequence": sequence}), service)
    try:
        invitation: Invitation = real(
            *args, room, link, method, locale=locale, templates_dir=engine.config.templates_dir
        )
    except InvalidRecordError as exc:
        if exc.field != "sms":
            raise
        # A credential-bearing link (a Jitsi JWT) does not fit the SMS budget. Holding back the
        # e-mail and the calendar file for that would be worse than a long SMS: allow one.
        log.warning("booking %s: %s; sending a longer SMS", booking.id, exc.message)
        invitation = real(
            *args,
            room,
            link,
            method,
            locale=locale,
            templates_dir=engine.config.templates_dir,
            max_sms_segments=LONG_SMS_SEGMENTS,
        )
    return invitation


def _organizer(engine: Engine) -> str:
    for notifier in engine.config.notifiers:
        sender = notifier.settings.get("sender")
        if isinstance(sender, str) and "@" in sender:
            return sender
    return f"atendimento@{engine.tenant_id}.invalid"


def messages(
    engine: Engine, booking: Booking, invitation: Invitation, role: Role
) -> list[OutboundMessage]:
    """One message per channel the participant can be reached on."""
    tid = engine.tenant_id
    base = operation_key(
        tid, booking.id, "invitation", f"{invitation.sequence}", invitation.method.value, role.value
    )
    real = _real_messages()
    if role is Role.CITIZEN and real is not None:
        built: list[OutboundMessage] = real(invitation, booking)
        return [
            m.model_copy(update={"idempotency_key": f"{base}:{m.channel.value}"}) for m in built
        ]
    out: list[OutboundMessage] = []
    if role is Role.CITIZEN:
        email, phone = booking.citizen.email, booking.citizen.phone
    else:
        email, phone = (booking.servant.email if booking.servant else None), None
    if email:
        out.append(
            OutboundMessage(
                booking_id=booking.id,
                channel=Channel.EMAIL,
                to=str(email),
                subject=invitation.subject,
                text=invitation.text,
                html=invitation.html,
                ics=invitation.ics,
                ics_method=invitation.method,
                idempotency_key=f"{base}:email",
            )
        )
    if phone:
        out.append(
            OutboundMessage(
                booking_id=booking.id,
                channel=Channel.SMS,
                to=str(phone),
                text=invitation.sms,
                idempotency_key=f"{base}:sms",
            )
        )
    return out
