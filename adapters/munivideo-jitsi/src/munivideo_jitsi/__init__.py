"""Jitsi Meet video provider (entry point ``jitsi``).

Jitsi has no room-creation API: a room exists once someone enters it. Security therefore rests
on two things computed here: an unguessable room name (128 random bits) and, on servers with
token authentication, a short-lived JWT per participant whose ``nbf``/``exp`` bound the room's
validity window and whose ``moderator`` flag is set for the servant only.

Attendance comes from the prosody ``event_sync`` module (jitsi-contrib/prosody-plugins), which
POSTs ``muc-occupant-joined`` / ``muc-occupant-left`` with the occupant's JWT context user. The
user id we put in each token (``mv1|<booking>|<role>|<participant>``) maps occupants back to
booking participants without any lookup table.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import jwt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from munivideo.config import parse_settings
from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    LifecycleError,
)
from munivideo.hookspecs import hookimpl
from munivideo.models import (
    AttendanceEvent,
    Booking,
    EventKind,
    JoinLink,
    Participant,
    Role,
    Room,
    Tenant,
    room_window,
)
from munivideo.ports import VideoProviderFactory
from munivideo.video import (
    check_webhook_secret,
    parse_participant_user_id,
    participant_user_id,
)

log = logging.getLogger("munivideo.jitsi")

_SLUG = re.compile(r"[^a-z0-9]+")


#: The shortest ``app_secret`` each algorithm accepts, in bytes: the hash's output size
#: (RFC 7518 §3.2). A shorter key is refused when the configuration is read.
MIN_SECRET_BYTES: Mapping[str, int] = MappingProxyType({"HS256": 32, "HS384": 48, "HS512": 64})


class JitsiSettings(BaseModel):
    """``[video.settings]`` for ``provider = "jitsi"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The Jitsi Meet server's root URL; rooms are ``<base_url>/<room name>``.
    base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    #: False for public servers without token auth (meet.jit.si style): plain links, no JWT.
    use_jwt: bool = True
    #: The JWT ``iss`` claim: prosody's ``app_id`` (token authentication).
    app_id: str | None = None
    #: The JWT signature algorithm (HMAC-SHA-256/384/512, RFC 7518).
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    #: The HMAC key signing the JWTs: prosody's ``app_secret``; at least as long as the
    #: algorithm's hash (32 bytes for HS256, 48 for HS384, 64 for HS512: RFC 7518 §3.2).
    app_secret: SecretStr | None = None
    #: The JWT ``aud`` claim prosody expects.
    audience: str = "jitsi"
    #: The ``sub`` claim: the tenant/XMPP domain; defaults to the host of ``base_url``.
    subject: str | None = None
    #: Minutes before the slot's start that the room (and each token's ``nbf``) opens.
    early_open_minutes: int = Field(default=15, ge=0, le=240)
    #: Minutes after the slot's end that the room (and each token's ``exp``) stays open.
    grace_minutes: int = Field(default=30, ge=0, le=240)
    #: Room-name prefix (1-16 lowercase letters and digits); default from the tenant id.
    room_prefix: str | None = Field(default=None, pattern=r"^[a-z0-9]{1,16}$")
    #: Shared secret the event_sync module sends (``api_headers``) as ``Authorization: Bearer``.
    webhook_secret: SecretStr | None = None

    @field_validator("app_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # RFC 7518 §3.2: "A key of the same size as the hash output ... or larger MUST be used".
        algorithm = info.data.get("algorithm", "HS256")
        need = MIN_SECRET_BYTES[algorithm]
        if value is not None and len(value.get_secret_value().encode()) < need:
            raise ValueError(
                f"{algorithm} needs an app_secret of at least {need} bytes ({need * 8} bits,"
                " RFC 7518 section 3.2); generate one with `openssl rand -hex 32`"
            )
        return value

    @model_validator(mode="after")
    def _jwt_needs_credentials(self) -> JitsiSettings:
        if self.use_jwt and (not self.app_id or self.app_secret is None):
            raise ValueError("use_jwt needs app_id and app_secret")
        return self


def display_name_fragment(name: str) -> str:
    """``#userInfo.displayName=<value>``: Jitsi reads each hash parameter as URL-encoded JSON,
    so the name is JSON-encoded first (a double quote in ``Padaria "Pão Quente" & Cia`` would
    otherwise end the string and Jitsi would drop the name), then percent-encoded."""
    return "#userInfo.displayName=" + quote(json.dumps(name, ensure_ascii=False), safe="")


class JitsiProvider:
    """Rooms, links and webhook parsing for one tenant's Jitsi server. Keeps no state: all it
    needs later is in the :class:`~munivideo.models.Room` the engine stores.

    :param tenant: the tenant (its id gives the default room-name prefix).
    :param settings: the validated ``[video.settings]``.
    :param clock: the current time (UTC), for the tokens' ``iat``; tests pass a fixed one.
    """

    name = "jitsi"

    def __init__(
        self,
        tenant: Tenant,
        settings: JitsiSettings,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.tenant = tenant
        self.settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self.base_url = settings.base_url.rstrip("/")
        self.prefix = settings.room_prefix or (_SLUG.sub("", tenant.id.lower())[:8] or "mv")
        self.subject = settings.subject or (urlsplit(self.base_url).hostname or "")

    def _window(self, booking: Booking) -> tuple[datetime, datetime]:
        return room_window(
            booking,
            early_open_minutes=self.settings.early_open_minutes,
            grace_minutes=self.settings.grace_minutes,
        )

    def create_room(self, booking: Booking) -> Room:
        """A new room for ``booking``, without calling Jitsi (a Jitsi room exists once someone
        enters it). Its name is ``<prefix>-<32 lowercase hex digits>``: 128 bits from the OS CSPRNG,
        the only secret on a server without token auth, lowercase because Jitsi compares the JWT
        ``room`` claim in lowercase. The prefix is ``room_prefix``, else the tenant id's first 8
        letters and digits. Valid from ``early_open_minutes`` before the slot to ``grace_minutes``
        after it (UTC).

        :returns: the room to store; nothing else is kept anywhere.
        """
        valid_from, valid_until = self._window(booking)
        return Room(
            booking_id=booking.id,
            provider=self.name,
            # 128 bits from the OS CSPRNG, lowercase hex: Jitsi's JWT ``room`` claim is lowercase.
            name=f"{self.prefix}-{secrets.token_hex(16)}",
            base_url=self.base_url,
            valid_from=valid_from,
            valid_until=valid_until,
        )

    def update_room(self, room: Room, booking: Booking) -> Room:
        """The same room (same name, so links already sent keep pointing at it) with its window
        moved to the rescheduled slot. Tokens minted before carry the old ``nbf``/``exp``: send new
        links.

        :raises LifecycleError: the room is closed (field ``room.closed``).
        """
        return room.rescheduled(
            booking,
            early_open_minutes=self.settings.early_open_minutes,
            grace_minutes=self.settings.grace_minutes,
        )

    def close_room(self, room: Room) -> Room:
        """The room marked closed: :meth:`join_link` refuses from now on. Jitsi has no API to close
        a room, so nothing is called; a JWT already handed out stays valid until its ``exp`` (the
        end of the window), and on a server without token auth the URL keeps working.
        """
        return room.model_copy(update={"closed": True})

    def token(self, room: Room, participant: Participant) -> str:
        """The participant's JWT for ``room`` (token-auth servers only)."""
        secret = self.settings.app_secret
        if secret is None or not self.settings.app_id:
            raise ConfigurationError("JWT mode needs app_id and app_secret", field="video.settings")
        claims: dict[str, Any] = {
            "iss": self.settings.app_id,
            "aud": self.settings.audience,
            "sub": self.subject,
            "room": room.name.lower(),
            "nbf": int(room.valid_from.timestamp()),
            "exp": int(room.valid_until.timestamp()),
            "iat": int(self._clock().timestamp()),
            "context": {
                "user": {
                    "id": participant_user_id(room.booking_id, participant),
                    "name": participant.name,
                    "email": str(participant.email) if participant.email else "",
                    "moderator": participant.role is Role.SERVANT,
                }
            },
        }
        return jwt.encode(claims, secret.get_secret_value(), algorithm=self.settings.algorithm)

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        """The participant's link: ``<base_url>/<room name>``, with ``?jwt=<token>`` when
        ``use_jwt`` (see :meth:`token`: ``moderator`` for the servant only, ``nbf``/``exp`` = the
        room window), and ``#userInfo.displayName=`` with the name (:func:`display_name_fragment`).

        :returns: the link; ``expires_at`` is the window's end (UTC).
        :raises LifecycleError: the room is closed (field ``room.closed``).
        :raises ConfigurationError: JWT mode without ``app_id``/``app_secret``.
        """
        if room.closed:
            raise LifecycleError(
                "the room is closed: no join links", record_id=room.booking_id, field="room.closed"
            )
        url = f"{room.base_url}/{quote(room.name)}"
        if self.settings.use_jwt:
            url = f"{url}?jwt={self.token(room, participant)}"
        fragment = display_name_fragment(participant.name)
        return JoinLink(
            booking_id=room.booking_id,
            participant_id=participant.id,
            role=participant.role,
            url=url + fragment,
            expires_at=room.valid_until,
        )

    def attendance_report(self, room: Room) -> list[AttendanceEvent]:
        """Always empty: Jitsi keeps no attendance history to query. Join and leave events arrive
        only by webhook (:meth:`parse_webhook`).
        """
        # Jitsi keeps no attendance history we could query: events come only by webhook.
        return []

    def check_webhook_secret(self, headers: Mapping[str, str]) -> None:
        """Fail closed: no ``webhook_secret`` configured refuses every call
        (:class:`ConfigurationError`); a missing or wrong one is :class:`UnauthenticatedError`."""
        check_webhook_secret(headers, self.settings.webhook_secret, what="event_sync webhook")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AttendanceEvent]:
        """Join/leave events from one call of prosody's ``event_sync`` module
        (jitsi-contrib/prosody-plugins): ``muc-occupant-joined`` and ``muc-occupant-left`` become
        one
        :class:`~munivideo.models.AttendanceEvent` stamped with ``occupant.joined_at``/``left_at``
            (Unix seconds, read as UTC), mapped to the booking by the occupant's JWT user id
            (``mv1|<booking>|<role>|<participant>``). Room events and occupants without that id
            (anonymous, or a server without tokens) give an empty list. ``event_id`` is derived from
            room, occupant, kind and time, so a retried call is deduplicated downstream.

        :param headers: the call's headers; ``Authorization: Bearer <webhook_secret>`` is required.
        :param body: the raw JSON body.
        :returns: zero or one event.
        :raises ConfigurationError: no ``webhook_secret`` configured (every call is refused).
        :raises UnauthenticatedError: the secret is missing or wrong; nothing is read.
        :raises ContractViolationError: the body is not a JSON object, has no ``occupant``, a
            non-numeric time or values an event cannot hold (field named).
        """
        self.check_webhook_secret(headers)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ContractViolationError(
                f"event_sync webhook: not JSON ({exc})", field="body"
            ) from None
        if not isinstance(payload, dict):
            raise ContractViolationError("event_sync webhook: expected an object", field="body")
        name = payload.get("event_name")
        kinds = {"muc-occupant-joined": EventKind.JOIN, "muc-occupant-left": EventKind.LEAVE}
        if name not in kinds:
            return []  # room created/destroyed: nothing to record for attendance
        kind = kinds[name]
        occupant = payload.get("occupant")
        if not isinstance(occupant, dict):
            raise ContractViolationError(f"event_sync {name}: no occupant", field="occupant")
        stamp_field = "joined_at" if kind is EventKind.JOIN else "left_at"
        stamp = occupant.get(stamp_field)
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            raise ContractViolationError(
                f"event_sync {name}: occupant.{stamp_field} is not a number",
                field=f"occupant.{stamp_field}",
            )
        user = parse_participant_user_id(str(occupant.get("id") or ""))
        if user is None:
            # Anonymous occupants (no-JWT mode, or a guest) cannot be tied to a participant.
            log.info(
                "event_sync %s in %s: occupant without a munivideo user id, skipped",
                name,
                payload.get("room_name"),
            )
            return []
        booking_id, role, participant_id = user
        jid = str(occupant.get("occupant_jid") or participant_id)
        try:
            return [
                AttendanceEvent(
                    event_id=f"jitsi:{payload.get('room_name', '')}:{jid}:{kind.value}:{stamp}",
                    booking_id=booking_id,
                    participant_id=participant_id,
                    role=role,
                    kind=kind,
                    at=datetime.fromtimestamp(float(stamp), UTC),
                    source="jitsi:event_sync",
                )
            ]
        except (ValidationError, ValueError, OverflowError) as exc:
            raise ContractViolationError(
                f"event_sync {name}: {exc}", record_id=booking_id, field="occupant"
            ) from None


def make_jitsi_provider(tenant: Tenant, settings: Mapping[str, Any]) -> JitsiProvider:
    """The ``jitsi`` factory: validate ``[video.settings]`` (:class:`JitsiSettings`) and build the
    provider.

    :raises ConfigurationError: naming the first offending ``video.settings.<key>`` (e.g.
        ``use_jwt`` without ``app_id`` and ``app_secret``).
    """
    parsed = parse_settings(
        JitsiSettings, settings, tenant=tenant, section="video.settings", adapter="jitsi"
    )
    return JitsiProvider(tenant, parsed)


@hookimpl
def register_video_providers(register: Any) -> None:
    """pluggy hook (:func:`munivideo.hookspecs.register_video_providers`): register
    :func:`make_jitsi_provider` under ``jitsi``, the name tenants use in ``[video] provider``.

    :param register: the host's callback, ``register(name, factory)``.
    """
    factory: VideoProviderFactory = make_jitsi_provider
    register("jitsi", factory)


__all__ = [
    "JitsiProvider",
    "JitsiSettings",
    "display_name_fragment",
    "make_jitsi_provider",
    "participant_user_id",
]
