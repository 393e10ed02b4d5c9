"""The sandbox FHIR R4 endpoint: validation, conditional interactions, versions, transactions,
history and fault injection, checked over HTTP and by counting the server's effects."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class

from munivideo.sandbox import Sandbox

HEADERS = {"Content-Type": "application/fhir+json"}
VR = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}


def _encounter(value: str = "E-1", **over: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:test", "value": value}],
        "status": "finished",
        "class": VR,
        "subject": {"reference": "Patient/paciente-1"},
        **over,
    }


def _post(sb: Sandbox, path: str, body: Any, **headers: str) -> requests.Response:
    return requests.post(
        f"{sb.fhir_url}/{path}", data=json.dumps(body), headers={**HEADERS, **headers}, timeout=5
    )


def test_the_seed_is_valid_fhir(sb: Sandbox) -> None:
    versions = sb.ctx.fhir.history()
    assert len(versions) > 90
    for version in versions:
        get_fhir_model_class(version.type).model_validate(version.resource)
    capability = requests.get(f"{sb.fhir_url}/metadata", timeout=5).json()
    assert capability["fhirVersion"] == "4.0.1"


def test_conditional_create_creates_once(sb: Sandbox) -> None:
    first = _post(sb, "Encounter", _encounter(), **{"If-None-Exist": "identifier=urn:test|E-1"})
    again = _post(sb, "Encounter", _encounter(), **{"If-None-Exist": "identifier=urn:test|E-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.headers["ETag"] == 'W/"1"'
    assert sb.ctx.fhir.effects["create:Encounter"] == 1


def test_invalid_resources_and_codes_are_refused(sb: Sandbox) -> None:
    bad_code = _post(sb, "Encounter", _encounter(status="done"))
    assert bad_code.status_code == 422
    assert bad_code.json()["issue"][0]["expression"] == ["Encounter.status"]
    not_fhir = _post(sb, "Encounter", _encounter(period="yesterday"))
    assert not_fhir.status_code == 422
    assert sb.ctx.fhir.effects["create:Encounter"] == 0


def test_if_match_is_an_optimistic_lock_and_history_keeps_versions(sb: Sandbox) -> None:
    url = f"{sb.fhir_url}/Slot/med-0001-{_first_slot_day(sb)}-1100"
    slot = requests.get(url, timeout=5)
    body = dict(slot.json(), status="busy")
    ok = requests.put(
        url, data=json.dumps(body), headers={**HEADERS, "If-Match": slot.headers["ETag"]}, timeout=5
    )
    assert ok.status_code == 200 and ok.headers["ETag"] == 'W/"2"'
    stale = requests.put(
        url, data=json.dumps(body), headers={**HEADERS, "If-Match": slot.headers["ETag"]}, timeout=5
    )
    assert stale.status_code == 412
    history = requests.get(f"{url}/_history", timeout=5).json()
    assert [e["resource"]["status"] for e in history["entry"]] == ["busy", "free"]
    assert requests.get(f"{url}/_history/1", timeout=5).json()["status"] == "free"


def _first_slot_day(sb: Sandbox) -> str:
    slots = requests.get(
        f"{sb.fhir_url}/Slot", params={"schedule": "Schedule/agenda-med-0001"}, timeout=5
    ).json()
    return str(slots["entry"][0]["resource"]["id"]).split("-")[2]


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_transaction_is_all_or_nothing(sb: Sandbox) -> None:
    create = {
        "fullUrl": "urn:uuid:0f0c1a7e-0000-4000-8000-000000000001",
        "resource": _encounter("E-2"),
        "request": {"method": "POST", "url": "Encounter", "ifNoneExist": "identifier=urn:test|E-2"},
    }
    stale_slot = {
        "resource": {
            "resourceType": "Slot",
            "schedule": {"reference": "Schedule/x"},
            "status": "busy",
            "start": "2031-01-01T10:00:00Z",
            "end": "2031-01-01T10:20:00Z",
        },
        "request": {"method": "PUT", "url": "Slot/nope", "ifMatch": 'W/"9"'},
    }
    refused = _post(sb, "", _transaction(create, stale_slot))
    assert refused.status_code == 412
    assert sb.ctx.fhir.effects["create:Encounter"] == 0
    done = _post(sb, "", _transaction(create))
    assert done.status_code == 200
    assert done.json()["entry"][0]["response"]["status"] == "201 Created"
    assert sb.ctx.fhir.effects["create:Encounter"] == 1


def test_search_parameters_are_strict_and_paged(sb: Sandbox) -> None:
    typo = requests.get(f"{sb.fhir_url}/Appointment", params={"pacient": "x"}, timeout=5)
    assert typo.status_code == 400
    page = requests.get(
        f"{sb.fhir_url}/Appointment",
        params={"_count": "3", "_sort": "_lastUpdated", "_include": "Appointment:patient"},
        timeout=5,
    ).json()
    assert (
        page["total"] == 8
        and len([e for e in page["entry"] if e["search"]["mode"] == "match"]) == 3
    )
    assert {e["resource"]["resourceType"] for e in page["entry"]} == {"Appointment", "Patient"}
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert "_offset=3" in nxt
    get_fhir_model_class("Bundle").model_validate(page)


def test_drop_after_commit_commits_then_drops(sb: Sandbox) -> None:
    sb.inject("createEncounter=drop_after_commit#1")
    with pytest.raises(requests.ConnectionError):
        _post(sb, "Encounter", _encounter("E-3"), **{"If-None-Exist": "identifier=urn:test|E-3"})
    again = _post(
        sb, "Encounter", _encounter("E-3"), **{"If-None-Exist": "identifier=urn:test|E-3"}
    )
    assert again.status_code == 200
    assert sb.ctx.fhir.effects["create:Encounter"] == 1
    assert sb.faults()["rules"][0]["fired"] == 1  # type: ignore[index]


def test_conditional_update_creates_then_updates(sb: Sandbox) -> None:
    url = f"{sb.fhir_url}/Encounter?identifier=urn:test|E-9"
    body = json.dumps(_encounter("E-9"))
    created = requests.put(url, data=body, headers=HEADERS, timeout=5)
    updated = requests.put(url, data=body, headers=HEADERS, timeout=5)
    assert (created.status_code, updated.status_code) == (201, 200)
    assert created.json()["id"] == updated.json()["id"]
    assert updated.headers["ETag"] == 'W/"2"'
    assert sb.ctx.fhir.effects == {"create:Encounter": 1, "update:Encounter": 1}


def test_type_history_since_and_unknown_history_parameters(sb: Sandbox) -> None:
    first = _post(sb, "Encounter", _encounter("E-10")).json()
    since = first["meta"]["lastUpdated"]
    _post(sb, "Encounter", _encounter("E-11"))
    history = requests.get(
        f"{sb.fhir_url}/Encounter/_history", params={"_since": since}, timeout=5
    ).json()
    assert history["type"] == "history" and history["total"] == 2
    assert [e["request"]["method"] for e in history["entry"]] == ["POST", "POST"]
    get_fhir_model_class("Bundle").model_validate(history)
    bad = requests.get(f"{sb.fhir_url}/Encounter/_history", params={"_at": since}, timeout=5)
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("fault", "status"), [("fault:REQUISICAO_INVALIDA", 400), ("unavailable:2", 503)]
)
def test_faults_answer_operation_outcomes(sb: Sandbox, fault: str, status: int) -> None:
    sb.inject(f"createEncounter={fault}")
    answer = _post(sb, "Encounter", _encounter("E-12"))
    assert answer.status_code == status
    assert answer.json()["resourceType"] == "OperationOutcome"
    if status == 503:
        assert answer.headers["Retry-After"] == "2"
    assert sb.ctx.fhir.effects["create:Encounter"] == 0
