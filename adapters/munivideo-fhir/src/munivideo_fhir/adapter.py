"""The FHIR adapter: :class:`munivideo.ports.ErpAdapter` over a FHIR R4 server, plus the health
service's own API (free slots, book, cancel, reschedule, a doctor's agenda, a patient's history).

Exactly once without an idempotency-key header: every write is a conditional create on a
deterministic identifier (``If-None-Exist``) or an update locked to the version read
(``If-Match``); every "did it land?" question is a search by identifier.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from munivideo.config import parse_settings
from munivideo.errors import (
    AmbiguousError,
    InvalidRecordError,
    LifecycleError,
    MunivideoError,
    NotFoundError,
    RejectedError,
)
from munivideo.models import (
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    RejectedRecord,
    Tenant,
    VerifiedDocument,
)
from munivideo.ports import ErpAdapter, ErpCapabilities
from munivideo.transport import AuthSettings, RetryPolicy, Timeouts, auth_for, build_session
from munivideo.values import SAO_PAULO, Cpf, Email
from munivideo_fhir import codes, mapping
from munivideo_fhir.client import FhirClient
from munivideo_fhir.identifiers import (
    any_system,
    cns_valid,
    patient_identifiers,
    read_patient_ids,
)
from munivideo_fhir.resources import Resource, checked_out

_NS = uuid.UUID("9b3c3c62-55a4-4d8e-8f4b-2f1a3c7e0a17")
_ACTORS = (("_include", "Appointment:actor"),)


class FhirSettings(BaseModel):
    """``[erp.settings]`` of a tenant using the ``fhir`` adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The FHIR server's base URL (``[base]`` in the FHIR REST API), e.g. ``.../fhir/R4``.
    base_url: str = Field(pattern=r"^https?://[^\s]+$", description="FHIR base, no trailing /")
    #: How to authenticate (``bearer`` and ``oauth2`` client credentials are common for FHIR).
    auth: AuthSettings = AuthSettings()
    #: Connect/read timeouts and the whole-call budget (seconds), and the answer size cap (bytes).
    timeouts: Timeouts = Timeouts()
    #: In-call retry bounds (attempts, total seconds, backoff).
    retry: RetryPolicy = RetryPolicy()
    #: Pooled HTTP connections to the server (1-100).
    pool_size: int = Field(default=10, ge=1, le=100)
    page_size: int = Field(default=100, ge=1, le=500, description="_count per search page")
    max_lock_attempts: int = Field(
        default=3, ge=1, le=10, description="re-reads after an If-Match lost to another writer"
    )


class Patient(BaseModel):
    """Who books: a name and at least a CPF (a CNS is written too when known)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    cpf: Cpf
    cns: str | None = Field(default=None, pattern=r"^\d{15}$")
    email: Email | None = None

    @field_validator("cns")
    @classmethod
    def _cns_check_digit(cls, value: str | None) -> str | None:
        if value is not None and not cns_valid(value):
            raise ValueError("CNS check digit does not match")
        return value


@dataclass(frozen=True)
class FreeSlot:
    """A bookable Slot of a doctor's Schedule (times in UTC)."""

    slot_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class AgendaItem:
    """One line of a doctor's day: a slot and, when taken, its booking."""

    start: datetime
    end: datetime
    slot_status: str
    booking: Booking | None


@dataclass(frozen=True)
class EncounterSummary:
    """One earlier teleconsultation (or other Encounter) of a patient."""

    encounter_id: str
    status: str
    encounter_class: str
    start: datetime | None
    end: datetime | None
    practitioners: tuple[str, ...]
    appointment: str | None


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, '|'.join(parts))}"


def _day_window(day: date) -> tuple[str, str]:
    start = datetime(day.year, day.month, day.day, tzinfo=SAO_PAULO)
    return mapping.instant(start), mapping.instant(start + timedelta(days=1))


