"""Canonical models: the one shape every ERP, video provider and notifier is mapped to.

Models are frozen pydantic v2 models; change them with ``model_copy(update=...)`` or the helpers
here, so that a model handed to a plugin cannot be changed behind the engine's back. Times are
tz-aware and stored in UTC (:data:`munivideo.values.UtcDatetime`).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import babel
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from munivideo.errors import ConfigurationError, InvalidRecordError, LifecycleError
from munivideo.values import Cnpj, Cpf, Email, Phone, UtcDatetime, zone

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(value: str) -> str:
    """Refuse control characters (CR, LF, NUL, ...: Unicode category Cc) and bidirectional
    overrides in a person's name: it is written into e-mail texts, iCalendar ``CN`` parameters
    (RFC 5545 forbids control characters there) and video display names, where they forge lines
    or reorder what the servant reads."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS), None)
    if bad is not None:
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    return value


PersonName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
"""A person's name (1-200 characters, no control characters or bidirectional overrides)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Locale(StrEnum):
    """The language of citizen-facing text (invitations, SMS, the console): ``pt-BR``, the
    default, or ``en``. Values are BCP 47 tags (RFC 5646), as in ``Content-Language``."""

    PT_BR = "pt-BR"
    EN = "en"


class Tenant(_Model):
    """A city (or one of its bodies) using munivideo; every record belongs to one tenant.

    ``timezone`` (IANA name) governs every naive ERP time read, every time written in a text and
    every ``.ics``; ``locale`` picks the templates' language; ``date_locale`` (a Babel/CLDR
    locale such as ``pt_BR``, ``en_GB``, ``es``) writes dates and times in words, by default
    the one of ``locale``. ``allow_foreign_phones`` admits phone numbers outside Brazil.
    """

    id: Code
    name: str = Field(min_length=1)
    timezone: str = "America/Sao_Paulo"
    locale: Locale = Locale.PT_BR
    date_locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
    allow_foreign_phones: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except ConfigurationError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("date_locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                babel.Locale.parse(value.replace("-", "_"))
            except (ValueError, babel.UnknownLocaleError):
                raise ValueError(f"unknown locale {value!r} (use e.g. pt_BR, en, es)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone."""
        return zone(self.timezone)


class Department(_Model):
    """A unit of the city's administration (a secretariat, a sector) that owns services and
    receives protocols; ``code`` is its code in the ERP."""

    code: Code
    name: str = Field(min_length=1)


class Service(_Model):
    """A kind of attendance (e.g. IPTU questions) and the ERP subject its protocol entry uses."""

    code: Code
    name: str = Field(min_length=1)
    erp_subject_code: Code
    department_code: Code
    duration_minutes: int = Field(default=30, gt=0, le=480)


class Citizen(_Model):
    """The applicant. At least one of CPF or CNPJ identifies them in the ERP."""

    name: PersonName
    cpf: Cpf | None = None
    cnpj: Cnpj | None = None
    email: Email | None = None
    phone: Phone | None = None
    locale: Locale = Locale.PT_BR

    @model_validator(mode="after")
    def _needs_document(self) -> Citizen:
        if self.cpf is None and self.cnpj is None:
            raise ValueError("a citizen needs a CPF or a CNPJ")
        return self

    @property
    def document(self) -> str:
        """The identifying digit string (CPF preferred)."""
        return str(self.cpf if self.cpf is not None else self.cnpj)


class Servant(_Model):
    """The public servant who attends (tax auditor, doctor, HR analyst...)."""

    registration: Code
    name: PersonName
    email: Email | None = None
    department_code: Code | None = None


class BookingStatus(StrEnum):
    """Where a booking stands in the ERP; :data:`BOOKING_TRANSITIONS` lists the moves.

    ``requested``, ``confirmed`` and ``rescheduled`` are open (a room is kept for them);
    ``cancelled``, ``attended`` and ``no_show`` are terminal; ``servant_no_show`` and ``failed``
    (a technical failure) end the slot but let the citizen rebook it (``rescheduled``).
    """

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    SERVANT_NO_SHOW = "servant_no_show"
    FAILED = "failed"


