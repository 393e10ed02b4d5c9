"""Invitations: jinja2-rendered e-mail (text + HTML), SMS, WhatsApp and an iCalendar file."""

from munivideo.invitations.calendar import booking_uid, build_ics
from munivideo.invitations.messages import idempotency_key, invitation_messages
from munivideo.invitations.render import (
    DEFAULT_MAX_SMS_SEGMENTS,
    InvitationRenderer,
    render_invitation,
)
from munivideo.invitations.sms import fold_to_gsm7, is_gsm7, sms_segments

__all__ = [
    "DEFAULT_MAX_SMS_SEGMENTS",
    "InvitationRenderer",
    "booking_uid",
    "build_ics",
    "fold_to_gsm7",
    "idempotency_key",
    "invitation_messages",
    "is_gsm7",
    "render_invitation",
    "sms_segments",
]
