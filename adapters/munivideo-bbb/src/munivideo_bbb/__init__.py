"""BigBlueButton video provider (entry point ``bbb``).

Every API call is ``GET <api>/<call>?<query>&checksum=<hex(H(call + query + secret))>`` with H
SHA-1 by default (SHA-256/384/512 since BBB 2.5). Responses are XML, parsed with defusedxml.

Meeting ids are random (128 bits) and the attendee/moderator passwords, still required by BBB
before 2.6, are derived from the shared secret and the meeting id, so the provider keeps no state
and any process can rebuild them. Join links carry ``role=MODERATOR|VIEWER`` and a ``userID``
(``mv1|<booking>|<role>|<participant>``) that BBB echoes back in ``getMeetingInfo`` and in
webhooks, which maps attendees to booking participants.

BBB removes a meeting nobody joined after ``meetingExpireIfNoUserJoinedInMinutes``; call
:meth:`BbbProvider.ensure_meeting` (an idempotent ``create``) when the room opens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode
from xml.etree.ElementTree import Element

import requests
from defusedxml import ElementTree as SafeET
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from munivideo.config import parse_settings
from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    LifecycleError,
    RejectedError,
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
from munivideo.transport.classify import HttpStatusError, peer_failure
from munivideo.transport.http import Timeouts, build_session
from munivideo.video import (
    check_webhook_secret,
    parse_participant_user_id,
    participant_user_id,
)

log = logging.getLogger("munivideo.bbb")

Algorithm = Literal["sha1", "sha256", "sha384", "sha512"]


def checksum(call: str, query: str, secret: str, algorithm: Algorithm = "sha1") -> str:
    """BBB's request checksum: ``hex(H(callName + queryString + sharedSecret))``."""
    return hashlib.new(algorithm, f"{call}{query}{secret}".encode()).hexdigest()


#: The shortest BBB shared ``secret`` accepted: the checksum ``H(call + query + secret)`` is
#: plain hashing, not HMAC, so the secret's length is all that stands between an observer of one
#: signed URL and forging any API call (ending meetings, minting moderator joins). 32 characters
#: give 128 bits even when the secret is hex (``openssl rand -hex 16``), the NIST SP 800-131A
#: floor for symmetric keys.
MIN_SECRET_CHARS = 32