_OPEN = {BookingStatus.REQUESTED, BookingStatus.CONFIRMED, BookingStatus.RESCHEDULED}

BOOKING_TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.REQUESTED: frozenset({BookingStatus.CONFIRMED, BookingStatus.CANCELLED}),
    BookingStatus.CONFIRMED: frozenset(
        {
            BookingStatus.RESCHEDULED,
            BookingStatus.CANCELLED,
            BookingStatus.ATTENDED,
            BookingStatus.NO_SHOW,
            BookingStatus.SERVANT_NO_SHOW,
            BookingStatus.FAILED,
        }
    ),
    BookingStatus.RESCHEDULED: frozenset(
        {
            BookingStatus.RESCHEDULED,
            BookingStatus.CONFIRMED,
            BookingStatus.CANCELLED,
            BookingStatus.ATTENDED,
            BookingStatus.NO_SHOW,
            BookingStatus.SERVANT_NO_SHOW,
            BookingStatus.FAILED,
        }
    ),
    # A servant no-show or a technical failure is not the citizen's fault: they may rebook.
    BookingStatus.SERVANT_NO_SHOW: frozenset({BookingStatus.RESCHEDULED, BookingStatus.CANCELLED}),
    BookingStatus.FAILED: frozenset({BookingStatus.RESCHEDULED, BookingStatus.CANCELLED}),
    BookingStatus.CANCELLED: frozenset(),
    BookingStatus.ATTENDED: frozenset(),
    BookingStatus.NO_SHOW: frozenset(),
}
"""Allowed status changes. Terminal statuses have none."""


def can_transition(old: BookingStatus, new: BookingStatus) -> bool:
    """Whether :data:`BOOKING_TRANSITIONS` allows ``old`` -> ``new`` (never from a terminal
    status); :meth:`Booking.transition` raises :class:`LifecycleError` where it does not."""
    return new in BOOKING_TRANSITIONS[old]


MAX_SEQUENCE = 2**31 - 1
"""Largest iCalendar SEQUENCE (RFC 5545 INTEGER is a signed 32-bit value)."""


class Booking(_Model):
    """A citizen's slot ("agendamento"), as read from the ERP or a booking front end.

    ``sequence`` counts the changes that matter to the invitation (reschedule, cancel); the
    calendar SEQUENCE is derived from it.
    """

    id: Code
    tenant_id: Code
    service_code: Code
    citizen: Citizen
    servant: Servant | None = None
    start: UtcDatetime
    end: UtcDatetime
    status: BookingStatus = BookingStatus.REQUESTED
    sequence: int = Field(default=0, ge=0, le=MAX_SEQUENCE)
    updated_at: UtcDatetime
    notes: str = Field(default="", max_length=4000)
    consent_recorded: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Booking:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > timedelta(hours=8):
            raise ValueError("a slot cannot last more than 8 hours")
        return self

    @property
    def is_open(self) -> bool:
        """The slot can still take place: ``requested``, ``confirmed`` or ``rescheduled``;
        every other status is terminal or ends the slot."""
        return self.status in _OPEN

    def transition(self, new: BookingStatus, *, at: datetime | None = None) -> Booking:
        """Return a copy in status ``new``; raises :class:`LifecycleError` if not allowed."""
        if not can_transition(self.status, new):
            raise LifecycleError(
                f"booking cannot go from {self.status.value} to {new.value}",
                record_id=self.id,
                field="status",
            )
        bump = new in (BookingStatus.RESCHEDULED, BookingStatus.CANCELLED)
        return self.model_copy(
            update={
                "status": new,
                "sequence": self.sequence + (1 if bump else 0),
                "updated_at": at or self.updated_at,
            }
        )

    def reschedule(self, start: datetime, end: datetime, *, at: datetime) -> Booking:
        """Move the slot; the status becomes ``rescheduled`` and the sequence goes up."""
        moved = self.transition(BookingStatus.RESCHEDULED, at=at)
        return Booking.model_validate({**moved.model_dump(), "start": start, "end": end})


