"""Turn a rendered invitation into one outbound message per channel the citizen can receive."""

from __future__ import annotations

from collections.abc import Iterable

from munivideo.models import Booking, Channel, Invitation, OutboundMessage


def idempotency_key(booking: Booking, invitation: Invitation, channel: Channel) -> str:
    """Deterministic per (tenant, booking, sequence, channel): a retried send is the same
    message, while a reschedule or cancel (higher sequence) is a new one."""
    return f"invite:{booking.tenant_id}:{booking.id}:{invitation.sequence}:{channel.value}"


def invitation_messages(
    invitation: Invitation,
    booking: Booking,
    *,
    channels: Iterable[Channel] = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP),
) -> list[OutboundMessage]:
    """Messages for ``channels``, skipping those the citizen has no address for (SMS and
    WhatsApp need a phone, WhatsApp a mobile one)."""
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
        elif channel is Channel.SMS and citizen.phone is not None:
            out.append(
                OutboundMessage(
                    booking_id=booking.id,
                    channel=channel,
                    to=str(citizen.phone),
                    text=invitation.sms,
                    idempotency_key=idempotency_key(booking, invitation, channel),
                )
            )
        elif channel is Channel.WHATSAPP and citizen.phone is not None and citizen.phone.is_mobile:
            out.append(
                OutboundMessage(
                    booking_id=booking.id,
                    channel=channel,
                    to=str(citizen.phone),
                    text=invitation.whatsapp,
                    idempotency_key=idempotency_key(booking, invitation, channel),
                )
            )
    return out
