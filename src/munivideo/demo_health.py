"""``munivideo demo --scenario health``: a morning of teleconsultations at a municipal health
unit, end to end and offline, over the sandbox's FHIR R4 endpoint.

The sandbox's ``health-unit`` seed has three doctors, their Schedules and Slots, eight patients
and eight Appointments. The demo books two more teleconsultations through the FHIR adapter's API
(Patient, Slot and Appointment in one transaction), reschedules one and cancels another, syncs
(rooms, invitations), plays the morning (attended consultations, a patient no-show, a technical
failure, an exam result checked and a referral to cardiology), writes the outcomes back under
injected faults (transactions committed and then dropped) and reads the FHIR server back: exactly
one Encounter (class VR) per consultation, one Consent (CFM 2.314/2022) per attended one, the
Appointment statuses, and every stored resource valid for fhir.resources. Needs the
``munivideo-fhir`` adapter (``pip install munivideo-fhir``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from munivideo.errors import ConfigurationError
from munivideo.values import SAO_PAULO, utcnow

DEFAULT_FAULTS = (
    "transaction=drop_after_commit@0.25,createDocumentReference=drop_after_commit@0.3,"
    "createServiceRequest=drop_after_commit@0.3,updateAppointment=drop@0.1,"
    "*=unavailable:0@0.05"
)
"""About one write in four is answered by a dropped connection after the server committed it:
the case that duplicates Encounters in naive integrations."""

SERVICES = {
    "TELE-CLINICA": ("Teleconsulta de clínica médica", "TELECONSULTA-CLINICA"),
    "TELE-SAUDE-MENTAL": ("Teleconsulta de saúde mental", "TELECONSULTA-SAUDE-MENTAL"),
}
UNIT = ("UBS-VILA-NOVA", "Unidade Básica de Saúde Vila Nova")
CARDIOLOGY = "AMB-CARDIOLOGIA"
ONE_DAY = timedelta(days=1)  # the health-unit seed's Appointments are tomorrow morning
NO_SHOW = "TC-000005"
TECHNICAL_FAILURE = "TC-000006"
REFERRED = "TC-000001"
CANCELLED = "TC-000003"
ENCOUNTER_STATUS = {
    "attended": "finished",
    "citizen_no_show": "cancelled",
    "servant_no_show": "cancelled",
    "technical_failure": "cancelled",
}
APPOINTMENT_STATUS = {
    "attended": "fulfilled",
    "citizen_no_show": "noshow",
    "servant_no_show": "cancelled",
    "technical_failure": "cancelled",
}


class ConsultationRow(BaseModel):
    """One teleconsultation as read back from the FHIR server after the write-back."""

    booking_id: str
    doctor: str
    outcome: str
    encounters: int
    consents: int
    appointment_status: str
    referrals: int
    documents: int


class HealthReport(BaseModel):
    """What the health demo saw; ``ok`` is the exactly-once invariant plus validity."""

    ok: bool = False
    seconds: float = 0.0
    output: str
    bookings: int = 0
    booked: list[str] = Field(default_factory=list)
    rescheduled: str = ""
    cancelled: str = CANCELLED
    invitations_written: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)
    delivered: int = 0
    retries: int = 0
    faults: str = ""
    faults_fired: int = 0
    consultations: list[ConsultationRow] = Field(default_factory=list)
    #: Writes the FHIR server executed during the write-back ("create:Encounter": 7, ...).
    effects: dict[str, int] = Field(default_factory=dict)
    resources_checked: int = 0
    invalid_resources: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    agenda: list[str] = Field(default_factory=list)


def _config(fhir_url: str, out: Path, video: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": {
            "id": "saude-gravatai",
            "name": "Secretaria Municipal de Saúde de Gravataí",
            "timezone": "America/Sao_Paulo",
            "locale": "pt-BR",
        },
        "erp": {
            "adapter": "fhir",
            "settings": {
                "base_url": fhir_url,
                "timeouts": {"connect_seconds": 2, "read_seconds": 5, "total_seconds": 7},
                "retry": {
                    "max_attempts": 2,
                    "initial_backoff_seconds": 0.05,
                    "max_backoff_seconds": 0.2,
                    "max_retry_after_seconds": 1,
                },
            },
        },
        "video": video,
        "notifiers": [
            {
                "name": "file",
                "settings": {
                    "path": f"{out.as_posix()}/outbox",
                    "sender": "teleconsulta@saude.gravatai.example.gov.br",
                },
            }
        ],
        "store": {"url": f"sqlite:///{out.as_posix()}/munivideo.db"},
        "attendance": {"min_overlap_minutes": 3},
        "writeback": {
            "max_attempts": 12,
            "lease_seconds": 30,
            "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 1.0,
        },
        "services": [
            {
                "code": code,
                "name": name,
                "erp_subject_code": subject,
                "department_code": UNIT[0],
                "duration_minutes": 20,
            }
            for code, (name, subject) in SERVICES.items()
        ],
        "departments": [
            {"code": UNIT[0], "name": UNIT[1]},
            {"code": CARDIOLOGY, "name": "Ambulatório de Cardiologia"},
        ],
    }


def run_health_demo(
    out: Path,
    *,
    faults: str = DEFAULT_FAULTS,
    fault_seed: int = 2024,
    say: Callable[[str], None] = lambda _m: None,
) -> HealthReport:
    """Run the health demo into ``out`` and return its report (``report.ok`` is the invariant).

    Raises :class:`munivideo.errors.ConfigurationError` when the ``fhir`` adapter is missing.
    """
    from munivideo.api import Munivideo
    from munivideo.config import parse_config
    from munivideo.demo import SECRETS, _fresh
    from munivideo.plugins import load_plugins
    from munivideo.sandbox import Sandbox
    from munivideo.store import OutboxState

    started = time.monotonic()
    out = out.resolve()
    _fresh(out)
    report = HealthReport(output=str(out), faults=faults)
    plugins = load_plugins()
    if "fhir" not in plugins.erp_adapters:
        raise ConfigurationError(
            "the health demo needs the FHIR adapter: pip install munivideo-fhir", field="erp"
        )
    video: dict[str, Any] = {
        "provider": "jitsi",
        "settings": {
            "base_url": "https://meet.saude.gravatai.example.gov.br",
            "app_id": "munivideo-demo",
            "app_secret": {"env": "MUNIVIDEO_DEMO_JITSI_SECRET"},
        },
    }
    if "jitsi" not in plugins.video_providers:
        from munivideo.sandbox import rooms as demo_rooms

        plugins.add(demo_rooms, name="munivideo.demo-rooms", source="builtin", version="demo")
        video = {"provider": "demo-rooms", "settings": {}}
    with Sandbox(dialect="rest", seed="empty", port=0) as sb:
        say(f"sandbox FHIR R4 endpoint on {sb.fhir_url} (health-unit seed)")
        config = parse_config(
            _config(sb.fhir_url, out, video),
            source="munivideo.demo_health",
            env={**os.environ, **SECRETS},
        )
        with Munivideo.from_config(config, plugins=plugins) as mv:
            fhir: Any = mv.engine.erp
            _book_and_change(fhir, report, say)
            first = mv.sync()
            report.bookings = first.bound
            say(
                f"sync: {first.bound} teleconsultations bound, {first.rooms_created} rooms, "
                f"{first.invitations_sent} invitations"
            )
            ids = [f"TC-{n:06d}" for n in range(1, 9)] + report.booked
            recorded = _play_the_morning(mv, ids, say)
            report.outcomes = dict(Counter(o.value for o in recorded.values()))
            sb.inject(faults, seed=fault_seed)
            before = Counter(sb.ctx.fhir.effects)
            result = mv.writeback(wait_seconds=40)
            report.effects = dict(sorted((Counter(sb.ctx.fhir.effects) - before).items()))
            rules: list[dict[str, Any]] = sb.faults()["rules"]  # type: ignore[assignment]
            report.faults_fired = sum(int(r["fired"]) for r in rules)
            sb.inject("")
            report.delivered = result.delivered
            report.retries = result.retrying
            say(
                f"writeback under faults: {result.delivered} delivered, {result.retrying} "
                f"retries, {report.faults_fired} faults fired, {result.failed_total} failed"
            )
            delivered = {i.booking_id for i in mv.outbox(OutboxState.DELIVERED)}
            for item in fhir.agenda("MED-0001", utcnow().astimezone(SAO_PAULO).date() + ONE_DAY):
                booking = item.booking
                who = f"{booking.citizen.name} ({booking.status.value})" if booking else "livre"
                report.agenda.append(
                    f"{item.start.astimezone(SAO_PAULO):%H:%M} {item.slot_status:5} {who}"
                )
        _audit(sb, recorded, delivered, report)
        report.invitations_written = len(list((out / "outbox").rglob("*.eml")))
    report.seconds = round(time.monotonic() - started, 2)
    report.ok = not report.problems and not report.invalid_resources and bool(recorded)
    (out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return report


def _book_and_change(fhir: Any, report: HealthReport, say: Callable[[str], None]) -> None:
    """Two patients book online; one moves to another time; one seed booking is cancelled."""
    from munivideo_fhir import Patient

    from munivideo.sandbox.fhir_seed import make_cns

    day = utcnow().astimezone(SAO_PAULO).date() + ONE_DAY
    newcomers = (
        ("MED-0002", Patient(name="Letícia Guimarães Ávila", cpf="52998224725", cns=make_cns(41))),
        ("MED-0003", Patient(name="Ênio Barroso Tavares", cpf="11144477735", cns=make_cns(42))),
    )
    for registration, patient in newcomers:
        slot = fhir.free_slots(registration, day)[-1]
        booking = fhir.book(slot.slot_id, patient, "TELE-CLINICA")
        report.booked.append(booking.id)
    moved_to = fhir.free_slots("MED-0003", day)[-1]
    moved = fhir.reschedule(report.booked[-1], moved_to.slot_id)
    report.rescheduled = moved.id
    fhir.cancel(CANCELLED, "Paciente pediu o cancelamento pelo aplicativo.")
    say(
        f"booked {', '.join(report.booked)} (Patient + Slot busy + Appointment in one "
        f"transaction), rescheduled {moved.id} to {moved.start.astimezone(SAO_PAULO):%H:%M}, "
        f"cancelled {CANCELLED}"
    )


def _play_the_morning(mv: Any, ids: list[str], say: Callable[[str], None]) -> dict[str, Any]:
    from munivideo.demo import _event
    from munivideo.models import (
        BookingStatus,
        EventKind,
        ForwardedDemand,
        OutcomeForm,
        Role,
        VerifiedDocument,
    )

    recorded: dict[str, Any] = {}
    bindings = mv.engine.store.get_bindings(mv.tenant_id, ids)
    for booking_id in ids:
        if booking_id not in bindings:
            continue
        booking = bindings[booking_id].booking
        if booking.servant is None or booking.status not in (
            BookingStatus.CONFIRMED,
            BookingStatus.RESCHEDULED,
        ):
            continue

        event = functools.partial(_event, booking)
        events = [
            event(1, Role.SERVANT, EventKind.JOIN, -2),
            event(2, Role.CITIZEN, EventKind.JOIN, 0),
            event(3, Role.CITIZEN, EventKind.LEAVE, 17),
            event(9, Role.SERVANT, EventKind.LEAVE, 19),
        ]
        documents: tuple[VerifiedDocument, ...] = ()
        demands: tuple[ForwardedDemand, ...] = ()
        summary = "Teleconsulta realizada; orientações registradas no prontuário."
        technical = False
        if booking.id == NO_SHOW:
            events = [events[0], events[3]]
            summary = "A paciente não entrou na sala virtual."
        elif booking.id == TECHNICAL_FAILURE:
            events[2] = event(3, Role.CITIZEN, EventKind.LEAVE, 1)
            technical = True
            summary = "A conexão caiu; teleconsulta a remarcar."
        elif booking.id == REFERRED:
            name = f"{booking.id}-eletrocardiograma.pdf"
            documents = (
                VerifiedDocument(
                    name=name,
                    kind="exame",
                    sha256=hashlib.sha256(name.encode()).hexdigest(),
                    size=182_044,
                ),
            )
            demands = (
                ForwardedDemand(
                    department_code=CARDIOLOGY,
                    description="Encaminhado ao ambulatório de cardiologia: ECG alterado.",
                ),
            )
            summary = "Eletrocardiograma conferido; encaminhamento à cardiologia."
        form = OutcomeForm(
            booking_id=booking.id,
            servant_registration=booking.servant.registration,
            summary=summary,
            documents=documents,
            demands=demands,
            technical_failure=technical,
        )
        result = mv.record(events, form)
        if result.outcome is not None:
            recorded[booking.id] = result.outcome
    say(
        "morning played: "
        + ", ".join(
            f"{n} {o}" for o, n in sorted(Counter(v.value for v in recorded.values()).items())
        )
    )
    return recorded


def _audit(sb: Any, recorded: dict[str, Any], delivered: set[str], report: HealthReport) -> None:
    """Read the FHIR server back, as an auditor would (the sandbox's own store)."""
    from fhir.resources.R4B import get_fhir_model_class

    store = sb.ctx.fhir
    for version in store.history():
        report.resources_checked += 1
        try:
            get_fhir_model_class(version.type).model_validate(version.resource)
        except ValueError as exc:
            report.invalid_resources.append(f"{version.location}: {exc}")
    encounters = [v.resource for v in store.current("Encounter")]
    consents = [v.resource for v in store.current("Consent")]
    documents = [v.resource for v in store.current("DocumentReference")]
    referrals = [v.resource for v in store.current("ServiceRequest")]

    def ref_of(resource: dict[str, Any]) -> str:
        return next(
            (
                i["value"]
                for i in resource.get("identifier", [])
                if "atendimento" in i["system"] or "consentimento" in i["system"]
            ),
            "",
        )

    live: dict[str, dict[str, Any]] = {}
    for version in store.current("Appointment"):
        resource = version.resource or {}
        reason = (resource.get("cancelationReason") or {}).get("coding") or [{}]
        if reason[0].get("code") == "remarcado":
            continue
        ids = {i["system"].rsplit("/", 1)[-1]: i["value"] for i in resource.get("identifier", [])}
        live[ids.get("agendamento", version.id)] = resource
    for booking_id, outcome in sorted(recorded.items()):
        reference = f"munivideo:saude-gravatai:{booking_id}"
        mine = [e for e in encounters if ref_of(e) == reference]
        signed = [c for c in consents if ref_of(c) == reference]
        refs = {f"Encounter/{e['id']}" for e in mine}
        appointment = live.get(booking_id, {})
        doctor = next(
            (
                p["actor"]["reference"].split("/")[-1]
                for p in appointment.get("participant", [])
                if p["actor"]["reference"].startswith("Practitioner/")
            ),
            "",
        )
        row = ConsultationRow(
            booking_id=booking_id,
            doctor=doctor,
            outcome=outcome.value,
            encounters=len(mine),
            consents=len(signed),
            appointment_status=str(appointment.get("status")),
            referrals=sum(1 for r in referrals if r["encounter"]["reference"] in refs),
            documents=sum(
                1 for d in documents if d["context"]["encounter"][0]["reference"] in refs
            ),
        )
        report.consultations.append(row)
        if row.encounters != 1:
            report.problems.append(f"{booking_id}: {row.encounters} Encounters")
        elif (
            mine[0]["status"] != ENCOUNTER_STATUS[outcome.value] or mine[0]["class"]["code"] != "VR"
        ):
            report.problems.append(f"{booking_id}: Encounter {mine[0]['status']}")
        if row.consents != (1 if outcome.value == "attended" else 0):
            report.problems.append(f"{booking_id}: {row.consents} Consents")
        if row.appointment_status != APPOINTMENT_STATUS[outcome.value]:
            report.problems.append(f"{booking_id}: Appointment {row.appointment_status}")
        if booking_id not in delivered:
            report.problems.append(f"{booking_id}: not delivered")
    if len(encounters) != len(recorded):
        report.problems.append(f"{len(encounters)} Encounters for {len(recorded)} consultations")
    if len(referrals) != 1 or len(documents) != 1:
        report.problems.append(
            f"{len(documents)} documents, {len(referrals)} referrals (want 1, 1)"
        )


def print_health_summary(report: HealthReport) -> None:
    """The health demo's summary table (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Teleconsultations in the FHIR server (read back)")
    for column in (
        "booking",
        "doctor",
        "outcome",
        "Encounter",
        "Consent",
        "Appointment",
        "docs",
        "referrals",
    ):
        table.add_column(column)
    for row in report.consultations:
        table.add_row(
            row.booking_id,
            row.doctor,
            row.outcome,
            str(row.encounters),
            str(row.consents),
            row.appointment_status,
            str(row.documents),
            str(row.referrals),
        )
    console.print(table)
    if report.agenda:
        console.print("Agenda of MED-0001: " + "; ".join(report.agenda))
    if report.effects:
        console.print(
            "Writes the FHIR server executed during the write-back: "
            + ", ".join(f"{k} {v}" for k, v in report.effects.items())
        )
    console.print(
        f"{report.bookings} teleconsultations, {report.invitations_written} invitation e-mails; "
        f"{len(report.consultations)} outcomes written back with {report.faults_fired} faults "
        f"fired and {report.retries} retries; {report.resources_checked} resource versions "
        f"checked with fhir.resources; {report.seconds:.1f} s"
    )
    if report.ok:
        console.print(
            "[green]OK: one Encounter (VR) per teleconsultation, one Consent per attended one, "
            "Appointment statuses written, every resource valid FHIR R4.[/]"
        )
    else:
        console.print(f"[red]FAILED[/]: {report.problems} {report.invalid_resources}")
