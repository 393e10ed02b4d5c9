"""FHIR codes munivideo checks itself (fhir.resources accepts any code where FHIR binds a closed
value set) and the status tables between FHIR and the canonical booking. Decisions are data."""

from __future__ import annotations

from enum import StrEnum

from munivideo.models import BookingStatus, Outcome

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
VIRTUAL = "VR"  # ActCode "virtual": the telehealth encounter class
CANCEL_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
MUNIVIDEO = "https://munivideo.org/fhir"
BOOKING_SYSTEM = f"{MUNIVIDEO}/sid/agendamento"  # shared by every Appointment of one booking
APPOINTMENT_SYSTEM = f"{MUNIVIDEO}/sid/consulta"  # one per Appointment: <booking>.<sequence>
ENCOUNTER_SYSTEM = f"{MUNIVIDEO}/sid/atendimento"  # the write-back's external reference
CONSENT_SYSTEM = f"{MUNIVIDEO}/sid/consentimento"
DOCUMENT_SYSTEM = f"{MUNIVIDEO}/sid/documento-verificado"
FORWARD_SYSTEM = f"{MUNIVIDEO}/sid/encaminhamento"
SHA256_SYSTEM = "urn:ietf:rfc:6920:sha-256"
REGISTRATION_SYSTEM = f"{MUNIVIDEO}/sid/matricula"
SERVICE_SYSTEM = f"{MUNIVIDEO}/CodeSystem/servico"
RESCHEDULED_SYSTEM = f"{MUNIVIDEO}/CodeSystem/motivo-cancelamento"
SEQUENCE_URL = f"{MUNIVIDEO}/StructureDefinition/sequencia"
ROOM_URL = f"{MUNIVIDEO}/StructureDefinition/sala-virtual"


class AppointmentStatus(StrEnum):
    """FHIR R4 ``Appointment.status`` (required binding AppointmentStatus)."""

    PROPOSED = "proposed"
    PENDING = "pending"
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"
    ENTERED_IN_ERROR = "entered-in-error"
    CHECKED_IN = "checked-in"
    WAITLIST = "waitlist"


class ParticipantStatus(StrEnum):
    """FHIR R4 ``Appointment.participant.status`` (required binding ParticipationStatus)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs-action"


class SlotStatus(StrEnum):
    """FHIR R4 ``Slot.status`` (required binding SlotStatus)."""

    BUSY = "busy"
    FREE = "free"
    BUSY_UNAVAILABLE = "busy-unavailable"
    BUSY_TENTATIVE = "busy-tentative"
    ENTERED_IN_ERROR = "entered-in-error"


REQUIRED_CODES: dict[tuple[str, str], type[StrEnum]] = {
    ("Appointment", "status"): AppointmentStatus,
    ("Appointment", "participant.status"): ParticipantStatus,
    ("Slot", "status"): SlotStatus,
}
"""Required bindings munivideo checks on what it reads and writes, by (type, element)."""

TO_BOOKING: dict[AppointmentStatus, BookingStatus | None] = {
    AppointmentStatus.PROPOSED: BookingStatus.REQUESTED,
    AppointmentStatus.PENDING: BookingStatus.REQUESTED,
    AppointmentStatus.WAITLIST: BookingStatus.REQUESTED,
    AppointmentStatus.BOOKED: BookingStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN: BookingStatus.CONFIRMED,
    AppointmentStatus.ARRIVED: BookingStatus.CONFIRMED,
    AppointmentStatus.FULFILLED: BookingStatus.ATTENDED,
    AppointmentStatus.CANCELLED: BookingStatus.CANCELLED,
    AppointmentStatus.NOSHOW: BookingStatus.NO_SHOW,
    AppointmentStatus.ENTERED_IN_ERROR: None,  # not a booking: skipped
}
"""Appointment status -> canonical status (a booked Appointment with sequence > 0 is
``rescheduled``)."""

STATUS_PATH: dict[BookingStatus, tuple[AppointmentStatus, ...]] = {
    BookingStatus.REQUESTED: (AppointmentStatus.PROPOSED,),
    BookingStatus.CONFIRMED: (AppointmentStatus.BOOKED,),
    BookingStatus.RESCHEDULED: (AppointmentStatus.BOOKED,),
    BookingStatus.ATTENDED: (AppointmentStatus.ARRIVED, AppointmentStatus.FULFILLED),
    BookingStatus.NO_SHOW: (AppointmentStatus.NOSHOW,),
    BookingStatus.SERVANT_NO_SHOW: (AppointmentStatus.CANCELLED,),
    BookingStatus.FAILED: (AppointmentStatus.CANCELLED,),
    BookingStatus.CANCELLED: (AppointmentStatus.CANCELLED,),
}
"""Canonical status -> the Appointment statuses written, in order (attended: the patient
arrived, then the consultation was fulfilled: two versions in the Appointment's history)."""

CANCEL_REASONS: dict[BookingStatus, tuple[str, str, str]] = {
    BookingStatus.SERVANT_NO_SHOW: (CANCEL_REASON_SYSTEM, "prov", "Profissional ausente"),
    BookingStatus.FAILED: (CANCEL_REASON_SYSTEM, "other", "Falha técnica na teleconsulta"),
    BookingStatus.CANCELLED: (CANCEL_REASON_SYSTEM, "pat", "Cancelado"),
}
"""Why a cancelled Appointment was cancelled (appointment-cancellation-reason codes)."""

RESCHEDULED = (RESCHEDULED_SYSTEM, "remarcado", "Remarcado")
"""The cancellation reason of an Appointment replaced by a rescheduled one."""

ENCOUNTER_STATUS: dict[Outcome, str] = {
    Outcome.ATTENDED: "finished",
    Outcome.CITIZEN_NO_SHOW: "cancelled",
    Outcome.SERVANT_NO_SHOW: "cancelled",
    Outcome.TECHNICAL_FAILURE: "cancelled",
    Outcome.CANCELLED: "cancelled",
}
"""Encounter status per attendance outcome (``cancelled``: ended before it began)."""

CONSENT_OUTCOMES = frozenset({Outcome.ATTENDED})
"""Outcomes for which the teleconsultation consent (CFM 2.314/2022) is recorded."""
