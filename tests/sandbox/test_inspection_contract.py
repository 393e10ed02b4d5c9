"""The inspection API stores only bookings its contract answers can carry: a booking that the
sandbox's own answer validation would refuse is answered 422 naming the field, and is not
stored, so it cannot poison ``listarAlterados`` (every sync page a 500)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from munivideo.sandbox import Sandbox
from munivideo.sandbox.seeds import tax_office_bookings

from ._helpers import zeep_client

GOOD: dict[str, Any] = {
    "codigoServico": "IPTU",
    "cidadao": {"nome": "Maria das Graças Souza", "cpfCnpj": "05278934123"},
    "data": "2030-01-02",
    "horaInicio": "10:00",
    "horaFim": "10:30",
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("cpf too short", {"cidadao": {"nome": "Maria", "cpfCnpj": "123"}}, "cidadao/cpfCnpj"),
    ("no cpf", {"cidadao": {"nome": "Maria"}}, "cidadao/cpfCnpj"),
    ("hour 25", {"horaInicio": "25:00"}, "horaInicio"),
    ("unknown status", {"situacao": "XX"}, "situacao"),
    ("a field the contract lacks", {"sala_url": "https://x"}, "sala_url"),
    ("negative version", {"versao": 0}, "versao"),
    ("bad e-mail", {"cidadao": {**GOOD["cidadao"], "email": "nobody"}}, "cidadao/email"),
    ("id not a code", {"id": "AG 1"}, "id"),
]


def _listing(sb: Sandbox) -> requests.Response:
    token = sb.token()
    return requests.get(
        f"{sb.rest_url}/agendamentos",
        params={"limite": 500},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


@pytest.mark.parametrize(("case", "change", "field"), BAD, ids=[b[0] for b in BAD])
def test_a_booking_outside_the_contract_is_refused_by_field(
    sb: Sandbox, case: str, change: dict[str, Any], field: str
) -> None:
    before = len(sb.bookings())
    answer = requests.post(f"{sb.base_url}/_sandbox/bookings", json=GOOD | change, timeout=5)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert len(sb.bookings()) == before  # nothing stored
    listing = _listing(sb)
    assert listing.status_code == 200, listing.text  # the sync still pages


def test_a_good_booking_is_stored_and_listed(sb: Sandbox) -> None:
    answer = requests.post(f"{sb.base_url}/_sandbox/bookings", json=GOOD, timeout=5)
    assert answer.status_code == 201, answer.text
    listing = _listing(sb)
    assert listing.status_code == 200
    assert answer.json()["id"] in {b["id"] for b in listing.json()["itens"]}


def test_changes_through_the_inspection_api_are_checked_too(sb: Sandbox) -> None:
    base = f"{sb.base_url}/_sandbox/bookings/AG-000001"
    before = sb.booking("AG-000001")
    moved = requests.post(
        f"{base}/reschedule",
        json={"data": "2030-01-02", "horaInicio": "10:00", "horaFim": "99:99"},
        timeout=5,
    )
    assert (moved.status_code, moved.json()["field"]) == (422, "horaFim")
    too_long = requests.post(f"{base}/cancel", json={"observacao": "x" * 8001}, timeout=5)
    assert (too_long.status_code, too_long.json()["field"]) == (422, "observacoes")
    assert sb.booking("AG-000001") == before
    assert _listing(sb).status_code == 200


def test_the_soap_contract_is_checked_when_the_sandbox_serves_it(
    munivideo_sandbox_factory: Any,
) -> None:
    """A SOAP-only sandbox answers bookings as XML: the XSD decides, and the answer to
    ``listarAlterados`` stays valid."""
    sb = munivideo_sandbox_factory(dialect="soap", seed="tax-office")
    answer = requests.post(
        f"{sb.base_url}/_sandbox/bookings",
        json=GOOD | {"cidadao": {"nome": "", "cpfCnpj": "05278934123"}},
        timeout=5,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "cidadao/nome"
    client = zeep_client(sb)
    page = client.service.listarAlterados(limite=100)
    assert len(page["agendamentos"]["agendamento"]) == len(sb.bookings())


def test_the_seeds_and_the_bulk_seeder_keep_to_the_contracts(sb: Sandbox) -> None:
    """Seeds are stored without the per-booking check (a reset would cost ~150 ms): this is
    their check."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for record in tax_office_bookings(now.date(), now):
        sb.ctx.check_booking(record)
    sb.reset("empty")
    sb.bulk_seed(40)
    records, _ = sb.store.list_bookings(None, 100)
    assert len(records) == 40
    for record in records:
        sb.ctx.check_booking(record)
