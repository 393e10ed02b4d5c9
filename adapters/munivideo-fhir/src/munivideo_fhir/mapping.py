"""Pure data shaping between FHIR resources and munivideo's canonical models (no I/O)."""

from __future__ import annotations

import json
import re
import zlib
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from munivideo.errors import InvalidRecordError, MunivideoError
from munivideo.models import (
    AccessLevel,
    Booking,
    BookingStatus,
    Citizen,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    RejectedRecord,
    Servant,
    VerifiedDocument,
)
from munivideo.redact import redact
from munivideo_fhir import codes
from munivideo_fhir.codes import AppointmentStatus
from munivideo_fhir.identifiers import read_patient_ids
from munivideo_fhir.resources import Resource, checked_in

_CNS_RUN = re.compile(r"\b\d{15}\b")


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC (seconds precision unless microseconds are set)."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_instant(text: Any, record_id: str, field: str) -> datetime:
    """A FHIR instant/dateTime with a zone, in UTC; :class:`InvalidRecordError` otherwise."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecordError("not an instant", record_id=record_id, field=field) from None
    if moment.tzinfo is None:
        raise InvalidRecordError("an instant needs a time zone", record_id=record_id, field=field)
    return moment.astimezone(UTC)


def identifier(resource: Resource, system: str) -> str | None:
    """The value of ``resource``'s first identifier in ``system``, or None."""
    for ident in resource.get("identifier") or []:
        if ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    return None


def extension(resource: Resource, url: str) -> Resource | None:
    """A copy of ``resource``'s extension with ``url``, or None."""
    for ext in resource.get("extension") or []:
        if ext.get("url") == url:
            return dict(ext)
    return None


def booking_id_of(appointment: Resource) -> str:
    """The canonical booking id: our booking identifier, else the Appointment's id."""
    return identifier(appointment, codes.BOOKING_SYSTEM) or str(appointment.get("id"))


def sequence_of(appointment: Resource) -> int:
    """The booking's sequence (extension ``sequencia``; 0 when absent)."""
    ext = extension(appointment, codes.SEQUENCE_URL)
    value = ext.get("valueInteger") if ext else 0
    return int(value) if isinstance(value, int) and value >= 0 else 0


def is_superseded(appointment: Resource) -> bool:
    """A cancelled Appointment that a rescheduled one replaced (not a cancellation)."""
    reason = appointment.get("cancelationReason") or {}
    return appointment.get("status") == "cancelled" and any(
        c.get("system") == codes.RESCHEDULED[0] and c.get("code") == codes.RESCHEDULED[1]
        for c in reason.get("coding") or []
    )


def is_telehealth(appointment: Resource, included: dict[str, Resource]) -> bool:
    """Virtual (ActCode VR) by its appointmentType, or by its HealthcareService's
    characteristic."""

    def virtual(concept: Any) -> bool:
        return any(
            c.get("system") == codes.ACT_CODE and c.get("code") == codes.VIRTUAL
            for c in (concept or {}).get("coding") or []
        )

    if virtual(appointment.get("appointmentType")):
        return True
    for ref in actor_refs(appointment, "HealthcareService"):
        service = included.get(ref) or {}
        if any(virtual(c) for c in service.get("characteristic") or []):
            return True
    return False


def actor_refs(appointment: Resource, type_: str) -> list[str]:
    """References (``Type/id``) of the Appointment's participants of ``type_``."""
    return [
        str(p["actor"]["reference"])
        for p in appointment.get("participant") or []
        if str((p.get("actor") or {}).get("reference", "")).startswith(f"{type_}/")
    ]


def _name(resource: Resource) -> str:
    for name in resource.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or []), name.get("family") or ""]
        text = " ".join(p for p in parts if p).strip()
        if text:
            return text
    return ""


def _telecom(resource: Resource, system: str) -> str | None:
    for point in resource.get("telecom") or []:
        if point.get("system") == system and point.get("value"):
            return str(point["value"])
    return None


def _service_code(appointment: Resource, included: dict[str, Resource]) -> str | None:
    concepts = list(appointment.get("serviceType") or [])
    for ref in actor_refs(appointment, "HealthcareService"):
        concepts += (included.get(ref) or {}).get("type") or []
    for concept in concepts:
        for coding in concept.get("coding") or []:
            if coding.get("system") == codes.SERVICE_SYSTEM and coding.get("code"):
                return str(coding["code"])
    for concept in concepts:
        for coding in concept.get("coding") or []:
            if coding.get("code"):
                return str(coding["code"])
    return None