class Role(StrEnum):
    """Who a participant is in a room: the ``citizen`` attended or the ``servant`` attending
    (the attendance rules treat them differently)."""

    CITIZEN = "citizen"
    SERVANT = "servant"


class Participant(_Model):
    """Someone a join link is made for. ``id`` is the servant's registration, or
    ``citizen-<booking id>`` for the citizen; ``name`` is shown in the room."""

    id: Code
    name: str = Field(min_length=1)
    email: Email | None = None
    role: Role


class Room(_Model):
    """A virtual room provisioned for one booking at a video provider."""

    booking_id: Code
    provider: Code
    name: PersonName
    base_url: str
    valid_from: UtcDatetime
    valid_until: UtcDatetime
    provider_ref: str = ""
    closed: bool = False

    def rescheduled(self, booking: Booking, *, early_open_minutes: int, grace_minutes: int) -> Room:
        """The same room (same name, same links) with its window moved to the booking's slot.

        Raises :class:`LifecycleError` for a closed room: a cancelled booking is not reopened.
        """
        if self.closed:
            raise LifecycleError(
                "a closed room cannot be rescheduled",
                record_id=self.booking_id,
                field="room.closed",
            )
        valid_from, valid_until = room_window(
            booking, early_open_minutes=early_open_minutes, grace_minutes=grace_minutes
        )
        return self.model_copy(update={"valid_from": valid_from, "valid_until": valid_until})


def room_window(
    booking: Booking, *, early_open_minutes: int, grace_minutes: int
) -> tuple[datetime, datetime]:
    """When a booking's room is open: from ``early_open_minutes`` before the slot to
    ``grace_minutes`` after it. Join links expire with the window."""
    return (
        booking.start - timedelta(minutes=early_open_minutes),
        booking.end + timedelta(minutes=grace_minutes),
    )


class JoinLink(_Model):
    """A per-participant join link. The URL carries a credential: it is masked in ``repr``."""

    booking_id: Code
    participant_id: Code
    role: Role
    url: str = Field(repr=False)
    expires_at: UtcDatetime

    def __repr__(self) -> str:
        return (
            f"JoinLink(booking_id={self.booking_id!r}, role={self.role.value!r}, "
            f"url='<redacted>', expires_at={self.expires_at.isoformat()!r})"
        )


class InvitationMethod(StrEnum):
    """The iCalendar scheduling method of an invitation (RFC 5546 iTIP ``METHOD``):
    ``REQUEST`` invites or updates (same ``UID``, higher ``SEQUENCE``), ``CANCEL`` withdraws
    the event from the recipient's calendar."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class Channel(StrEnum):
    """How a message reaches its recipient; a notifier declares which channels it delivers.
    ``email`` carries the HTML text and the ``.ics``; ``sms`` and ``whatsapp`` carry a short
    text with the link."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class Invitation(_Model):
    """Everything rendered for one invitation, for every channel.

    ``uid`` is stable for the booking's whole life; ``sequence`` goes up on every change.
    """

    booking_id: Code
    uid: str
    sequence: int = Field(ge=0, le=MAX_SEQUENCE)
    method: InvitationMethod
    locale: Locale
    subject: str
    # The texts carry the join link (a credential): never in repr().
    text: str = Field(repr=False)
    html: str = Field(repr=False)
    sms: str = Field(repr=False)
    whatsapp: str = Field(repr=False)
    ics: bytes = Field(repr=False)


