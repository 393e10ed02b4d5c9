"""Render an invitation for one participant and turn it into messages per channel."""

from __future__ import annotations

import logging

from munivideo.engine.compat import render_fallback
from munivideo.engine.context import Engine
from munivideo.engine.keys import operation_key
from munivideo.errors import InvalidRecordError
from munivideo.invitations import invitation_messages, render_invitation
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
    invitation = _render_citizen(
        engine,
        booking,
        room,
        link,
        sequence=sequence,
        method=method,
        locale=locale,
        role=role,
        organizer=organizer,
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


def _render_citizen(
    engine: Engine,
    booking: Booking,
    room: Room,
    link: JoinLink | None,
    *,
    sequence: int,
    method: InvitationMethod,
    locale: Locale,
    role: Role,
    organizer: str,
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
        invitation = render_invitation(
            *args,
            room,
            link,
            method,
            locale=locale,
            templates_dir=engine.config.templates_dir,
            organizer_email=organizer,
        )
    except InvalidRecordError as exc:
        if exc.field != "sms":
            raise
        # A credential-bearing link (a Jitsi JWT) does not fit the SMS budget. Holding back the
        # e-mail and the calendar file for that would be worse than a long SMS: allow one.
        log.warning("booking %s: %s; sending a longer SMS", booking.id, exc.message)
        invitation = render_invitation(
            *args,
            room,
            link,
            method,
            locale=locale,
            templates_dir=engine.config.templates_dir,
            max_sms_segments=LONG_SMS_SEGMENTS,
            organizer_email=organizer,
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
    if role is Role.CITIZEN:
        built = invitation_messages(invitation, booking)
        return [
            m.model_copy(update={"idempotency_key": f"{base}:{m.channel.value}"}) for m in built
        ]
    # The servant is reached by e-mail only (the calendar file matters most to them).
    email = booking.servant.email if booking.servant else None
    if email is None:
        return []
    return [
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
    ]
