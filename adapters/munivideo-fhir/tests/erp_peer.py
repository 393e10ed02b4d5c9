"""The ERP sandbox's bookings mirrored as FHIR resources, behind the sandbox's own test surface.

The acceptance suite checks an adapter against the sandbox ERP's records (``bookings()``,
``protocols()``, fault targets such as ``criarProtocolo``). :class:`FhirPeer` gives the suite
the same surface over the sandbox's FHIR endpoint: each ERP booking becomes a telehealth
Appointment (same id, same times, its patient, doctor and service), each Encounter the FHIR
adapter writes is rendered as a protocol, and fault targets are translated to FHIR interactions.
The oracles stay the ERP's source data, so the FHIR mapping is checked against it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from munivideo_fhir import codes
from munivideo_fhir.identifiers import patient_identifiers, read_patient_ids

from munivideo.sandbox import Sandbox
from munivideo.sandbox.fhir_store import FhirStore
from munivideo.values import SAO_PAULO

OPERATIONS = {
    "criarProtocolo": "transaction",
    "obterAgendamento": "searchAppointment",
    "listarAlterados": "searchAppointment",
    "atualizarSituacao": "updateAppointment",
    "registrarSala": "updateAppointment",
    "buscarPorReferenciaExterna": "searchEncounter",
    "obterProtocolo": "readEncounter",
    "anexarDocumento": "createDocumentReference",
    "tramitarProtocolo": "createServiceRequest",
}
"""ERP fault targets -> the FHIR interaction the adapter uses for the same work."""

TO_FHIR = {
    "AG": "proposed",
    "CF": "booked",
    "RM": "booked",
    "CA": "cancelled",
    "AT": "fulfilled",
    "FA": "noshow",
    "FS": "cancelled",
    "FT": "cancelled",
}
FROM_FHIR = {
    "proposed": "AG",
    "booked": "CF",
    "arrived": "CF",
    "fulfilled": "AT",
    "noshow": "FA",
    "cancelled": "CA",
}


def _local(day: str, hhmm: str) -> str:
    d = date.fromisoformat(day)
    h, m = (int(x) for x in hhmm.split(":"))
    moment = datetime(d.year, d.month, d.day, h, m, tzinfo=SAO_PAULO).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _ensure(store: FhirStore, type_: str, id_: str, resource: dict[str, Any]) -> None:
    if not any(v.id == id_ for v in store.current(type_)):
        store.create(type_, resource, id_=id_, at=datetime(2020, 1, 1, tzinfo=UTC))


def appointment_from(
    store: FhirStore, doc: dict[str, Any], sequence: int | None = None
) -> dict[str, Any]:
    """The Appointment (and its Patient, Practitioner, HealthcareService) for an ERP booking."""
    citizen = doc["cidadao"]
    patient_id = f"pac-{doc['id']}"
    telecom = [
        {"system": s, "value": citizen[k]}
        for s, k in (("email", "email"), ("phone", "telefone"))
        if citizen.get(k)
    ]
    _ensure(
        store,
        "Patient",
        patient_id,
        {
            "resourceType": "Patient",
            "identifier": patient_identifiers(citizen["cpfCnpj"], None),
            "name": [{"text": citizen["nome"]}],
            **({"telecom": telecom} if telecom else {}),
        },
    )
    service = doc["codigoServico"]
    _ensure(
        store,
        "HealthcareService",
        f"svc-{service.lower()}",
        {
            "resourceType": "HealthcareService",
            "type": [{"coding": [{"system": codes.SERVICE_SYSTEM, "code": service}]}],
            "name": service,
        },
    )
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
        {"actor": {"reference": f"HealthcareService/svc-{service.lower()}"}, "status": "accepted"},
    ]
    servant = doc.get("servidor")
    if servant:
        _ensure(
            store,
            "Practitioner",
            f"prof-{servant['matricula']}",
            {
                "resourceType": "Practitioner",
                "identifier": [
                    {"system": codes.REGISTRATION_SYSTEM, "value": servant["matricula"]}
                ],
                "name": [{"text": servant["nome"]}],
            },
        )
        participants.append(
            {
                "actor": {"reference": f"Practitioner/prof-{servant['matricula']}"},
                "status": "accepted",
            }
        )
    return {
        "resourceType": "Appointment",
        "identifier": [{"system": codes.BOOKING_SYSTEM, "value": doc["id"]}],
        "extension": [
            {
                "url": codes.SEQUENCE_URL,
                "valueInteger": doc["sequencia"] if sequence is None else sequence,
            }
        ],
        "status": TO_FHIR[doc["situacao"]],
        "appointmentType": {"coding": [{"system": codes.ACT_CODE, "code": codes.VIRTUAL}]},
        "serviceType": [{"coding": [{"system": codes.SERVICE_SYSTEM, "code": service}]}],
        "start": _local(doc["data"], doc["horaInicio"]),
        "end": _local(doc["data"], doc["horaFim"]),
        "participant": participants,
    }


def mirror(docs: list[dict[str, Any]]) -> Callable[[FhirStore], None]:
    def seed(store: FhirStore) -> None:
        for doc in docs:
            store.create(
                "Appointment",
                appointment_from(store, doc),
                id_=doc["id"],
                at=_stamp(doc["dataAtualizacao"]),
            )

    return seed


class FhirPeer:
    """The sandbox, seen through its FHIR endpoint, with the sandbox ERP's test surface."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.fhir = sandbox.ctx.fhir
        self.fhir.reset(mirror(sandbox.bookings()))
        self.credentials = sandbox.credentials

    @property
    def fhir_url(self) -> str:
        return self.sandbox.fhir_url

    def inject(self, spec: str, seed: int = 0) -> None:
        for erp, fhir in OPERATIONS.items():
            spec = spec.replace(f"{erp}=", f"{fhir}=")
        self.sandbox.inject(spec, seed)

    def faults(self) -> dict[str, object]:
        return self.sandbox.faults()

    def bookings(self) -> list[dict[str, Any]]:
        return self.sandbox.bookings()

    def add_booking(self, doc: dict[str, Any]) -> dict[str, Any]:
        added = self.sandbox.add_booking(doc)
        self.fhir.create(
            "Appointment",
            appointment_from(self.fhir, added),
            id_=added["id"],
            at=_stamp(added["dataAtualizacao"]),
        )
        return added

    def _live(self, booking_id: str) -> Any:
        chain = [
            v
            for v in self.fhir.current("Appointment")
            if {"system": codes.BOOKING_SYSTEM, "value": booking_id}
            in (v.resource or {}).get("identifier", [])
            and (v.resource or {}).get("cancelationReason", {}).get("coding", [{}])[0].get("code")
            != "remarcado"
        ]
        return chain[-1]

    def reschedule_booking(self, booking_id: str, day: str, start: str, end: str) -> dict[str, Any]:
        """As a health system reschedules: the Appointment cancelled as replaced, a new one."""
        moved = self.sandbox.reschedule_booking(booking_id, day, start, end)
        old = self._live(booking_id)
        system, code, text = codes.RESCHEDULED
        superseded = dict(old.resource, status="cancelled")
        superseded["cancelationReason"] = {
            "coding": [{"system": system, "code": code}],
            "text": text,
        }
        self.fhir.update("Appointment", old.id, superseded)
        new = appointment_from(self.fhir, moved, sequence=moved["sequencia"])
        new["supportingInformation"] = [{"reference": f"Appointment/{old.id}"}]
        self.fhir.create("Appointment", new)
        return moved

    def booking(self, booking_id: str) -> dict[str, Any]:
        """The ERP-shaped view of the booking's live Appointment (status and room link)."""
        appointment = self._live(booking_id).resource
        doc = dict(self.sandbox.booking(booking_id), situacao=FROM_FHIR[appointment["status"]])
        for ext in appointment.get("extension") or []:
            if ext["url"] == codes.ROOM_URL:
                parts = {e["url"]: e for e in ext["extension"]}
                doc["sala"] = {
                    "url": parts["url"]["valueUrl"],
                    "validaAte": parts["validUntil"]["valueDateTime"].replace("Z", "+00:00"),
                }
        return doc

    def effects(self) -> dict[str, dict[str, int]]:
        """As ``Sandbox.effects()``: what the FHIR server executed, by subject and step
        (``create``, ``attach:<sha256>``, ``forward:<department>`` per external reference;
        ``status:<code>`` per booking, one per Appointment version that changed the status)."""
        out: dict[str, dict[str, int]] = {}

        def count(subject: str, step: str) -> None:
            out.setdefault(subject, {}).setdefault(step, 0)
            out[subject][step] += 1

        refs: dict[str, str] = {}
        for protocol in self.protocols():
            count(protocol["referenciaExterna"], "create")
            refs[f"Encounter/{protocol['numero']}"] = protocol["referenciaExterna"]
        for version in self.fhir.current("DocumentReference"):
            doc = version.resource or {}
            sha = next(i["value"] for i in doc["identifier"] if i["system"] == codes.SHA256_SYSTEM)
            count(refs[doc["context"]["encounter"][0]["reference"]], f"attach:{sha}")
        for version in self.fhir.current("ServiceRequest"):
            req = version.resource or {}
            code = req["performerType"]["coding"][0]["code"]
            count(refs[req["encounter"]["reference"]], f"forward:{code}")
        previous: dict[str, str] = {}
        for version in reversed(self.fhir.history("Appointment")):
            res = version.resource or {}
            status = str(res.get("status"))
            if version.version > 1 and previous.get(version.id) != status:
                booking = next(
                    (
                        i["value"]
                        for i in res.get("identifier", [])
                        if i["system"] == codes.BOOKING_SYSTEM
                    ),
                    version.id,
                )
                count(booking, f"status:{FROM_FHIR.get(status, status)}")
            previous[version.id] = status
        return out

    def duplicates(self) -> list[tuple[str, str, int]]:
        """As ``Sandbox.duplicates()``: every effect executed more than once."""
        return [
            (subject, step, n)
            for subject, steps in self.effects().items()
            for step, n in steps.items()
            if n > 1 and not step.startswith("status:")
        ]

    def protocols(self) -> list[dict[str, Any]]:
        """Every Encounter rendered as the sandbox ERP renders a protocol."""
        out = []
        for version in self.fhir.current("Encounter"):
            enc = version.resource or {}
            ref = f"Encounter/{version.id}"
            subject = enc["subject"]["reference"].split("/")
            patient = self.fhir.read(subject[0], subject[1]).resource or {}
            start = datetime.fromisoformat(enc["period"]["start"].replace("Z", "+00:00"))
            local = start.astimezone(SAO_PAULO)
            security = enc["meta"]["security"][0]["code"]
            docs = [
                v.resource or {}
                for v in self.fhir.current("DocumentReference")
                if (v.resource or {})["context"]["encounter"][0]["reference"] == ref
            ]
            forwards = [
                v.resource or {}
                for v in self.fhir.current("ServiceRequest")
                if (v.resource or {})["encounter"]["reference"] == ref
            ]
            out.append(
                {
                    "numero": int(version.id),
                    "referenciaExterna": next(
                        i["value"]
                        for i in enc["identifier"]
                        if i["system"] == codes.ENCOUNTER_SYSTEM
                    ),
                    "requerentes": [{"cpfCnpj": str(read_patient_ids(patient, "p").cpf)}],
                    "dataAbertura": local.date().isoformat(),
                    "horaAbertura": local.strftime("%H:%M"),
                    "resultadoAtendimento": "AT" if enc["status"] == "finished" else "FA",
                    "nivelAcesso": {"R": "interno", "N": "publico"}[security],
                    "anexos": [
                        {
                            "sha256": next(
                                i["value"]
                                for i in d["identifier"]
                                if i["system"] == codes.SHA256_SYSTEM
                            )
                        }
                        for d in docs
                    ],
                    "tramitacoes": [
                        {"codigoDepartamentoDestino": f["performerType"]["coding"][0]["code"]}
                        for f in forwards
                    ],
                }
            )
        return out