class OutboundMessage(_Model):
    """One message handed to a notifier: one recipient (``to``: an e-mail address or an
    E.164 phone, by ``channel``), the texts (``html`` and the ``.ics`` bytes for e-mail only,
    ``ics_method`` its iTIP METHOD) and the ``idempotency_key`` the notifier and the store
    deduplicate on. The texts carry the join link: none of them is in ``repr``."""

    booking_id: Code
    channel: Channel
    to: str = Field(repr=False)
    subject: str = ""
    text: str = Field(repr=False)  #: carries the join link
    html: str | None = Field(default=None, repr=False)
    ics: bytes | None = Field(default=None, repr=False)
    ics_method: InvitationMethod | None = None
    idempotency_key: str


class DeliveryReceipt(_Model):
    """A notifier's proof that it handed a message on: ``reference`` is what the recipient's
    side knows it by (an e-mail ``Message-ID``, a file path, a provider's message id), stored
    with the message's idempotency key so it is never sent twice."""

    notifier: Code
    booking_id: Code
    reference: str
    delivered_at: UtcDatetime


class EventKind(StrEnum):
    """A participant's ``join`` or ``leave`` of a room, as the video provider reports it."""

    JOIN = "join"
    LEAVE = "leave"


class AttendanceEvent(_Model):
    """A participant joined or left a room, as reported by the video provider."""

    event_id: str = Field(min_length=1)
    booking_id: Code
    participant_id: str
    role: Role
    kind: EventKind
    at: UtcDatetime
    source: str = ""


class Outcome(StrEnum):
    """How an attendance ended, as classified by :func:`munivideo.attendance.classify` (rules
    in order there); :data:`OUTCOME_STATUS` maps each to the booking status written back."""

    ATTENDED = "attended"
    CITIZEN_NO_SHOW = "citizen_no_show"
    SERVANT_NO_SHOW = "servant_no_show"
    TECHNICAL_FAILURE = "technical_failure"
    CANCELLED = "cancelled"


OUTCOME_STATUS: dict[Outcome, BookingStatus] = {
    Outcome.ATTENDED: BookingStatus.ATTENDED,
    Outcome.CITIZEN_NO_SHOW: BookingStatus.NO_SHOW,
    Outcome.SERVANT_NO_SHOW: BookingStatus.SERVANT_NO_SHOW,
    Outcome.TECHNICAL_FAILURE: BookingStatus.FAILED,
    Outcome.CANCELLED: BookingStatus.CANCELLED,
}
"""The booking status written back to the ERP for each attendance outcome."""


class VerifiedDocument(_Model):
    """A document the servant checked. The hash proves which bytes were seen."""

    name: str = Field(min_length=1, max_length=255)
    kind: Code
    sha256: Sha256
    media_type: str = "application/pdf"
    size: int = Field(default=0, ge=0)


class ForwardedDemand(_Model):
    """A demand the servant forwarded to another department."""

    department_code: Code
    description: str = Field(min_length=1, max_length=4000)


class OutcomeForm(_Model):
    """What the servant fills in after (or instead of) the call."""

    booking_id: Code
    servant_registration: Code
    summary: str = Field(default="", max_length=8000)
    documents: tuple[VerifiedDocument, ...] = ()
    demands: tuple[ForwardedDemand, ...] = ()
    outcome: Outcome | None = None
    technical_failure: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _typed_errors(
        cls, data: Any, handler: ModelWrapValidatorHandler[OutcomeForm]
    ) -> OutcomeForm:
        """An invalid form raises :class:`~munivideo.errors.InvalidRecordError` naming the
        booking and the first offending field (``outcome``, ``documents.0.kind``), not pydantic's
        ``ValidationError``; the message lists every problem, never the values."""
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            booking = data.get("booking_id") if isinstance(data, dict) else None
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in errors
            )
            raise InvalidRecordError(
                f"outcome form: {problems}",
                record_id=booking if isinstance(booking, str) else None,
                field=".".join(str(p) for p in errors[0]["loc"]) or None,
            ) from None


class Attendance(_Model):
    """What happened in a booking's room, classified."""

    booking_id: Code
    tenant_id: Code
    outcome: Outcome
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    participants: tuple[Participant, ...] = ()
    summary: str = ""
    documents: tuple[VerifiedDocument, ...] = ()
    demands: tuple[ForwardedDemand, ...] = ()