class FhirErpAdapter:
    """:class:`munivideo.ports.ErpAdapter` over a FHIR R4 server (entry point ``fhir``)."""

    name = "fhir"
    #: Conditional create on deterministic identifiers deduplicates every create (the "key");
    #: Encounters are found by their identifier (the "lookup"); verified documents become
    #: DocumentReferences and forwarded demands referral ServiceRequests.
    capabilities = ErpCapabilities(
        honours_idempotency_key=True,
        lookup_by_external_reference=True,
        attachments=True,
        forwarding=True,
    )

    def __init__(
        self, tenant: Tenant, settings: FhirSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.tenant = tenant
        self.settings = settings
        self.session = build_session(
            settings.timeouts,
            pool_size=settings.pool_size,
            auth=auth_for(settings.auth, settings.timeouts),
            headers={"Accept": "application/fhir+json"},
        )
        self.client = FhirClient(self.session, settings.base_url, settings.retry, sleep=sleep)

    def __repr__(self) -> str:
        return f"FhirErpAdapter(tenant={self.tenant.id!r}, base_url={self.client.base!r})"

    def close(self) -> None:
        """Close the pooled HTTP connections. The adapter must not be used afterwards."""
        self.session.close()

    # -- bookings in ------------------------------------------------------------------------

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        """Telehealth Appointments changed after ``cursor``, in (``meta.lastUpdated``, id) order:
        ``GET Appointment?_sort=_lastUpdated&_lastUpdated=ge<instant>&_include=Appointment:actor``,
        following the Bundle's ``next`` links. Appointments that are not virtual (ActCode ``VR``) or
        were superseded by a reschedule are skipped; one that does not map is rejected, not raised.

        :param cursor: where the previous page ended; None reads from the beginning.
        :param limit: the most bookings (plus rejected records) returned; each search page asks for
            at most ``page_size``.
        :returns: the page; ``next_cursor`` is the last Appointment looked at (UTC instant, id).
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        :raises ContractViolationError: a search answer is not JSON or not a Bundle (``field``
            ``resourceType``).
        """
        params: list[tuple[str, str]] = [
            ("_sort", "_lastUpdated"),
            ("_count", str(max(1, min(limit, self.settings.page_size)))),
            *_ACTORS,
        ]
        if cursor is not None:
            params.append(("_lastUpdated", f"ge{mapping.instant(cursor.updated_at)}"))
        after = (cursor.updated_at, _id_key(cursor.id)) if cursor else None
        bookings: list[Booking] = []
        rejected: list[RejectedRecord] = []
        next_cursor = cursor
        has_more = False
        url: str | None = "Appointment"
        query: list[tuple[str, str]] | None = params
        while url is not None and not has_more:
            matches, included, nxt = self.client.page("Appointment", url, query)
            url, query = nxt, None
            for appointment in matches:
                stamp = _stamp(appointment)
                if after is not None and (stamp, _id_key(str(appointment.get("id")))) <= after:
                    continue
                if len(bookings) + len(rejected) >= limit:
                    has_more = True
                    break
                next_cursor = Cursor(updated_at=stamp, id=str(appointment.get("id")))
                if mapping.is_superseded(appointment) or not mapping.is_telehealth(
                    appointment, included
                ):
                    continue
                try:
                    bookings.append(mapping.to_booking(appointment, included, self.tenant.id))
                except MunivideoError as exc:
                    rejected.append(mapping.rejected(appointment, included, exc))
        return BookingPage(
            bookings=tuple(bookings),
            rejected=tuple(rejected),
            next_cursor=next_cursor,
            has_more=has_more,
        )

    def _current(self, booking_id: str) -> Resource:
        """The live Appointment of a booking (the newest of a rescheduled chain)."""
        found, _, _ = self.client.search(
            "Appointment",
            [("identifier", f"{codes.BOOKING_SYSTEM}|{booking_id}")],
            record_id=booking_id,
        )
        live = [a for a in found if not mapping.is_superseded(a)]
        if live:
            return max(live, key=mapping.sequence_of)
        try:
            appointment, _ = self.client.read("Appointment", booking_id, record_id=booking_id)
        except NotFoundError:
            raise NotFoundError(
                "no such appointment", record_id=booking_id, field="Appointment.id"
            ) from None
        return appointment

    def _with_actors(self, appointment: Resource, booking_id: str) -> dict[str, Resource]:
        included: dict[str, Resource] = {}
        for p in appointment.get("participant") or []:
            ref = str((p.get("actor") or {}).get("reference", ""))
            type_, _, id_ = ref.partition("/")
            if type_ in ("Patient", "Practitioner", "HealthcareService") and id_:
                included[ref], _ = self.client.read(type_, id_, record_id=booking_id)
        return included

    def get_booking(self, booking_id: str) -> Booking:
        """The booking's live Appointment (the newest of a rescheduled chain, found by the booking
        identifier, else ``Appointment/<booking_id>``) with its Patient, Practitioner and
        HealthcareService read one by one.

        :raises NotFoundError: no Appointment carries the id (field ``Appointment.id``).
        :raises InvalidRecordError: the Appointment or a participant does not map (field named).
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        appointment = self._current(booking_id)
        return mapping.to_booking(
            appointment, self._with_actors(appointment, booking_id), self.tenant.id
        )

    # -- status and room --------------------------------------------------------------------

    def _locked_update(
        self, booking_id: str, change: Callable[[Resource], Resource | None]
    ) -> Resource:
        """Read the current Appointment, apply ``change`` (None: nothing to do), PUT it with
        If-Match; a lost race is re-read and re-applied (bounded)."""
        for _ in range(self.settings.max_lock_attempts):
            current = self._current(booking_id)
            updated = change(dict(current))
            if updated is None:
                return current
            checked_out(updated, booking_id)
            answer = self.client.call(
                "PUT",
                f"Appointment/{current['id']}",
                operation="updateAppointment",
                safe=True,
                record_id=booking_id,
                json=updated,
                headers={"If-Match": _etag(current)},
                accept=(412,),
            )
            if answer.status != 412:
                return dict(answer.body or updated)
        raise AmbiguousError(
            "the Appointment kept changing under us", record_id=booking_id, field="If-Match"
        )

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        """Write the Appointment statuses of ``STATUS_PATH[status]`` (e.g. ``arrived`` then
        ``fulfilled`` for attended), one ``PUT`` with ``If-Match`` per step; steps already done are
        skipped, so a repeat writes nothing. ``cancelled`` goes through :meth:`cancel` (the Slot is
        freed too); a servant no-show or a technical failure is written as ``cancelled`` with
        its ``cancelationReason`` (``prov``, ``other``).

        :param note: kept as the Appointment's ``comment`` (at most 1000 characters); empty:
            unchanged.
        :raises NotFoundError: the booking is unknown.
        :raises AmbiguousError: ``If-Match`` lost to another writer ``max_lock_attempts`` times.
        :raises RejectedError: the server refused the update (OperationOutcome ``invalid``,
            ``business-rule``...).
        :raises ContractViolationError: the resource to write would be invalid FHIR (our bug).
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        if status is BookingStatus.CANCELLED:
            self.cancel(booking_id, note or "Cancelado")
            return
        path = codes.STATUS_PATH[status]
        for step in path:

            def change(
                appointment: Resource, step: codes.AppointmentStatus = step
            ) -> Resource | None:
                now = appointment.get("status")
                if now == step.value or now == path[-1].value:
                    return None
                appointment["status"] = step.value
                if step is codes.AppointmentStatus.CANCELLED and status in codes.CANCEL_REASONS:
                    system, code, text = codes.CANCEL_REASONS[status]
                    appointment["cancelationReason"] = {
                        "coding": [{"system": system, "code": code}],
                        "text": text,
                    }
                if note:
                    appointment["comment"] = note[:1000]
                return appointment

            self._locked_update(booking_id, change)

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        """Keep the room link on the Appointment as the extension ``sala-virtual`` (``url``,
        ``validUntil`` as a UTC instant): one ``PUT`` with ``If-Match``, none when the extension
        already holds these values.

        :raises NotFoundError: the booking is unknown.
        :raises AmbiguousError: ``If-Match`` lost to another writer ``max_lock_attempts`` times.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        room = {
            "url": codes.ROOM_URL,
            "extension": [
                {"url": "url", "valueUrl": url},
                {"url": "validUntil", "valueDateTime": mapping.instant(valid_until)},
            ],
        }

        def change(appointment: Resource) -> Resource | None:
            if mapping.extension(appointment, codes.ROOM_URL) == room:
                return None
            others = [
                e for e in appointment.get("extension") or [] if e.get("url") != codes.ROOM_URL
            ]
            appointment["extension"] = [*others, room]
            return appointment

        self._locked_update(booking_id, change)

    # -- outcome out ------------------------------------------------------------------------

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        """The outcome as one FHIR transaction Bundle of conditional creates (``ifNoneExist``): the
        Patient (by CPF, when the applicant has one), the Encounter (class ``VR``, identifier = the
        entry's external reference) and, when attended, the teleconsultation Consent (CFM resolution
        2.314/2022). A re-send is answered with what already exists, so no key header is needed and
        ``idempotency_key`` is not sent.

        :returns: the receipt of the Encounter (``erp_id`` ``Encounter/<id>``).
        :raises NotFoundError: the booking's Appointment is unknown.
        :raises AmbiguousError: read timeout, dropped connection, 502/504, or an answer without the
            Encounter: it may exist (:meth:`find_protocol` tells).
        :raises RejectedError: the server refused the transaction.
        :raises ContractViolationError: a resource to write would be invalid FHIR (our bug).
        :raises TransientError: the request surely did not arrive (refused, 429, 503).
        """
        appointment = self._current(entry.booking_id)
        ref = entry.external_reference
        entries: list[Resource] = []
        patient_url: str | None = None
        if entry.applicant.cpf is not None:
            # The applicant is the patient: found (or created) by CPF in the same transaction.
            patient_url = _urn("patient", str(entry.applicant.cpf))
            entries.append(
                {
                    "fullUrl": patient_url,
                    "resource": checked_out(
                        {
                            "resourceType": "Patient",
                            "identifier": patient_identifiers(str(entry.applicant.cpf), None),
                            "name": [{"use": "official", "text": entry.applicant.name}],
                        },
                        ref,
                    ),
                    "request": {
                        "method": "POST",
                        "url": "Patient",
                        "ifNoneExist": f"identifier={any_system('cpf', entry.applicant.cpf)}",
                    },
                }
            )
        encounter = checked_out(mapping.encounter(entry, appointment, patient_url), ref)
        encounter_url = _urn("encounter", ref)
        entries.append(
            {
                "fullUrl": encounter_url,
                "resource": encounter,
                "request": {
                    "method": "POST",
                    "url": "Encounter",
                    "ifNoneExist": f"identifier={codes.ENCOUNTER_SYSTEM}|{ref}",
                },
            }
        )
        if entry.outcome in codes.CONSENT_OUTCOMES:
            consent = checked_out(
                mapping.consent(entry, appointment, encounter_url, patient_url), ref
            )
            entries.append(
                {
                    "fullUrl": _urn("consent", entry.external_reference),
                    "resource": consent,
                    "request": {
                        "method": "POST",
                        "url": "Consent",
                        "ifNoneExist": f"identifier={codes.CONSENT_SYSTEM}|"
                        + entry.external_reference,
                    },
                }
            )
        answer = self.client.transaction(entries, record_id=ref)
        position = 1 if patient_url else 0
        created = ((answer.body or {}).get("entry") or [{}] * 2)[position].get("resource")
        if not isinstance(created, dict):
            raise AmbiguousError(
                "the transaction answer has no Encounter", record_id=entry.external_reference
            )
        return mapping.receipt(created, entry.external_reference)

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        """The Encounter written for ``external_reference`` (``GET Encounter?identifier=<atendimento
        system>|<reference>``), or None.

        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        found, _, _ = self.client.search(
            "Encounter",
            [("identifier", f"{codes.ENCOUNTER_SYSTEM}|{external_reference}")],
            record_id=external_reference,
        )
        return mapping.receipt(found[0], external_reference) if found else None

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        """The Encounter ``receipt.erp_id`` names, with its DocumentReferences and ServiceRequests
        (``?encounter=``), oldest first.

        :raises NotFoundError: the Encounter does not exist.
        :raises InvalidRecordError: a DocumentReference or ServiceRequest does not map.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        encounter = self._encounter_of(receipt)
        ref = f"Encounter/{encounter['id']}"
        rid = receipt.external_reference
        documents, _, _ = self.client.search(
            "DocumentReference", [("encounter", ref), ("_sort", "_lastUpdated")], record_id=rid
        )
        forwards, _, _ = self.client.search(
            "ServiceRequest", [("encounter", ref), ("_sort", "_lastUpdated")], record_id=rid
        )
        return ProtocolRecord(
            receipt=mapping.receipt(encounter, rid),
            documents=tuple(mapping.verified_document(d, rid) for d in documents),
            forwards=tuple(mapping.forwarded_demand(f, rid) for f in forwards),
        )

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        """The booking's canonical status now (a :meth:`get_booking`): the probe before a status is
        re-sent.

        :raises NotFoundError: the booking is unknown.
        """
        return self.get_booking(booking_id).status

    def _conditional_create(
        self, resource: Resource, system: str, key: str, record_id: str
    ) -> None:
        checked_out(resource, record_id)
        self.client.call(
            "POST",
            str(resource["resourceType"]),
            operation=f"create{resource['resourceType']}",
            safe=True,  # a conditional create on a deterministic identifier is idempotent
            record_id=record_id,
            json=resource,
            headers={"If-None-Exist": f"identifier={system}|{key}"},
        )

    def _encounter_of(self, receipt: ProtocolReceipt) -> Resource:
        type_, _, id_ = receipt.erp_id.partition("/")
        encounter, _ = self.client.read(type_, id_, record_id=receipt.external_reference)
        return encounter

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        """A DocumentReference on the Encounter (hash as ``urn:ietf:rfc:6920:sha-256``): ``POST
        DocumentReference`` with ``If-None-Exist`` on ``idempotency_key``, so a re-send finds the
        first one and creates nothing. Idempotent, hence retried in-call.

        :param idempotency_key: the identifier the DocumentReference is created under.
        :raises NotFoundError: the Encounter does not exist.
        :raises RejectedError: the server refused the resource.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        resource = mapping.document_reference(
            receipt, self._encounter_of(receipt), document, idempotency_key
        )
        self._conditional_create(
            resource, codes.DOCUMENT_SYSTEM, idempotency_key, receipt.external_reference
        )

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        """A referral ServiceRequest from the Encounter: ``POST ServiceRequest`` with
        ``If-None-Exist`` on ``idempotency_key``, as :meth:`attach_document`.

        :param idempotency_key: the identifier the ServiceRequest is created under.
        :raises NotFoundError: the Encounter does not exist.
        :raises RejectedError: the server refused the resource.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        resource = mapping.service_request(
            receipt, self._encounter_of(receipt), demand, idempotency_key
        )
        self._conditional_create(
            resource, codes.FORWARD_SYSTEM, idempotency_key, receipt.external_reference
        )

    # -- the health service's API -----------------------------------------------------------

    def _practitioner(self, registration: str) -> Resource:
        found, _, _ = self.client.search(
            "Practitioner",
            [("identifier", f"{codes.REGISTRATION_SYSTEM}|{registration}")],
            record_id=registration,
        )
        if not found:
            raise NotFoundError("no such doctor", record_id=registration, field="registration")
        return found[0]

    def _slots(self, registration: str, day: date, status: str | None) -> list[Resource]:
        practitioner = self._practitioner(registration)
        schedules, _, _ = self.client.search(
            "Schedule", [("actor", f"Practitioner/{practitioner['id']}")], record_id=registration
        )
        low, high = _day_window(day)
        slots: list[Resource] = []
        for schedule in schedules:
            params = [
                ("schedule", f"Schedule/{schedule['id']}"),
                ("start", f"ge{low}"),
                ("start", f"lt{high}"),
                ("_sort", "start"),
                ("_count", str(self.settings.page_size)),
            ]
            if status:
                params.append(("status", status))
            found, _, _ = self.client.search("Slot", params, record_id=registration)
            slots += found
        return sorted(slots, key=lambda s: str(s.get("start")))

    def free_slots(self, registration: str, day: date) -> list[FreeSlot]:
        """The doctor's free Slots on ``day`` (the São Paulo calendar day, 00:00 to 24:00 local), in
        start order, across all the doctor's Schedules.

        :param registration: the doctor's registration (Practitioner identifier ``matricula``).
        :returns: slots with UTC start and end.
        :raises NotFoundError: no Practitioner has that registration (field ``registration``).
        :raises InvalidRecordError: a Slot's start or end is not a FHIR instant with a zone.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        return [
            FreeSlot(
                slot_id=str(s["id"]),
                start=mapping.parse_instant(s["start"], str(s["id"]), "Slot.start"),
                end=mapping.parse_instant(s["end"], str(s["id"]), "Slot.end"),
            )
            for s in self._slots(registration, day, "free")
        ]

    def _practitioner_of(self, slot: Resource, record_id: str) -> tuple[str, list[str]]:
        schedule_ref = str((slot.get("schedule") or {}).get("reference", ""))
        type_, _, id_ = schedule_ref.partition("/")
        schedule, _ = self.client.read(type_, id_, record_id=record_id)
        actors = [str(a.get("reference", "")) for a in schedule.get("actor") or []]
        doctors = [a for a in actors if a.startswith("Practitioner/")]
        if not doctors:
            raise InvalidRecordError(
                "the schedule has no doctor", record_id=record_id, field="Schedule.actor"
            )
        return doctors[0], [a for a in actors if a.startswith("HealthcareService/")]

    def _appointment_for(
        self,
        booking_id: str,
        sequence: int,
        slot: Resource,
        patient_ref: str,
        service_code: str,
        previous: Resource | None,
    ) -> Resource:
        doctor, services = self._practitioner_of(slot, booking_id)
        participants = [
            {"actor": {"reference": patient_ref}, "required": "required", "status": "accepted"},
            {"actor": {"reference": doctor}, "required": "required", "status": "accepted"},
            *({"actor": {"reference": s}, "status": "accepted"} for s in services),
        ]
        appointment: Resource = {
            "resourceType": "Appointment",
            "identifier": [
                {"system": codes.BOOKING_SYSTEM, "value": booking_id},
                {"system": codes.APPOINTMENT_SYSTEM, "value": f"{booking_id}.{sequence}"},
            ],
            "extension": [{"url": codes.SEQUENCE_URL, "valueInteger": sequence}],
            "status": "booked",
            "appointmentType": {"coding": [{"system": codes.ACT_CODE, "code": codes.VIRTUAL}]},
            "serviceType": [{"coding": [{"system": codes.SERVICE_SYSTEM, "code": service_code}]}],
            "start": slot["start"],
            "end": slot["end"],
            "slot": [{"reference": f"Slot/{slot['id']}"}],
            "created": mapping.instant(datetime.now(UTC).replace(microsecond=0)),
            "participant": participants,
        }
        if previous is not None:
            appointment["supportingInformation"] = [{"reference": f"Appointment/{previous['id']}"}]
            appointment["description"] = previous.get("description")
            if appointment["description"] is None:
                del appointment["description"]
        return checked_out(appointment, booking_id)

    def _find_appointment(self, booking_id: str, sequence: int) -> Resource | None:
        found, _, _ = self.client.search(
            "Appointment",
            [("identifier", f"{codes.APPOINTMENT_SYSTEM}|{booking_id}.{sequence}")],
            record_id=booking_id,
        )
        return found[0] if found else None

    def _settle(self, booking_id: str, sequence: int, send: Callable[[], int]) -> Booking:
        """Send a booking transaction; on a lost If-Match race or an ambiguous answer, probe
        for the Appointment it creates before trying again (bounded)."""
        last: MunivideoError | None = None
        for _ in range(self.settings.max_lock_attempts):
            try:
                status = send()
            except AmbiguousError as exc:
                last = exc
                status = 0
            if status not in (0, 412):
                return self.get_booking(booking_id)
            if self._find_appointment(booking_id, sequence) is not None:
                return self.get_booking(booking_id)
        if last is not None:
            raise last
        raise RejectedError(
            "the slot was taken by someone else", record_id=booking_id, field="Slot.status"
        )

    def book(
        self, slot_id: str, patient: Patient, service_code: str, *, booking_id: str | None = None
    ) -> Booking:
        """Book a free Slot in one transaction: the Patient (conditional create on the CPF), the
        Slot set ``busy`` (``If-Match`` on the version read) and the Appointment (``booked``,
        virtual, conditional create on ``<booking>.0``). Safe to call again with the same arguments:
        the second call returns the same booking. A lost answer or a lost race is resolved by
        searching the Appointment's identifier before trying again (at most ``max_lock_attempts``
        times).

        :param slot_id: a Slot id from :meth:`free_slots`.
        :param patient: who books (CPF required; CNS and e-mail written when given).
        :param service_code: the service's code (``serviceType``, system ``servico``).
        :param booking_id: the booking's id; default derived from the slot and the CPF.
        :returns: the booking as :meth:`get_booking` reads it.
        :raises RejectedError: the Slot is not free (taken by someone else; field ``Slot.status``).
        :raises AmbiguousError: every attempt's answer was lost and no Appointment was found.
        :raises InvalidRecordError: the Slot's Schedule names no doctor (field ``Schedule.actor``).
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        booking_id = booking_id or f"TC-{uuid.uuid5(_NS, f'{slot_id}|{patient.cpf}').hex[:12]}"
        if self._find_appointment(booking_id, 0) is not None:
            return self.get_booking(booking_id)

        def send() -> int:
            slot, etag = self.client.read("Slot", slot_id, record_id=booking_id)
            if slot.get("status") != "free":
                return 412
            patient_url = _urn("patient", str(patient.cpf))
            patient_resource = checked_out(
                {
                    "resourceType": "Patient",
                    "identifier": patient_identifiers(str(patient.cpf), patient.cns),
                    "active": True,
                    "name": [{"use": "official", "text": patient.name}],
                    **(
                        {"telecom": [{"system": "email", "value": str(patient.email)}]}
                        if patient.email
                        else {}
                    ),
                },
                booking_id,
            )
            busy = checked_out({**slot, "status": "busy"}, booking_id)
            appointment = self._appointment_for(
                booking_id, 0, slot, patient_url, service_code, None
            )
            return self.client.transaction(
                [
                    {
                        "fullUrl": patient_url,
                        "resource": patient_resource,
                        "request": {
                            "method": "POST",
                            "url": "Patient",
                            "ifNoneExist": f"identifier={any_system('cpf', patient.cpf)}",
                        },
                    },
                    {
                        "resource": busy,
                        "request": {"method": "PUT", "url": f"Slot/{slot_id}", "ifMatch": etag},
                    },
                    {
                        "fullUrl": _urn("appointment", booking_id, "0"),
                        "resource": appointment,
                        "request": {
                            "method": "POST",
                            "url": "Appointment",
                            "ifNoneExist": _appointment_key(booking_id, 0),
                        },
                    },
                ],
                record_id=booking_id,
                accept=(412,),
            ).status

        return self._settle(booking_id, 0, send)

    def _slot_updates(self, appointment: Resource, status: str, booking_id: str) -> list[Resource]:
        entries = []
        for ref in appointment.get("slot") or []:
            type_, _, id_ = str(ref.get("reference", "")).partition("/")
            slot, etag = self.client.read(type_, id_, record_id=booking_id)
            if slot.get("status") != status:
                entries.append(
                    {
                        "resource": checked_out({**slot, "status": status}, booking_id),
                        "request": {"method": "PUT", "url": f"Slot/{id_}", "ifMatch": etag},
                    }
                )
        return entries

    def cancel(self, booking_id: str, reason: str = "Cancelado") -> Booking:
        """Cancel the booking's Appointment (``cancelationReason`` with ``reason``, sequence + 1)
        and free its Slot, in one transaction with ``If-Match``; a lost race is re-read and retried
        (at most ``max_lock_attempts`` times). A cancelled booking is left as it is.

        :param reason: the cancellation's text.
        :returns: the booking as :meth:`get_booking` reads it afterwards.
        :raises LifecycleError: the Appointment is ``fulfilled`` or ``noshow`` (field
            ``Appointment.status``).
        :raises NotFoundError: the booking is unknown.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        for _ in range(self.settings.max_lock_attempts):
            current = self._current(booking_id)
            if current.get("status") in ("cancelled", "fulfilled", "noshow"):
                if current.get("status") != "cancelled":
                    raise LifecycleError(
                        f"a {current.get('status')} appointment cannot be cancelled",
                        record_id=booking_id,
                        field="Appointment.status",
                    )
                return self.get_booking(booking_id)
            system, code, _ = codes.CANCEL_REASONS[BookingStatus.CANCELLED]
            cancelled = {
                **current,
                "status": "cancelled",
                "cancelationReason": {"coding": [{"system": system, "code": code}], "text": reason},
                "extension": [
                    *(
                        e
                        for e in current.get("extension") or []
                        if e.get("url") != codes.SEQUENCE_URL
                    ),
                    {"url": codes.SEQUENCE_URL, "valueInteger": mapping.sequence_of(current) + 1},
                ],
            }
            entries = [
                {
                    "resource": checked_out(cancelled, booking_id),
                    "request": {
                        "method": "PUT",
                        "url": f"Appointment/{current['id']}",
                        "ifMatch": _etag(current),
                    },
                },
                *self._slot_updates(current, "free", booking_id),
            ]
            try:
                status = self.client.transaction(
                    entries, record_id=booking_id, accept=(412,)
                ).status
            except AmbiguousError:
                status = 0
            if status not in (0, 412):
                break
        return self.get_booking(booking_id)

    def reschedule(self, booking_id: str, slot_id: str) -> Booking:
        """Move the booking to another free Slot in one transaction: the current Appointment
        cancelled as "remarcado" (its Slot freed), the new Slot set ``busy`` and a new Appointment
        linked to the old one (``supportingInformation``, sequence + 1). Calling it again after it
        landed returns the same booking.

        :param slot_id: a free Slot id from :meth:`free_slots`.
        :returns: the booking, now on the new Slot.
        :raises LifecycleError: the Appointment is not ``booked``, ``proposed`` or ``pending``.
        :raises RejectedError: the new Slot is not free.
        :raises AmbiguousError: every attempt's answer was lost and the new Appointment was not
            found.
        :raises NotFoundError: the booking is unknown.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        current = self._current(booking_id)
        sequence = mapping.sequence_of(current) + 1
        if (
            any(str(s.get("reference")) == f"Slot/{slot_id}" for s in current.get("slot") or [])
            and current.get("status") == "booked"
        ):
            return self.get_booking(booking_id)
        if current.get("status") not in ("booked", "proposed", "pending"):
            raise LifecycleError(
                f"a {current.get('status')} appointment cannot be rescheduled",
                record_id=booking_id,
                field="Appointment.status",
            )

        def send() -> int:
            old = self._current(booking_id)
            if mapping.sequence_of(old) >= sequence:
                return 412  # someone (maybe our earlier attempt) already moved it: probe
            slot, etag = self.client.read("Slot", slot_id, record_id=booking_id)
            if slot.get("status") != "free":
                return 412
            patient = mapping.actor_refs(old, "Patient")
            service = (old.get("serviceType") or [{}])[0].get("coding", [{}])[0].get("code", "")
            system, code, text = codes.RESCHEDULED
            superseded = {
                **old,
                "status": "cancelled",
                "cancelationReason": {"coding": [{"system": system, "code": code}], "text": text},
            }
            new = self._appointment_for(booking_id, sequence, slot, patient[0], service, old)
            entries = [
                {
                    "resource": checked_out(superseded, booking_id),
                    "request": {
                        "method": "PUT",
                        "url": f"Appointment/{old['id']}",
                        "ifMatch": _etag(old),
                    },
                },
                *self._slot_updates(old, "free", booking_id),
                {
                    "resource": checked_out({**slot, "status": "busy"}, booking_id),
                    "request": {"method": "PUT", "url": f"Slot/{slot_id}", "ifMatch": etag},
                },
                {
                    "fullUrl": _urn("appointment", booking_id, str(sequence)),
                    "resource": new,
                    "request": {
                        "method": "POST",
                        "url": "Appointment",
                        "ifNoneExist": _appointment_key(booking_id, sequence),
                    },
                },
            ]
            return self.client.transaction(entries, record_id=booking_id, accept=(412,)).status

        return self._settle(booking_id, sequence, send)

    def agenda(self, registration: str, day: date) -> list[AgendaItem]:
        """The doctor's day (São Paulo calendar day): every Slot in start order with its status and,
        when a live Appointment holds it, the booking (cancelled ones and ones that do not map are
        left out).

        :param registration: the doctor's registration (Practitioner identifier ``matricula``).
        :raises NotFoundError: no Practitioner has that registration.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        practitioner = self._practitioner(registration)
        low, high = _day_window(day)
        appointments, included, _ = self.client.search(
            "Appointment",
            [
                ("practitioner", f"Practitioner/{practitioner['id']}"),
                ("date", f"ge{low}"),
                ("date", f"lt{high}"),
                *_ACTORS,
            ],
            record_id=registration,
        )
        by_slot: dict[str, Booking] = {}
        for appointment in appointments:
            if appointment.get("status") == "cancelled":
                continue
            try:
                booking = mapping.to_booking(appointment, included, self.tenant.id)
            except MunivideoError:
                continue
            for ref in appointment.get("slot") or []:
                by_slot[str(ref.get("reference"))] = booking
        return [
            AgendaItem(
                start=mapping.parse_instant(s["start"], str(s["id"]), "Slot.start"),
                end=mapping.parse_instant(s["end"], str(s["id"]), "Slot.end"),
                slot_status=str(s.get("status")),
                booking=by_slot.get(f"Slot/{s['id']}"),
            )
            for s in self._slots(registration, day, None)
        ]

    def patient_encounters(
        self, *, cpf: str | None = None, cns: str | None = None
    ) -> list[EncounterSummary]:
        """The patient's earlier Encounters (any class, not only teleconsultations), newest first,
        found by CPF or CNS under any identifier system that names it.

        :param cpf: the patient's CPF (punctuation allowed).
        :param cns: the patient's Cartão Nacional de Saúde number, when no CPF is given.
        :raises InvalidRecordError: neither given (field ``cpf``), a Patient's identifiers are
            malformed, or ``cpf`` is not a CPF (not 11 digits, check digits that do not match:
            an :class:`~munivideo.errors.InvalidValueError` naming field ``cpf``, from
            :meth:`munivideo.values.Cpf.parse`); nothing is sent then.
        :raises TransientError: the server was unreachable, answered 429/503 or an OperationOutcome
            of type ``exception``, past the retry policy.
        """
        if cpf is None and cns is None:
            raise InvalidRecordError("give a CPF or a CNS", field="cpf")
        token = (
            any_system("cpf", Cpf.parse(cpf, field="cpf")) if cpf else any_system("cns", str(cns))
        )
        patients, _, _ = self.client.search("Patient", [("identifier", token)])
        summaries: list[EncounterSummary] = []
        for patient in patients:
            read_patient_ids(patient, str(patient.get("id")))
            encounters, _, _ = self.client.search(
                "Encounter", [("patient", f"Patient/{patient['id']}"), ("_sort", "-date")]
            )
            for enc in encounters:
                period = enc.get("period") or {}
                summaries.append(
                    EncounterSummary(
                        encounter_id=str(enc.get("id")),
                        status=str(enc.get("status")),
                        encounter_class=str((enc.get("class") or {}).get("code", "")),
                        start=mapping.parse_instant(period["start"], str(enc["id"]), "period.start")
                        if period.get("start")
                        else None,
                        end=mapping.parse_instant(period["end"], str(enc["id"]), "period.end")
                        if period.get("end")
                        else None,
                        practitioners=tuple(
                            str((p.get("individual") or {}).get("reference", ""))
                            for p in enc.get("participant") or []
                        ),
                        appointment=str((enc.get("appointment") or [{}])[0].get("reference"))
                        if enc.get("appointment")
                        else None,
                    )
                )
        return sorted(
            summaries, key=lambda s: s.start or datetime.min.replace(tzinfo=UTC), reverse=True
        )


def _appointment_key(booking_id: str, sequence: int) -> str:
    return f"identifier={codes.APPOINTMENT_SYSTEM}|{booking_id}.{sequence}"


def _etag(resource: Resource) -> str:
    return f'W/"{(resource.get("meta") or {}).get("versionId", "")}"'


def _stamp(resource: Resource) -> datetime:
    return mapping.parse_instant(
        (resource.get("meta") or {}).get("lastUpdated"), str(resource.get("id")), "meta.lastUpdated"
    )


def _id_key(id_: str) -> tuple[int, str]:
    return (int(id_) if id_.isdigit() else 0, id_)


def _check_port(adapter: FhirErpAdapter) -> ErpAdapter:
    return adapter  # mypy proves the adapter implements the port


def create_adapter(tenant: Tenant, settings: Mapping[str, Any]) -> FhirErpAdapter:
    """The ``fhir`` factory: validates ``[erp.settings]`` and builds the adapter."""
    validated = parse_settings(
        FhirSettings, settings, tenant=tenant, section="erp.settings", adapter="fhir"
    )
    return FhirErpAdapter(tenant, validated)
