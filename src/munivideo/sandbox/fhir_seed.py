"""``health-unit``: the FHIR seed of the sandbox - a municipal health unit's teleconsultations.

Three doctors (each with a Schedule), two telehealth HealthcareServices, 20-minute Slots from 08:00
to 12:00 on the next two days (São Paulo time), eight patients identified as RNDS writes them
(CPF and CNS with valid check digits) and eight Appointments (``TC-000001``...) on those slots:
six booked, one proposed, one cancelled. Dates are relative to "today".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from munivideo.sandbox.fhir_store import FhirStore, Resource
from munivideo.sandbox.seeds import CITIZENS, make_cpf
from munivideo.values import SAO_PAULO

CPF_SYSTEM = "http://rnds.saude.gov.br/fhir/r4/NamingSystem/cpf"
CNS_SYSTEM = "http://rnds.saude.gov.br/fhir/r4/NamingSystem/cns"
REGISTRATION_SYSTEM = "https://munivideo.org/fhir/sid/matricula"
BOOKING_SYSTEM = "https://munivideo.org/fhir/sid/agendamento"
SERVICE_SYSTEM = "https://munivideo.org/fhir/CodeSystem/servico"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

DOCTORS: tuple[tuple[str, str, str], ...] = (
    ("MED-0001", "Helena", "Vasconcelos Prado"),
    ("MED-0002", "Caio", "Estêvão Moreira"),
    ("MED-0003", "Lúcia", "Brandão Falcão"),
)
SERVICES: tuple[tuple[str, str], ...] = (
    ("TELE-CLINICA", "Teleconsulta de clínica médica"),
    ("TELE-SAUDE-MENTAL", "Teleconsulta de saúde mental"),
)
SLOT_MINUTES = 20
MORNING = ("08:00", "12:00")


def make_cns(n: int) -> str:
    """A valid provisional-series CNS (starts with 7) from a small integer: the weighted sum of
    the 15 digits (weights 15..1) is a multiple of 11."""
    k = 0
    while True:
        body = f"7{(n * 104_729 + 31_337 + k) % 10**13:013d}"
        total = sum(int(d) * (15 - i) for i, d in enumerate(body))
        last = (-total) % 11
        if last < 10:
            return body + str(last)
        k += 1


def _at(day: date, minutes: int) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=SAO_PAULO) + timedelta(minutes=minutes)
    return local.astimezone(UTC)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def patient(n: int) -> Resource:
    """Seed patient ``n`` (1-based): CPF and CNS, both typed and with RNDS systems."""
    name = CITIZENS[(n - 1) % len(CITIZENS)]
    given, _, family = name.partition(" ")
    return {
        "resourceType": "Patient",
        "identifier": [
            {"use": "official", "system": CPF_SYSTEM, "value": make_cpf(100 + n)},
            {"use": "official", "system": CNS_SYSTEM, "value": make_cns(n)},
        ],
        "active": True,
        "name": [{"use": "official", "text": name, "family": family, "given": [given]}],
        "telecom": [
            {"system": "email", "value": f"paciente{n}@example.com.br"},
            {"system": "phone", "value": f"+55519{91_000_000 + n * 7_919:08d}"},
        ],
    }


def seed_health_unit(store: FhirStore, *, today: date | None = None) -> None:
    """Load the ``health-unit`` resources into ``store`` (ids are fixed, for tests)."""
    now = datetime.now(UTC)
    today = today or now.astimezone(SAO_PAULO).date()
    stamp = now - timedelta(hours=2)

    def put(type_: str, id_: str, resource: dict[str, Any]) -> None:
        nonlocal stamp
        stamp += timedelta(milliseconds=1)
        store.create(type_, resource, id_=id_, at=stamp)

    for code, name in SERVICES:
        put(
            "HealthcareService",
            code.lower(),
            {
                "resourceType": "HealthcareService",
                "identifier": [{"system": SERVICE_SYSTEM, "value": code}],
                "active": True,
                "type": [{"coding": [{"system": SERVICE_SYSTEM, "code": code, "display": name}]}],
                "name": name,
                "characteristic": [
                    {"coding": [{"system": ACT_CODE, "code": "VR", "display": "virtual"}]}
                ],
                "appointmentRequired": True,
            },
        )
    for registration, given, family in DOCTORS:
        pid = registration.lower()
        put(
            "Practitioner",
            pid,
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": REGISTRATION_SYSTEM, "value": registration}],
                "active": True,
                "name": [
                    {"text": f"Dra./Dr. {given} {family}", "family": family, "given": [given]}
                ],
                "telecom": [{"system": "email", "value": f"{pid}@saude.example.gov.br"}],
            },
        )
        put(
            "Schedule",
            f"agenda-{pid}",
            {
                "resourceType": "Schedule",
                "active": True,
                "serviceType": [{"coding": [{"system": SERVICE_SYSTEM, "code": SERVICES[0][0]}]}],
                "actor": [
                    {"reference": f"Practitioner/{pid}"},
                    {"reference": f"HealthcareService/{SERVICES[0][0].lower()}"},
                ],
                "comment": "Teleconsultas da manhã",
            },
        )
    for n in range(1, 9):
        put("Patient", f"paciente-{n}", patient(n))
    first, last = (_minutes(t) for t in MORNING)
    for offset in (1, 2):
        day = today + timedelta(days=offset)
        for registration, _, _ in DOCTORS:
            pid = registration.lower()
            for minute in range(first, last, SLOT_MINUTES):
                put(
                    "Slot",
                    f"{pid}-{day:%Y%m%d}-{minute // 60:02d}{minute % 60:02d}",
                    {
                        "resourceType": "Slot",
                        "schedule": {"reference": f"Schedule/agenda-{pid}"},
                        "status": "free",
                        "start": _instant(_at(day, minute)),
                        "end": _instant(_at(day, minute + SLOT_MINUTES)),
                    },
                )
    day = today + timedelta(days=1)
    statuses = ("booked",) * 3 + ("proposed",) + ("booked",) * 3 + ("cancelled",)
    for n in range(1, 9):
        registration = DOCTORS[(n - 1) % 3][0]
        pid = registration.lower()
        minute = first + ((n - 1) // 3) * SLOT_MINUTES
        slot_id = f"{pid}-{day:%Y%m%d}-{minute // 60:02d}{minute % 60:02d}"
        status = statuses[n - 1]
        if status == "booked":
            slot = dict(store.read("Slot", slot_id).resource or {})
            slot["status"] = "busy"
            stamp += timedelta(milliseconds=1)
            store.update("Slot", slot_id, slot, at=stamp)
        service_code, service_name = SERVICES[1 if n % 4 == 0 else 0]
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "identifier": [{"system": BOOKING_SYSTEM, "value": f"TC-{n:06d}"}],
            "status": status,
            "appointmentType": {"coding": [{"system": ACT_CODE, "code": "VR"}]},
            "serviceType": [
                {"coding": [{"system": SERVICE_SYSTEM, "code": service_code}], "text": service_name}
            ],
            "description": service_name,
            "start": _instant(_at(day, minute)),
            "end": _instant(_at(day, minute + SLOT_MINUTES)),
            "created": _instant(now - timedelta(days=3)),
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/paciente-{n}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{pid}"}, "status": "accepted"},
                {
                    "actor": {"reference": f"HealthcareService/{service_code.lower()}"},
                    "status": "accepted",
                },
            ],
        }
        if status == "cancelled":
            appointment["cancelationReason"] = {"text": "Cancelado pelo paciente"}
        if status == "proposed":
            appointment["participant"][1]["status"] = "needs-action"
        put("Appointment", f"TC-{n:06d}", appointment)