def to_booking(appointment: Resource, included: dict[str, Resource], tenant_id: str) -> Booking:
    """The canonical booking for one telehealth Appointment (with its included Patient,
    Practitioner and HealthcareService). Raises :class:`InvalidRecordError` naming the field."""
    booking_id = booking_id_of(appointment)
    checked_in(appointment, booking_id)
    status = AppointmentStatus(appointment["status"])
    canonical = codes.TO_BOOKING[status]
    if canonical is None:
        raise InvalidRecordError(
            "entered in error: not a booking", record_id=booking_id, field="Appointment.status"
        )
    sequence = sequence_of(appointment)
    if canonical is BookingStatus.CONFIRMED and sequence > 0:
        canonical = BookingStatus.RESCHEDULED
    patients = actor_refs(appointment, "Patient")
    patient = included.get(patients[0]) if patients else None
    if patient is None:
        raise InvalidRecordError(
            "no Patient participant", record_id=booking_id, field="Appointment.participant"
        )
    checked_in(patient, booking_id)
    ids = read_patient_ids(patient, booking_id)
    if ids.cpf is None:
        raise InvalidRecordError(
            "the patient has no CPF (a CNS alone cannot open a protocol)",
            record_id=booking_id,
            field="Patient.identifier",
        )
    servant = None
    practitioners = actor_refs(appointment, "Practitioner")
    practitioner = included.get(practitioners[0]) if practitioners else None
    if practitioner is not None:
        checked_in(practitioner, booking_id)
        servant = {
            "registration": identifier(practitioner, codes.REGISTRATION_SYSTEM)
            or str(practitioner.get("id")),
            "name": _name(practitioner) or str(practitioner.get("id")),
            "email": _telecom(practitioner, "email"),
        }
    service = _service_code(appointment, included)
    if service is None:
        raise InvalidRecordError(
            "no service type", record_id=booking_id, field="Appointment.serviceType"
        )
    for field in ("start", "end"):
        if not appointment.get(field):
            raise InvalidRecordError(
                f"no {field} time", record_id=booking_id, field=f"Appointment.{field}"
            )
    try:
        return Booking(
            id=booking_id,
            tenant_id=tenant_id,
            service_code=service,
            citizen=Citizen(
                name=_name(patient) or "Paciente",
                cpf=ids.cpf,
                email=_telecom(patient, "email"),
                phone=_telecom(patient, "phone"),
            ),
            servant=Servant(**servant) if servant else None,
            start=parse_instant(appointment["start"], booking_id, "Appointment.start"),
            end=parse_instant(appointment["end"], booking_id, "Appointment.end"),
            status=canonical,
            sequence=sequence,
            updated_at=parse_instant(
                (appointment.get("meta") or {}).get("lastUpdated"),
                booking_id,
                "Appointment.meta.lastUpdated",
            ),
            notes=str(appointment.get("description") or appointment.get("comment") or "")[:4000],
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRecordError(
            str(first["msg"]),
            record_id=booking_id,
            field="booking." + ".".join(str(p) for p in first["loc"]),
        ) from None


def rejected(
    appointment: Resource, included: dict[str, Resource], exc: MunivideoError
) -> RejectedRecord:
    """The quarantine record for an Appointment that failed mapping (personal data masked)."""
    related = [included.get(r) for r in actor_refs(appointment, "Patient")]
    raw = json.dumps({"appointment": appointment, "patients": related}, ensure_ascii=False)
    return RejectedRecord(
        record_id=exc.record_id or booking_id_of(appointment),
        field=exc.field,
        reason=_CNS_RUN.sub("<cns>", exc.message),
        raw=_CNS_RUN.sub("<cns>", redact(raw)),
    )


# -- write-back resources -------------------------------------------------------------------------


def _reference(resource: Resource) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACCESS_LEVELS: dict[AccessLevel, str] = {AccessLevel.PUBLIC: "N", AccessLevel.INTERNAL: "R"}
"""The protocol's access level as the Encounter's confidentiality label (normal / restricted)."""


def encounter(entry: ProtocolEntry, appointment: Resource, patient_ref: str | None) -> Resource:
    """The teleconsultation's Encounter: class VR, the patient, the doctor, the times."""
    patient = [patient_ref] if patient_ref else actor_refs(appointment, "Patient")
    practitioners = actor_refs(appointment, "Practitioner")
    start = entry.opened_at
    end = parse_instant(appointment.get("end"), entry.booking_id, "Appointment.end")
    period = {"start": instant(start), "end": instant(max(start, end))}
    resource: Resource = {
        "resourceType": "Encounter",
        "meta": {
            "security": [{"system": CONFIDENTIALITY, "code": ACCESS_LEVELS[entry.access_level]}]
        },
        "identifier": [
            {"system": codes.ENCOUNTER_SYSTEM, "value": entry.external_reference},
            {"system": codes.BOOKING_SYSTEM, "value": entry.booking_id},
        ],
        "status": codes.ENCOUNTER_STATUS[entry.outcome],
        "class": {"system": codes.ACT_CODE, "code": codes.VIRTUAL, "display": "virtual"},
        "serviceType": {"coding": [{"system": codes.SERVICE_SYSTEM, "code": entry.subject_code}]},
        "subject": {"reference": patient[0]} if patient else None,
        "participant": [
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "PPRF",
                                "display": "primary performer",
                            }
                        ]
                    }
                ],
                "period": period,
                "individual": {"reference": ref},
            }
            for ref in practitioners
        ],
        "appointment": [_reference(appointment)],
        "period": period,
        "reasonCode": [{"text": entry.summary[:1000]}] if entry.summary else None,
    }
    return {k: v for k, v in resource.items() if v not in (None, [])}


