"""Invitations in the engine: who is invited, with what, through which notifier.

The decisions, in the order sync meets them:

1. :func:`check_booking` (before any side effect): a foreign phone where the tenant does not
   allow one is refused naming ``citizen.phone``. (Tenant templates, under their limits, are
   rendered by sync's preflight before a room, a link or a message exists: a breach is a
   ``ConfigurationError`` naming the template and the booking waits, dirty, for a fix.)
2. :func:`slot_over`: a slot that already ended gets no room and no invitation.
3. :func:`recipient_changed` / :func:`replace_recipient`: when the citizen or their contact
   changed since the last invitation, the old room is closed (its join links stop working: a
   new room name, BBB ``end``), the old recipient gets a CANCEL, and the caller then opens a new
   room and invites the new recipient.
4. :func:`render` and :func:`messages`: one renderer (:mod:`munivideo.invitations`) for citizen
   and servant; times in the tenant's zone; DTSTAMP is the engine's clock.
5. :func:`deliver`: each message goes to the notifiers that declare its channel
   (``notifier.channels``; a notifier that declares nothing takes every channel); a channel no
   notifier takes is reported in ``SyncResult.undeliverable``, not fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from munivideo.engine import delivery
from munivideo.engine.context import Engine
from munivideo.engine.results import BindingSoFar, SyncResult
from munivideo.errors import InvalidRecordError
from munivideo.invitations import invitation_messages, render_invitation
from munivideo.invitations.limits import TemplateLimits
from munivideo.invitations.messages import idempotency_key as message_key
from munivideo.invitations.shortlinks import short_link_for
from munivideo.models import (
    Booking,
    Channel,
    Invitation,
    InvitationMethod,
    JoinLink,
    OutboundMessage,
    Participant,
    Role,
    Room,
    Service,
)
from munivideo.ports import Notifier
from munivideo.store.records import Binding

ALL_CHANNELS = frozenset(Channel)
log = logging.getLogger("munivideo.engine.invite")


# -- 1. before any side effect ----------------------------------------------------------------


def check_booking(engine: Engine, booking: Booking) -> None:
    """Refuse what can be known bad before a room exists (sync's admission calls it; tenant
    templates are tried by sync's preflight render, also before any side effect).

    :raises InvalidRecordError: a foreign phone the tenant does not allow (``citizen.phone``).
    """
    phone = booking.citizen.phone
    if (
        phone is not None
        and not phone.is_brazilian
        and not engine.config.tenant.allow_foreign_phones
    ):
        raise InvalidRecordError(
            f"phone number of {phone.region} is not accepted: set allow_foreign_phones = true "
            "in [tenant] to admit numbers outside Brazil",
            record_id=booking.id,
            field="citizen.phone",
        )


# -- 2. and 3. what to send -------------------------------------------------------------------


def slot_over(engine: Engine, booking: Booking) -> bool:
    """True when the slot ended before now (engine clock): nobody is invited to it."""
    return booking.end <= engine.now()


def _recipient(booking: Booking) -> tuple[str, str, str]:
    citizen = booking.citizen
    return (citizen.document, str(citizen.email or ""), str(citizen.phone or ""))


def recipient_changed(before: Booking | None, booking: Booking) -> bool:
    """True when the citizen (document) or a contact (e-mail, phone) differs from ``before``."""
    return before is not None and _recipient(before) != _recipient(booking)


def replace_recipient(
    engine: Engine, done: BindingSoFar, before: Booking, result: SyncResult
) -> Binding:
    """Revoke what the old recipient holds: close the room (its links stop working) and send
    them a CANCEL (same UID, next SEQUENCE). The caller then opens a new room and invites the
    new recipient. ``done.binding`` follows each step, so a failure keeps what was done."""
    binding = done.binding
    room = binding.room
    if room is not None and not room.closed:
        room = engine.video.close_room(room)
        binding = binding.model_copy(update={"room": room})
        done.binding = binding
        result.rooms_closed += 1
    if room is None or binding.invitation_sequence < 0 or binding.invitation_method == "CANCEL":
        return binding
    sequence = binding.invitation_sequence + 1
    invitation = render(
        engine,
        before,
        room,
        None,
        role=Role.CITIZEN,
        uid=binding.invitation_uid,
        sequence=sequence,
        method=InvitationMethod.CANCEL,
    )
    deliver(engine, before, messages(engine, before, invitation, Role.CITIZEN), result)
    result.cancellations_sent += 1
    binding = binding.model_copy(
        update={"invitation_sequence": sequence, "invitation_method": "CANCEL"}
    )
    done.binding = binding
    log.info("booking %s: recipient changed, old invitation cancelled", before.id)
    return binding


# -- 4. rendering -----------------------------------------------------------------------------


def _closed_link(booking: Booking, room: Room, role: Role) -> JoinLink:
    # A cancellation: the room is closed, its address carries no credential.
    return JoinLink(
        booking_id=booking.id,
        participant_id=f"{role.value}-{booking.id}",
        role=role,
        url=room.base_url,
        expires_at=room.valid_until,
    )


def _participant(booking: Booking, role: Role) -> Participant:
    if role is Role.SERVANT and booking.servant is not None:
        servant = booking.servant
        return Participant(
            id=servant.registration, name=servant.name, email=servant.email, role=role
        )
    citizen = booking.citizen
    return Participant(
        id=f"citizen-{booking.id}", name=citizen.name, email=citizen.email, role=Role.CITIZEN
    )


def _service(engine: Engine, booking: Booking) -> Service:
    found = engine.config.service(booking.service_code)
    if found is not None:
        return found
    # No [[services]] configured: the ERP's code stands for the name.
    return Service(
        code=booking.service_code,
        name=booking.service_code,
        erp_subject_code=booking.service_code,
        department_code=booking.servant.department_code
        if booking.servant and booking.servant.department_code
        else "unknown",
    )


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
    """The invitation of one participant (citizen or servant) through
    :func:`munivideo.invitations.render_invitation`, then the ``invitation_rendered`` hook.

    ``link`` is None for a cancellation. The engine owns SEQUENCE (it may run ahead of the
    ERP's counter when only the room moved); DTSTAMP is the engine's clock."""
    config = engine.config
    settings = config.invitations
    short = None
    if link is None:
        link = _closed_link(booking, room, role)
    elif settings.short_links is not None:
        short = short_link_for(settings.short_links, engine.tenant_id, booking.id, role, room)
        if not getattr(engine.video, "links_expire", True):
            # BBB checksums never expire: every channel gets the redirect, which mints the
            # join link inside the room window only (munivideo.engine.shortlinks).
            link = link.model_copy(update={"url": short})
    invitation = render_invitation(
        config.tenant,
        booking.model_copy(update={"sequence": sequence}),
        _service(engine, booking),
        room,
        link,
        method,
        locale=booking.citizen.locale if role is Role.CITIZEN else config.locale,
        templates_dir=config.templates_dir,
        short_link=short,
        max_sms_segments=settings.max_sms_segments
        if settings.short_links is not None
        else settings.long_sms_segments,
        organizer_email=organizer(engine),
        stamp=engine.now(),
        recipient=_participant(booking, role),
        limits=TemplateLimits(
            seconds=settings.template_seconds,
            max_output_chars=settings.template_max_chars,
        ),
    )
    if invitation.uid != uid and uid != "preflight":
        invitation = invitation.model_copy(update={"uid": uid})
    return engine.plugins.invitation_rendered(config.tenant, booking, invitation)


def organizer(engine: Engine) -> str:
    """The calendar ORGANIZER: the first notifier ``sender`` that is an address."""
    for notifier in engine.config.notifiers:
        sender = notifier.settings.get("sender")
        if isinstance(sender, str) and "@" in sender:
            return sender
    return f"atendimento@{engine.tenant_id}.invalid"


def messages(
    engine: Engine, booking: Booking, invitation: Invitation, role: Role
) -> list[OutboundMessage]:
    """One message per channel the participant can be reached on (the servant: e-mail)."""
    if role is Role.CITIZEN:
        return invitation_messages(invitation, booking)  # keyed by messages.idempotency_key
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
            idempotency_key=message_key(booking, invitation, Channel.EMAIL, Role.SERVANT),
        )
    ]


# -- 5. delivery ------------------------------------------------------------------------------


def channels_of(notifier: Notifier) -> frozenset[Channel]:
    """The channels a notifier declares (``channels`` attribute); all when it declares none."""
    declared = getattr(notifier, "channels", None)
    if declared is None:
        return ALL_CHANNELS
    return frozenset(Channel(c) for c in declared)


def route(notifiers: Iterable[Notifier], channel: Channel) -> list[Notifier]:
    """The notifiers that deliver ``channel``, in configuration order."""
    return [n for n in notifiers if channel in channels_of(n)]


def deliver(
    engine: Engine, booking: Booking, outbound: list[OutboundMessage], result: SyncResult
) -> bool:
    """Send each message through the notifiers of its channel, once per (key, notifier)
    (:func:`munivideo.engine.delivery.deliver`); returns whether anything was sent. A channel
    without a notifier is counted in ``result.undeliverable`` and logged, never raised."""
    sent_any = False
    for message in outbound:
        targets = route(engine.notifiers, message.channel)
        if not targets:
            channel = message.channel.value
            result.undeliverable[channel] = result.undeliverable.get(channel, 0) + 1
            log.info("booking %s: no notifier delivers %s", booking.id, channel)
            continue
        for notifier in targets:
            outcome = delivery.deliver(engine, notifier, message)
            result.messages_sent += outcome == "sent"
            result.unconfirmed += outcome == "unconfirmed"
            sent_any = sent_any or outcome == "sent"
    return sent_any