class AccessLevel(StrEnum):
    """Who may read a protocol entry in the ERP: ``public`` (open to access-to-information
    requests, Lei 12.527/2011) or ``internal`` (the administration only; the default for
    attendances, whose summaries carry personal data, art. 31 of that law)."""

    PUBLIC = "public"
    INTERNAL = "internal"


class Applicant(_Model):
    """The person a protocol is opened for ("requerente"): a name and a CPF or a CNPJ
    (validated check digits, see :mod:`munivideo.values`); at least one is required."""

    name: PersonName
    cpf: Cpf | None = None
    cnpj: Cnpj | None = None

    @model_validator(mode="after")
    def _needs_document(self) -> Applicant:
        if self.cpf is None and self.cnpj is None:
            raise ValueError("an applicant needs a CPF or a CNPJ")
        return self


class ProtocolEntry(_Model):
    """The protocol entry ("protocolo") written back to the ERP for one attendance."""

    external_reference: str = Field(min_length=1, max_length=120)
    tenant_id: Code
    booking_id: Code
    subject_code: Code
    applicant: Applicant
    department_code: Code
    servant_registration: Code | None = None
    opened_at: UtcDatetime
    summary: str = Field(max_length=8000)
    dispatch: str = Field(default="", max_length=8000)
    access_level: AccessLevel = AccessLevel.INTERNAL
    outcome: Outcome
    documents: tuple[VerifiedDocument, ...] = ()
    forwards: tuple[ForwardedDemand, ...] = ()


class ProtocolReceipt(_Model):
    """The ERP's answer: the protocol number/year it assigned.

    ``external_reference`` and ``booking_id`` are what the ERP says the protocol is for; the
    write-back checks both against what it sent before it believes a receipt (``booking_id`` is
    empty when the ERP does not echo it).
    """

    external_reference: str
    number: int = Field(gt=0)
    year: int = Field(ge=1900, le=2999)
    erp_id: str = ""
    created_at: UtcDatetime
    booking_id: str = ""

    @property
    def label(self) -> str:
        """``number/year``, e.g. ``1234/2026``: how a protocol is cited to the citizen and
        shown in the console."""
        return f"{self.number}/{self.year}"


class ProtocolRecord(_Model):
    """A protocol as the ERP holds it now: its receipt, the attachments on it and its routing
    history, in the ERP's order. What the write-back reads to learn whether an attachment or a
    forward whose answer was lost did land (:meth:`munivideo.ports.ErpAdapter.read_protocol`).

    Attachments are append-only in ERPs, so a document attached twice appears twice.
    """

    receipt: ProtocolReceipt
    documents: tuple[VerifiedDocument, ...] = ()
    forwards: tuple[ForwardedDemand, ...] = ()


class Cursor(_Model):
    """Incremental sync position: (updated_at, id), so equal timestamps never skip records."""

    updated_at: UtcDatetime
    id: str


class RejectedRecord(_Model):
    """A record an adapter could not map; kept with its reason for the quarantine."""

    record_id: str
    field: str | None
    reason: str
    raw: str = Field(repr=False, default="")


class BookingPage(_Model):
    """One page of changed bookings, with the records that failed mapping."""

    bookings: tuple[Booking, ...] = ()
    rejected: tuple[RejectedRecord, ...] = ()
    next_cursor: Cursor | None = None
    has_more: bool = False


CANONICAL_MODELS: tuple[type[BaseModel], ...] = (
    Tenant,
    Department,
    Service,
    Citizen,
    Servant,
    Booking,
    Participant,
    Room,
    JoinLink,
    Invitation,
    OutboundMessage,
    DeliveryReceipt,
    AttendanceEvent,
    OutcomeForm,
    Attendance,
    VerifiedDocument,
    ForwardedDemand,
    Applicant,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    Cursor,
    BookingPage,
    RejectedRecord,
)
"""Models published as JSON Schema in ``contracts/canonical/``."""
