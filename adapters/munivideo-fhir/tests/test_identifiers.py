"""Patient identifiers as RNDS writes them, the CNS check digit, and what a bad one does to a
booking (quarantined with its field, personal data masked)."""

from __future__ import annotations

from typing import Any

import pytest
from munivideo_fhir import cns_valid
from munivideo_fhir.identifiers import (
    CNS_SYSTEM,
    CPF_SYSTEM,
    patient_identifiers,
    read_patient_ids,
)
from munivideo_fhir.mapping import rejected, to_booking
from pydantic import ValidationError

from munivideo.errors import InvalidRecordError
from munivideo.sandbox.fhir_seed import make_cns, seed_health_unit
from munivideo.sandbox.fhir_store import FhirStore


def _definitive(pis: str) -> str:
    """A definitive CNS (first digit 1 or 2) built the official way from its PIS base."""
    total = sum(int(d) * (15 - i) for i, d in enumerate(pis))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10:
        return f"{pis}001{11 - (total + 2) % 11}"
    return f"{pis}000{check}"


@pytest.mark.parametrize("number", [make_cns(n) for n in range(1, 6)])
def test_provisional_cns_numbers_validate(number: str) -> None:
    assert cns_valid(number)
    assert cns_valid(f"{number[:3]} {number[3:7]} {number[7:11]} {number[11:]}")
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not cns_valid(wrong)


@pytest.mark.parametrize("pis", ["12345678901", "20000000005", "19876543210", "10000000000"])
def test_definitive_cns_numbers_validate(pis: str) -> None:
    number = _definitive(pis)
    assert cns_valid(number)
    assert sum(int(d) * (15 - i) for i, d in enumerate(number)) % 11 == 0
    assert not cns_valid(number[:11] + "999" + number[-1])


@pytest.mark.parametrize("bad", ["", "12345", "312345678901234", "012345678901234", "1" * 16])
def test_not_a_cns(bad: str) -> None:
    assert not cns_valid(bad)


def test_read_by_system_or_by_type() -> None:
    by_system = {
        "identifier": [
            {"system": "https://saude.gov.br/fhir/sid/cpf", "value": "529.982.247-25"},
            {"system": CNS_SYSTEM, "value": make_cns(7)},
        ]
    }
    by_type = {
        "identifier": [
            {"type": {"coding": [{"code": "CPF"}]}, "system": "urn:local", "value": "52998224725"},
            {"type": {"coding": [{"system": "x", "code": "cns"}]}, "value": make_cns(7)},
            {"system": "urn:prontuario", "value": "12"},
        ]
    }
    for patient in (by_system, by_type):
        ids = read_patient_ids(patient, "TC-1")
        assert (ids.cpf, ids.cns) == ("52998224725", make_cns(7))


def test_a_bad_cns_names_its_identifier() -> None:
    patient = {"identifier": [{"system": CNS_SYSTEM, "value": "712345678901234"}]}
    with pytest.raises(InvalidRecordError) as info:
        read_patient_ids(patient, "TC-9")
    assert (info.value.record_id, info.value.field) == ("TC-9", "Patient.identifier[0].value")


def test_written_with_both_systems_and_types() -> None:
    written = patient_identifiers("05278934123", make_cns(3))
    assert [(i["system"], i["type"]["coding"][0]["code"]) for i in written] == [
        (CPF_SYSTEM, "CPF"),
        (CNS_SYSTEM, "CNS"),
    ]
    assert read_patient_ids({"identifier": written}, "x").cns == make_cns(3)


def _seeded() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    store = FhirStore(seed_health_unit)
    appointment = store.read("Appointment", "TC-000002").resource
    assert appointment is not None
    included = {
        f"{t}/{i}": store.read(t, i).resource or {}
        for t, i in (ref["actor"]["reference"].split("/") for ref in appointment["participant"])
    }
    return appointment, included


def test_a_cns_only_patient_is_quarantined_without_personal_data() -> None:
    appointment, included = _seeded()
    patient = included["Patient/paciente-2"]
    cns = make_cns(2)
    patient["identifier"] = [{"system": CNS_SYSTEM, "value": cns}]
    with pytest.raises(InvalidRecordError) as info:
        to_booking(appointment, included, "saude")
    assert info.value.field == "Patient.identifier"
    record = rejected(appointment, included, info.value)
    assert record.record_id == "TC-000002" and cns not in record.raw


def test_unknown_codes_are_refused_where_fhir_binds_them() -> None:
    appointment, included = _seeded()
    appointment["participant"][0]["status"] = "maybe"
    with pytest.raises(InvalidRecordError) as info:
        to_booking(appointment, included, "saude")
    assert info.value.field == "Appointment.participant.status"
    booking = to_booking(_seeded()[0], included, "saude")
    assert booking.id == "TC-000002" and booking.servant is not None


def test_the_patient_model_checks_the_cns() -> None:
    from munivideo_fhir import Patient

    with pytest.raises(ValidationError):
        Patient(name="X", cpf="52998224725", cns="712345678901234")
