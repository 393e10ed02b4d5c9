"""Turn a rendered invitation into one outbound message per channel, and an e-mail message into
MIME bytes a mail server and a calendar client accept."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, parseaddr

from munivideo.models import Booking, Channel, Invitation, OutboundMessage, Role
from munivideo.transport.idempotency import idempotency_key as transport_key
from munivideo.values import utcnow

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

WIRE_POLICY = compat32.clone(linesep="\r\n")
"""How :func:`build_email` messages are written to bytes (CRLF lines, as SMTP sends them)."""


def _crlf(text: str) -> str:
    # Text parts are base64-encoded in canonical form: CRLF line breaks (RFC 2045 section 6.8).
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def idempotency_key(
    booking: Booking, invitation: Invitation, channel: Channel, role: Role = Role.CITIZEN
) -> str:
    """The key of one invitation message: the write key
    (:func:`munivideo.transport.idempotency.idempotency_key`) of (tenant, booking,
    ``invitation``, sequence, method, role), then ``:<channel>``, e.g.
    ``"gravatai:AG-000001:invitation:0:REQUEST:citizen:email"``. A retried send is the same
    message; a reschedule or cancel (higher sequence, other method) is a new one."""
    base = transport_key(
        booking.tenant_id,
        booking.id,
        "invitation",
        str(invitation.sequence),
        invitation.method.value,
        role.value,
    )
    return f"{base}:{channel.value}"


def invitation_messages(
    invitation: Invitation,
    booking: Booking,
    *,
    channels: Iterable[Channel] = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP),
) -> list[OutboundMessage]:
    """Messages for ``channels``, skipping those the citizen has no address for (SMS and
    WhatsApp need a phone that can receive them: a mobile, not a landline)."""
    citizen = booking.citizen
    out: list[OutboundMessage] = []
    for channel in channels:
        if channel is Channel.EMAIL and citizen.email is not None:
            out.append(
                OutboundMessage(
                    booking_id=booking.id,
                    channel=channel,
                    to=str(citizen.email),
                    subject=invitation.subject,
                    text=invitation.text,
                    html=invitation.html,
                    ics=invitation.ics,
                    ics_method=invitation.method,
                    idempotency_key=idempotency_key(booking, invitation, channel),
                )
            )
        elif (
            channel in (Channel.SMS, Channel.WHATSAPP)
            and citizen.phone is not None
            and citizen.phone.is_mobile
        ):
            text = invitation.sms if channel is Channel.SMS else invitation.whatsapp
            out.append(
                OutboundMessage(
                    booking_id=booking.id,
                    channel=channel,
                    to=str(citizen.phone),
                    text=text,
                    idempotency_key=idempotency_key(booking, invitation, channel),
                )
            )
    return out


def message_id(idempotency_key: str, sender: str) -> str:
    """``<key@sender-domain>``: stable across resends (mail clients collapse duplicates) and on
    the sender's own domain (RFC 5322 section 3.6.4; spam filters check it)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "munivideo.invalid"
    return f"<{_SAFE.sub('-', idempotency_key)}@{domain.lower()}>"


def build_email(message: OutboundMessage, *, sender: str, now: datetime | None = None) -> Message:
    """A MIME message built with ``email.mime``: ``multipart/mixed`` holding a
    ``multipart/alternative`` (text, optional HTML) and, when there is a calendar, a
    ``text/calendar`` part whose ``method`` parameter matches the calendar's METHOD (what
    calendar clients check). Headers: ``From``, ``To``, ``Subject`` (RFC 2047 when not ASCII),
    ``Date`` (``now``, default the time of building), ``Message-ID`` on the sender's domain
    (:func:`message_id`), ``X-Munivideo-Booking``.
    """
    body: Message = MIMEText(_crlf(message.text), "plain", "utf-8")
    if message.html is not None:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(MIMEText(_crlf(message.html), "html", "utf-8"))
        body = alternative
    if message.ics is not None:
        mail: Message = MIMEMultipart("mixed")
        mail.attach(body)
        calendar = MIMEText(message.ics.decode("utf-8"), "calendar", "utf-8")
        method = message.ics_method.value if message.ics_method else "REQUEST"
        calendar.set_param("method", method)
        calendar.add_header("Content-Disposition", "attachment", filename="invite.ics")
        mail.attach(calendar)
    else:
        mail = body
    mail["From"] = sender
    mail["To"] = message.to
    if message.subject.isascii():
        mail["Subject"] = message.subject
    else:  # RFC 2047; the compat32 generator (WIRE_POLICY, smtplib) folds it
        mail["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]
    mail["Date"] = format_datetime(now or utcnow())
    mail["Message-ID"] = message_id(message.idempotency_key, sender)
    mail["X-Munivideo-Booking"] = message.booking_id
    return mail