class BbbSettings(BaseModel):
    """``[video.settings]`` for ``provider = "bbb"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The API root, e.g. ``https://bbb.example.org/bigbluebutton/api``.
    url: str = Field(pattern=r"^https?://[^\s]+$")
    #: The server's shared secret (``bbb-conf --secret``); signs every call. At least
    #: :data:`MIN_SECRET_CHARS` characters: it is the checksum's only unknown.
    secret: SecretStr
    #: The checksum's hash; ``sha256``/``sha384``/``sha512`` need BBB 2.5 or later.
    checksum_algorithm: Algorithm = "sha1"
    #: Seconds for each connect and each read.
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: Wall-clock bound of one whole API call and the cap on the answer's size.
    total_seconds: float = Field(default=30.0, gt=0, le=600)
    max_response_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    #: Minutes before the slot's start that the room opens.
    early_open_minutes: int = Field(default=15, ge=0, le=240)
    #: Minutes after the slot's end that the room stays open.
    grace_minutes: int = Field(default=30, ge=0, le=240)
    #: Create the meeting only inside the room window (at the first click through the engine's
    #: join redirect, ``[invitations.short_links]``) and let BBB end it when the window closes:
    #: join URLs then work only inside the window, as Jitsi's JWTs do.
    meeting_on_demand: bool = False
    #: Token the webhook receiver must present as ``Authorization: Bearer <token>``.
    webhook_secret: SecretStr | None = None

    @field_validator("secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"the BBB shared secret needs at least {MIN_SECRET_CHARS} characters (it is the"
                " only unknown in every call's checksum); set one with `bbb-conf --setsecret`"
            )
        return value


def _text(node: Element, tag: str) -> str:
    child = node.find(tag)
    return (child.text or "").strip() if child is not None else ""


class BbbProvider:
    """Rooms, links, attendance and webhooks for one tenant's BigBlueButton server. Keeps no
    state: the meeting id is the room's ``provider_ref`` and the passwords derive from it.

    :param tenant: the tenant (its name titles the meetings).
    :param settings: the validated ``[video.settings]``.
    :param session: the HTTP session for API calls; default a pooled one bounded by the
        settings' ``timeout_seconds``, ``total_seconds`` and ``max_response_bytes``.
    :param clock: the current time (UTC), for on-demand windows and attendance stamps.
    """

    name = "bbb"
    #: BBB checksums never expire: the engine hands out its join redirect instead, when short
    #: links are configured (see :mod:`munivideo.engine.shortlinks`).
    links_expire = False

    def __init__(
        self,
        tenant: Tenant,
        settings: BbbSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.tenant = tenant
        self.settings = settings
        self.api = settings.url.rstrip("/")
        self.session = session or build_session(
            Timeouts.of(
                settings.timeout_seconds, settings.total_seconds, settings.max_response_bytes
            ),
            pool_size=4,
        )
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- signing and calling ---------------------------------------------------------------

    def signed_url(self, call: str, params: Mapping[str, str]) -> str:
        """A signed API URL, as the BigBlueButton API documentation specifies:
        ``<url>/<call>?<query>&checksum=<hex(H(call + query + secret))>`` with the query URL-encoded
        in ``params`` order and H the ``checksum_algorithm`` (SHA-1 by default; SHA-256/384/512
        since BBB 2.5). The URL is a credential for that one call: it never expires.

        :param call: the API call's name (``create``, ``join``, ``end``, ``getMeetingInfo``).
        :param params: the call's parameters, in the order they are signed.
        """
        query = urlencode(params)
        secret = self.settings.secret.get_secret_value()
        digest = checksum(call, query, secret, self.settings.checksum_algorithm)
        return f"{self.api}/{call}?{query}&checksum={digest}"

    def _call(self, call: str, params: Mapping[str, str], record_id: str) -> Element:
        url = self.signed_url(call, params)
        # Failures are classified by the shared table (munivideo.transport.classify), so a
        # connection dropped after the request was sent is ambiguous here as for the ERP.
        try:
            response = self.session.get(url, timeout=self.settings.timeout_seconds)
        except requests.RequestException as exc:
            raise peer_failure(
                exc, f"BBB {call}: {type(exc).__name__}", record_id=record_id
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise peer_failure(
                HttpStatusError(status, headers=dict(response.headers)),
                f"BBB {call}: HTTP {status}",
                record_id=record_id,
            )
        try:
            root: Element = SafeET.fromstring(response.content)
        except Exception as exc:  # noqa: BLE001 - defusedxml raises several unrelated types
            raise ContractViolationError(
                f"BBB {call}: response is not safe XML ({type(exc).__name__})", record_id=record_id
            ) from None
        if _text(root, "returncode") != "SUCCESS":
            key, message = _text(root, "messageKey"), _text(root, "message")
            if key == "checksumError":
                raise ConfigurationError(
                    f"BBB {call}: checksum refused; check the shared secret",
                    field="video.settings.secret",
                )
            raise RejectedError(
                f"BBB {call} failed: {key or 'FAILED'}: {message}", record_id=record_id
            )
        return root

    def _password(self, meeting_id: str, role: Role) -> str:
        key = self.settings.secret.get_secret_value().encode()
        return hmac.new(key, f"{meeting_id}:{role.value}".encode(), "sha256").hexdigest()[:24]

    # -- VideoProvider ---------------------------------------------------------------------

    def _window(self, booking: Booking) -> tuple[datetime, datetime]:
        return room_window(
            booking,
            early_open_minutes=self.settings.early_open_minutes,
            grace_minutes=self.settings.grace_minutes,
        )

    def create_room(self, booking: Booking) -> Room:
        """A new room for ``booking``: meeting id ``mv-<32 hex digits>`` (128 random bits, kept as
        ``provider_ref``), valid from ``early_open_minutes`` before the slot to ``grace_minutes``
        after it (UTC). Unless ``meeting_on_demand``, the meeting is created in BBB now
        (:meth:`ensure_meeting`); with it, at the first click inside the window.

        :raises TransientError: BBB could not be reached (refused, DNS, connect timeout), or it
            answered HTTP 429 or 503 (``retry_after`` from its ``Retry-After``).
        :raises AmbiguousError: a read timeout (including the ``total_seconds`` deadline), the
            connection dropped after the request was sent, or HTTP 500/502/504: the shared table
            (:mod:`munivideo.transport.classify`) decides, as for the ERP.
        :raises ConfigurationError: BBB answered ``checksumError``: the shared ``secret`` (or the
            checksum algorithm) is wrong.
        :raises ContractViolationError: the answer is not safe XML (entities and DTDs are refused)
            or is over ``max_response_bytes``.
        :raises RejectedError: BBB answered ``FAILED`` with another ``messageKey``.
        """
        valid_from, valid_until = self._window(booking)
        meeting_id = f"mv-{secrets.token_hex(16)}"
        room = Room(
            booking_id=booking.id,
            provider=self.name,
            name=meeting_id,
            base_url=self.api,
            valid_from=valid_from,
            valid_until=valid_until,
            provider_ref=meeting_id,
        )
        if not self.settings.meeting_on_demand:
            self.ensure_meeting(room)
        return room

    def ensure_meeting(self, room: Room) -> None:
        """``create`` the meeting; BBB answers an existing one with a duplicate warning, so this
        is safe to repeat (call it when the room opens).

        With ``meeting_on_demand`` it refuses outside the room window (:class:`LifecycleError`)
        and asks BBB to end the meeting when the window closes (``duration``), so a join URL,
        which BBB never expires, works only inside the window."""
        if room.closed:
            raise LifecycleError(
                "the room is closed", record_id=room.booking_id, field="room.closed"
            )
        now = self._clock()
        if self.settings.meeting_on_demand and not room.valid_from <= now < room.valid_until:
            raise LifecycleError(
                "the room is not open now (outside its window)",
                record_id=room.booking_id,
                field="room.valid_from" if now < room.valid_from else "room.valid_until",
            )
        minutes = max(5, int((room.valid_until - now).total_seconds() // 60))
        params = {
            "name": f"{self.tenant.name} - {room.booking_id}",
            "meetingID": room.provider_ref,
            "attendeePW": self._password(room.provider_ref, Role.CITIZEN),
            "moderatorPW": self._password(room.provider_ref, Role.SERVANT),
            "record": "false",
            "meetingExpireIfNoUserJoinedInMinutes": str(minutes),
            "meta_munivideo-booking": room.booking_id,
        }
        if self.settings.meeting_on_demand:
            # BBB ends the meeting when it has run this long: the end of the room window.
            params["duration"] = str(
                max(1, -(-int((room.valid_until - now).total_seconds()) // 60))
            )
        self._call("create", params, room.booking_id)

    def update_room(self, room: Room, booking: Booking) -> Room:
        """The same room (same meeting id, so links already sent stay valid) with its window moved
        to the rescheduled slot; BBB is not called.

        :raises LifecycleError: the room is closed (field ``room.closed``).
        """
        return room.rescheduled(
            booking,
            early_open_minutes=self.settings.early_open_minutes,
            grace_minutes=self.settings.grace_minutes,
        )

    def close_room(self, room: Room) -> Room:
        """End the meeting (BBB ``end`` with the moderator password) and mark the room closed;
        :meth:`join_link` refuses from now on. A meeting BBB does not know (``notFound``: nobody
            joined yet, or already ended) counts as closed.

        :raises TransientError: BBB could not be reached (refused, DNS, connect timeout), or it
            answered HTTP 429 or 503 (``retry_after`` from its ``Retry-After``).
        :raises AmbiguousError: a read timeout (including the ``total_seconds`` deadline), the
            connection dropped after the request was sent, or HTTP 500/502/504: the shared table
            (:mod:`munivideo.transport.classify`) decides, as for the ERP.
        :raises ConfigurationError: BBB answered ``checksumError``: the shared ``secret`` (or the
            checksum algorithm) is wrong.
        :raises ContractViolationError: the answer is not safe XML (entities and DTDs are refused)
            or is over ``max_response_bytes``.
        :raises RejectedError: BBB refused ``end`` for another reason.
        """
        params = {
            "meetingID": room.provider_ref,
            "password": self._password(room.provider_ref, Role.SERVANT),
        }
        try:
            self._call("end", params, room.booking_id)
        except RejectedError as exc:
            # Not running (nobody joined yet, or already ended) is what "closed" means anyway.
            if "notFound" not in exc.message:
                raise
        return room.model_copy(update={"closed": True})

    def join_link(self, room: Room, participant: Participant) -> JoinLink:
        """The participant's signed ``join`` URL (no call to BBB): ``fullName``, ``meetingID``,
        ``role=MODERATOR`` for the servant and ``VIEWER`` for the citizen, ``userID =
        mv1|<booking>|<role>|<participant>`` (echoed back in ``getMeetingInfo`` and webhooks) and
        ``redirect=true``. BBB join URLs never expire (:attr:`links_expire` is False):
        ``expires_at`` is the window's end, enforced only through the engine's join redirect (short
        links) and ``meeting_on_demand``.

        :raises LifecycleError: the room is closed (field ``room.closed``).
        """
        if room.closed:
            raise LifecycleError(
                "the room is closed: no join links", record_id=room.booking_id, field="room.closed"
            )
        params = {
            "fullName": participant.name,
            "meetingID": room.provider_ref,
            "role": "MODERATOR" if participant.role is Role.SERVANT else "VIEWER",
            "userID": participant_user_id(room.booking_id, participant),
            "redirect": "true",
        }
        return JoinLink(
            booking_id=room.booking_id,
            participant_id=participant.id,
            role=participant.role,
            url=self.signed_url("join", params),
            expires_at=room.valid_until,
        )

    def attendance_report(self, room: Room) -> list[AttendanceEvent]:
        """Who is in the meeting now (``getMeetingInfo``), as join events stamped with the time
        of the first poll that saw them (BBB reports presence, not join times)."""
        try:
            root = self._call("getMeetingInfo", {"meetingID": room.provider_ref}, room.booking_id)
        except RejectedError as exc:
            if "notFound" in exc.message:
                return []
            raise
        seen = self._clock()
        events = []
        for attendee in root.iter("attendee"):
            user = parse_participant_user_id(_text(attendee, "userID"))
            if user is None or user[0] != room.booking_id:
                continue
            booking_id, role, participant_id = user
            events.append(
                AttendanceEvent(
                    event_id=f"bbb:{room.provider_ref}:{participant_id}:present",
                    booking_id=booking_id,
                    participant_id=participant_id,
                    role=role,
                    kind=EventKind.JOIN,
                    at=seen,
                    source="bbb:getMeetingInfo",
                )
            )
        return events

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AttendanceEvent]:
        """``user-joined`` / ``user-left`` events from bbb-webhooks (JSON list, or the form
        field ``event`` holding it)."""
        check_webhook_secret(headers, self.settings.webhook_secret, what="BBB webhook")
        try:
            text = body.decode()
            if text.lstrip().startswith(("[", "{")):
                payload: Any = json.loads(text)
            else:
                payload = json.loads(parse_qs(text).get("event", ["[]"])[0])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ContractViolationError(
                f"BBB webhook: unreadable body ({exc})", field="event"
            ) from None
        items = payload if isinstance(payload, list) else [payload]
        events: list[AttendanceEvent] = []
        for item in items:
            event = _webhook_event(item)
            if event is not None:
                events.append(event)
        return events


def _webhook_event(item: Any) -> AttendanceEvent | None:
    try:
        return _read_event(item)
    except ContractViolationError:
        raise
    except (ValidationError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise ContractViolationError(
            f"BBB webhook: unusable event ({type(exc).__name__})", field="data"
        ) from None


def _read_event(item: Any) -> AttendanceEvent | None:
    data = item.get("data") if isinstance(item, dict) else None
    if not isinstance(data, dict):
        raise ContractViolationError("BBB webhook: event without data", field="data")
    kinds = {"user-joined": EventKind.JOIN, "user-left": EventKind.LEAVE}
    kind = kinds.get(str(data.get("id")))
    if kind is None:
        return None
    try:
        attributes = data["attributes"]
        meeting = attributes["meeting"]["external-meeting-id"]
        user = attributes["user"]
        stamp = float(data["event"]["ts"]) / 1000
    except (KeyError, TypeError, ValueError) as exc:
        raise ContractViolationError(
            f"BBB webhook {data.get('id')}: missing {exc}", field="data.attributes"
        ) from None
    parsed = parse_participant_user_id(str(user.get("external-user-id", "")))
    if parsed is None:
        log.info(
            "BBB webhook %s in %s: user without a munivideo id, skipped", data.get("id"), meeting
        )
        return None
    booking_id, role, participant_id = parsed
    internal = user.get("internal-user-id", participant_id)
    return AttendanceEvent(
        event_id=f"bbb:{meeting}:{internal}:{kind.value}:{data['event']['ts']}",
        booking_id=booking_id,
        participant_id=participant_id,
        role=role,
        kind=kind,
        at=datetime.fromtimestamp(stamp, UTC),
        source="bbb:webhook",
    )


def make_bbb_provider(tenant: Tenant, settings: Mapping[str, Any]) -> BbbProvider:
    """The ``bbb`` factory: validate ``[video.settings]`` (:class:`BbbSettings`) and build the
    provider with its own pooled session (4 connections, ``timeout_seconds`` per connect/read,
    ``total_seconds`` per call, ``max_response_bytes``).

    :raises ConfigurationError: naming the first offending ``video.settings.<key>``.
    """
    parsed = parse_settings(
        BbbSettings, settings, tenant=tenant, section="video.settings", adapter="bbb"
    )
    return BbbProvider(tenant, parsed)


@hookimpl
def register_video_providers(register: Any) -> None:
    """pluggy hook (:func:`munivideo.hookspecs.register_video_providers`): register
    :func:`make_bbb_provider` under ``bbb``, the name tenants use in ``[video] provider``.

    :param register: the host's callback, ``register(name, factory)``.
    """
    factory: VideoProviderFactory = make_bbb_provider
    register("bbb", factory)


__all__ = ["BbbProvider", "BbbSettings", "checksum", "make_bbb_provider", "participant_user_id"]