CFM_RESOLUTION = "https://sistemas.cfm.org.br/normas/visualizar/resolucoes/BR/2022/2314"


def consent(
    entry: ProtocolEntry, appointment: Resource, encounter_ref: str, patient_ref: str | None
) -> Resource:
    """The patient's consent to teleconsultation (CFM resolution 2.314/2022)."""
    patient = [patient_ref] if patient_ref else actor_refs(appointment, "Patient")
    return {
        "resourceType": "Consent",
        "identifier": [{"system": codes.CONSENT_SYSTEM, "value": entry.external_reference}],
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "treatment",
                    "display": "Treatment",
                }
            ]
        },
        "category": [
            {
                "coding": [{"system": "http://loinc.org", "code": "59284-0"}],
                "text": "Consentimento para teleconsulta",
            }
        ],
        "patient": {"reference": patient[0]} if patient else None,
        "dateTime": instant(entry.opened_at),
        "policy": [{"authority": "https://portal.cfm.org.br", "uri": CFM_RESOLUTION}],
        "provision": {
            "type": "permit",
            "period": {"start": instant(entry.opened_at)},
            "data": [{"meaning": "related", "reference": {"reference": encounter_ref}}],
        },
    }


def document_reference(
    receipt: ProtocolReceipt, encounter_resource: Resource, document: VerifiedDocument, key: str
) -> Resource:
    """A verified document as a DocumentReference on the Encounter (append-only)."""
    return {
        "resourceType": "DocumentReference",
        "identifier": [
            {"system": codes.DOCUMENT_SYSTEM, "value": key},
            {"system": codes.SHA256_SYSTEM, "value": document.sha256},
        ],
        "status": "current",
        "type": {"text": document.kind},
        "subject": encounter_resource.get("subject"),
        "description": f"Documento verificado na teleconsulta {receipt.label}",
        "content": [
            {
                "attachment": {
                    "contentType": document.media_type,
                    "title": document.name,
                    "size": document.size,
                }
            }
        ],
        "context": {"encounter": [{"reference": receipt.erp_id}]},
    }


def service_request(
    receipt: ProtocolReceipt, encounter_resource: Resource, demand: ForwardedDemand, key: str
) -> Resource:
    """A forwarded demand as a referral ServiceRequest from the Encounter."""
    return {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": codes.FORWARD_SYSTEM, "value": key}],
        "status": "active",
        "intent": "order",
        "category": [{"text": "Encaminhamento"}],
        "subject": encounter_resource.get("subject") or {"display": "desconhecido"},
        "encounter": {"reference": receipt.erp_id},
        "performerType": {
            "coding": [{"system": codes.SERVICE_SYSTEM, "code": demand.department_code}]
        },
        "note": [{"text": demand.description}],
    }


def receipt(encounter_resource: Resource, external_reference: str) -> ProtocolReceipt:
    """The write-back receipt for an Encounter: its numeric id (or a stable number derived
    from a non-numeric one), the year it started, ``erp_id`` ``Encounter/<id>``."""
    id_ = str(encounter_resource.get("id", ""))
    number = int(id_) if id_.isdigit() and int(id_) > 0 else zlib.crc32(id_.encode()) or 1
    start = (encounter_resource.get("period") or {}).get("start")
    meta = encounter_resource.get("meta") or {}
    created = parse_instant(
        meta.get("lastUpdated") or start, external_reference, "meta.lastUpdated"
    )
    year = (
        parse_instant(start, external_reference, "Encounter.period.start").year
        if start
        else created.year
    )
    return ProtocolReceipt(
        external_reference=identifier(encounter_resource, codes.ENCOUNTER_SYSTEM) or "",
        booking_id=identifier(encounter_resource, codes.BOOKING_SYSTEM) or "",
        number=number,
        year=year,
        erp_id=f"Encounter/{id_}",
        created_at=created,
    )


def verified_document(resource: Resource, record_id: str) -> VerifiedDocument:
    """A DocumentReference written by :func:`document_reference`, read back."""
    attachment = ((resource.get("content") or [{}])[0]).get("attachment") or {}
    try:
        return VerifiedDocument(
            name=str(attachment.get("title") or ""),
            kind=str((resource.get("type") or {}).get("text") or ""),
            sha256=identifier(resource, codes.SHA256_SYSTEM) or "",
            media_type=str(attachment.get("contentType") or "application/octet-stream"),
            size=int(attachment.get("size") or 0),
        )
    except ValidationError as exc:
        raise InvalidRecordError(
            str(exc.errors()[0]["msg"]), record_id=record_id, field="DocumentReference"
        ) from None


def forwarded_demand(resource: Resource, record_id: str) -> ForwardedDemand:
    """A ServiceRequest written by :func:`service_request`, read back."""
    codings = (resource.get("performerType") or {}).get("coding") or [{}]
    try:
        return ForwardedDemand(
            department_code=str(codings[0].get("code") or ""),
            description=str(((resource.get("note") or [{}])[0]).get("text") or ""),
        )
    except ValidationError as exc:
        raise InvalidRecordError(
            str(exc.errors()[0]["msg"]), record_id=record_id, field="ServiceRequest"
        ) from None
