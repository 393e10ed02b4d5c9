"""The health service's API against the sandbox FHIR endpoint: free slots, book, cancel,
reschedule (idempotent under retries and dropped connections), the doctor's agenda and the
patient's earlier Encounters. Oracles count the server's effects and read its history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from munivideo_fhir import FhirErpAdapter, Patient, create_adapter

from munivideo.errors import InvalidRecordError, InvalidValueError, LifecycleError, RejectedError
from munivideo.models import BookingStatus, Tenant
from munivideo.sandbox import Sandbox
from munivideo.sandbox.fhir_seed import make_cns
from munivideo.values import SAO_PAULO, utcnow

TENANT = Tenant(id="saude", name="Secretaria Municipal de Saúde")
MARIA = Patient(name="Maria Aparecida dos Santos", cpf="52998224725", cns=make_cns(99))


@pytest.fixture
def fhir(munivideo_sandbox: Sandbox) -> Iterator[FhirErpAdapter]:
    adapter = create_adapter(
        TENANT,
        {
            "base_url": munivideo_sandbox.fhir_url,
            "timeouts": {"connect_seconds": 2, "read_seconds": 5},
            "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.01},
        },
    )
    yield adapter
    adapter.close()


def _tomorrow() -> date:
    return utcnow().astimezone(SAO_PAULO).date() + timedelta(days=1)


def _all_valid(sb: Sandbox) -> None:
    for version in sb.ctx.fhir.history():
        get_fhir_model_class(version.type).model_validate(version.resource)


def test_book_is_one_transaction_and_idempotent(sb: Sandbox, fhir: FhirErpAdapter) -> None:
    free = fhir.free_slots("MED-0002", _tomorrow())
    assert free and all(s.start < s.end for s in free)
    booking = fhir.book(free[-1].slot_id, MARIA, "TELE-CLINICA")
    again = fhir.book(free[-1].slot_id, MARIA, "TELE-CLINICA")
    assert again.id == booking.id and booking.status is BookingStatus.CONFIRMED
    assert booking.citizen.cpf == MARIA.cpf and booking.servant is not None
    assert booking.servant.registration == "MED-0002"
    assert sb.ctx.fhir.effects["create:Appointment"] == 1
    assert sb.ctx.fhir.effects["update:Slot"] == 1
    patient = next(v.resource for v in sb.ctx.fhir.current("Patient") if "Maria" in str(v.resource))
    assert {i["system"].rsplit("/", 1)[-1] for i in patient["identifier"]} == {"cpf", "cns"}
    assert free[-1].slot_id not in [s.slot_id for s in fhir.free_slots("MED-0002", _tomorrow())]
    _all_valid(sb)


def test_book_resolves_a_dropped_answer_without_a_duplicate(
    sb: Sandbox, fhir: FhirErpAdapter
) -> None:
    slot = fhir.free_slots("MED-0003", _tomorrow())[0]
    sb.inject("transaction=drop_after_commit#1")
    booking = fhir.book(slot.slot_id, MARIA, "TELE-CLINICA")
    assert booking.status is BookingStatus.CONFIRMED
    assert sb.ctx.fhir.effects["create:Appointment"] == 1
    assert sb.faults()["rules"][0]["fired"] == 1  # type: ignore[index]


def test_a_taken_slot_is_refused(sb: Sandbox, fhir: FhirErpAdapter) -> None:
    slot = fhir.free_slots("MED-0001", _tomorrow())[-1]
    fhir.book(slot.slot_id, MARIA, "TELE-CLINICA")
    other = Patient(name="Antônio Carlos Sebastião", cpf="11144477735")
    with pytest.raises(RejectedError) as info:
        fhir.book(slot.slot_id, other, "TELE-CLINICA")
    assert info.value.field == "Slot.status"
    assert sb.ctx.fhir.effects["create:Appointment"] == 1


def test_reschedule_links_a_new_appointment_and_moves_the_slot(
    sb: Sandbox, fhir: FhirErpAdapter
) -> None:
    first, second = fhir.free_slots("MED-0002", _tomorrow())[-2:]
    booking = fhir.book(first.slot_id, MARIA, "TELE-CLINICA")
    sb.inject("transaction=drop_after_commit#1")
    moved = fhir.reschedule(booking.id, second.slot_id)
    again = fhir.reschedule(booking.id, second.slot_id)
    assert moved.id == again.id == booking.id
    assert moved.status is BookingStatus.RESCHEDULED and moved.sequence == 1
    assert moved.start == second.start
    assert sb.ctx.fhir.effects["create:Appointment"] == 2
    slots = {s.slot_id for s in fhir.free_slots("MED-0002", _tomorrow())}
    assert first.slot_id in slots and second.slot_id not in slots
    newest = max(
        (v.resource for v in sb.ctx.fhir.current("Appointment") if booking.id in str(v.resource)),
        key=lambda r: int(r["id"]) if r["id"].isdigit() else 0,
    )
    assert newest["supportingInformation"][0]["reference"].startswith("Appointment/")
    _all_valid(sb)


def test_cancel_frees_the_slot_once(sb: Sandbox, fhir: FhirErpAdapter) -> None:
    slot = fhir.free_slots("MED-0001", _tomorrow())[-2]
    booking = fhir.book(slot.slot_id, MARIA, "TELE-CLINICA")
    cancelled = fhir.cancel(booking.id, "Paciente desistiu")
    assert cancelled.status is BookingStatus.CANCELLED
    assert fhir.cancel(booking.id).status is BookingStatus.CANCELLED
    assert sb.ctx.fhir.effects["update:Appointment"] == 1
    assert slot.slot_id in {s.slot_id for s in fhir.free_slots("MED-0001", _tomorrow())}
    with pytest.raises(LifecycleError):
        fhir.reschedule(booking.id, slot.slot_id)


def test_agenda_and_patient_history(sb: Sandbox, fhir: FhirErpAdapter) -> None:
    agenda = fhir.agenda("MED-0001", _tomorrow())
    assert len(agenda) == 12
    assert [a.start for a in agenda] == sorted(a.start for a in agenda)
    taken = [a for a in agenda if a.booking is not None]
    assert {a.booking.id for a in taken if a.booking} == {"TC-000001", "TC-000004", "TC-000007"}
    assert fhir.patient_encounters(cpf=MARIA.cpf) == []
    with pytest.raises(RejectedError):
        fhir.patient_encounters()


def test_a_cpf_with_wrong_check_digits_is_a_typed_error_naming_the_field(
    fhir: FhirErpAdapter,
) -> None:
    with pytest.raises(InvalidRecordError) as raised:
        fhir.patient_encounters(cpf="529.982.247-26")
    assert isinstance(raised.value, InvalidValueError)
    assert raised.value.field == "cpf" and "check digits" in raised.value.message
    assert "52998224726" not in str(raised.value)


def test_patient_history_lists_earlier_encounters_newest_first(
    sb: Sandbox, fhir: FhirErpAdapter
) -> None:
    from datetime import UTC, datetime

    from munivideo.models import AccessLevel, Applicant, Outcome, ProtocolEntry
    from munivideo.sandbox.fhir_seed import patient

    cpf = patient(1)["identifier"][0]["value"]
    for n, day in enumerate((3, 9)):
        entry = ProtocolEntry(
            external_reference=f"munivideo:saude:TC-000001:{n}",
            tenant_id="saude",
            booking_id="TC-000001",
            subject_code="TELECONSULTA",
            applicant=Applicant(name="João da Conceição Araújo", cpf=cpf),
            department_code="UBS",
            opened_at=datetime(2031, 3, day, 12, 0, tzinfo=UTC),
            summary="Consulta.",
            access_level=AccessLevel.INTERNAL,
            outcome=Outcome.ATTENDED,
        )
        fhir.create_protocol(entry, f"k{n}")
    history = fhir.patient_encounters(cpf=cpf)
    assert [h.start.day for h in history if h.start] == [9, 3]
    assert {h.encounter_class for h in history} == {"VR"}
    assert fhir.patient_encounters(cns=patient(1)["identifier"][1]["value"]) == history
    assert sb.ctx.fhir.effects["create:Consent"] == 2
    _all_valid(sb)
