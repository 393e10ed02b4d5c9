"""Request/response mapping against the contract's golden examples, and faults a real server
cannot easily make (``responses``). Behaviour against a live peer is in the acceptance suite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from munivideo_erp_rest import RestErpAdapter, create_adapter
from urllib3.exceptions import ProtocolError

from munivideo.errors import (
    AmbiguousError,
    ConfigurationError,
    ContractViolationError,
    RejectedError,
)
from munivideo.models import ProtocolEntry, Tenant
from munivideo.packs import pack_dir
from munivideo.plugins import load_plugins

BASE = "https://erp.example"
TENANT = Tenant(id="gravatai", name="Gravataí")
EXAMPLES = pack_dir("erp-rest", "v1") / "examples" / "valid"


def _golden(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return doc


@pytest.fixture
def adapter() -> Iterator[RestErpAdapter]:
    built = create_adapter(
        TENANT,
        {
            "base_url": BASE,
            "auth": {"scheme": "bearer", "token": "3q2-sandbox-example-token"},
            "retry": {
                "max_attempts": 3,
                "initial_backoff_seconds": 0.0,
                "max_retry_after_seconds": 0,
            },
        },
    )
    yield built
    built.close()


def _entry(adapter: RestErpAdapter) -> ProtocolEntry:
    body = _golden("criarProtocolo.json")["request"]["body"]
    return adapter.mappers.protocol.to_canonical(body, {"tenant_id": TENANT.id})


@responses.activate
def test_create_sends_exactly_the_golden_request(adapter: RestErpAdapter) -> None:
    golden = _golden("criarProtocolo.json")
    created = responses.post(
        f"{BASE}/api/v1/protocolos", json=golden["response"]["body"], status=201
    )
    receipt = adapter.create_protocol(_entry(adapter), "gravatai:AG-000001:criarProtocolo")
    sent = created.calls[0].request
    assert json.loads(sent.body) == golden["request"]["body"]
    for header in ("Authorization", "Idempotency-Key"):
        assert sent.headers[header] == golden["request"]["headers"][header]
    assert receipt.number == golden["response"]["body"]["numero"]
    assert receipt.year == golden["response"]["body"]["ano"]


@responses.activate
def test_list_maps_the_golden_page(adapter: RestErpAdapter) -> None:
    golden = _golden("listarAlterados.json")
    responses.get(f"{BASE}/api/v1/agendamentos", json=golden["response"]["body"])
    page = adapter.list_bookings(None, 2)
    items = golden["response"]["body"]["itens"]
    assert [b.id for b in page.bookings] == [i["id"] for i in items]
    assert page.has_more == golden["response"]["body"]["haMais"]
    assert page.next_cursor is not None
    assert page.next_cursor.id == golden["response"]["body"]["proximoCursor"]


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104))),
    ],
)
@responses.activate
def test_create_losing_the_answer_is_ambiguous_and_sent_once(
    adapter: RestErpAdapter, failure: Exception
) -> None:
    call = responses.post(f"{BASE}/api/v1/protocolos", body=failure)
    with pytest.raises(AmbiguousError) as info:
        adapter.create_protocol(_entry(adapter), "k")
    assert call.call_count == 1
    assert info.value.record_id == "AG-000001"


@responses.activate
def test_cut_answer_is_ambiguous_on_create_and_a_violation_on_read(
    adapter: RestErpAdapter,
) -> None:
    responses.post(
        f"{BASE}/api/v1/protocolos",
        body='{"numero": 1',
        status=201,
        content_type="application/json",
    )
    with pytest.raises(AmbiguousError):
        adapter.create_protocol(_entry(adapter), "k")
    responses.get(f"{BASE}/api/v1/agendamentos/AG-1", body="<html>", status=200)
    with pytest.raises(ContractViolationError):
        adapter.get_booking("AG-1")


@responses.activate
def test_rate_limit_with_http_date_is_retried(adapter: RestErpAdapter) -> None:
    booking = _golden("obterAgendamento.json")["response"]["body"]
    url = f"{BASE}/api/v1/agendamentos/{booking['id']}"
    responses.get(
        url,
        status=429,
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        json={"type": "about:blank", "title": "x", "status": 429, "codigo": "LIMITE_EXCEDIDO"},
    )
    responses.get(url, json=booking)
    assert adapter.get_booking(booking["id"]).id == booking["id"]
    assert len(responses.calls) == 2


@responses.activate
def test_problem_details_name_the_record_and_field(adapter: RestErpAdapter) -> None:
    responses.post(
        f"{BASE}/api/v1/protocolos",
        status=400,
        content_type="application/problem+json",
        json={
            "type": "https://erp.example/problemas/requisicao-invalida",
            "title": "Requisição inválida",
            "status": 400,
            "detail": "cpfCnpj 05278934123 inválido",
            "codigo": "REQUISICAO_INVALIDA",
            "campo": "requerentes.0.cpfCnpj",
            "idRegistro": "AG-000001",
        },
    )
    with pytest.raises(RejectedError) as info:
        adapter.create_protocol(_entry(adapter), "k")
    assert info.value.field == "requerentes.0.cpfCnpj"
    assert info.value.record_id == "AG-000001"
    assert "05278934123" not in str(info.value)
    assert len(responses.calls) == 1


def test_settings_are_validated_naming_the_field() -> None:
    with pytest.raises(ConfigurationError) as info:
        create_adapter(TENANT, {"base_url": "ftp://nope"})
    assert info.value.field == "erp.settings.base_url"
    with pytest.raises(ConfigurationError) as info:
        create_adapter(TENANT, {"base_url": BASE, "auth": {"scheme": "oauth2", "client_id": "c"}})
    assert info.value.field is not None and info.value.field.startswith("erp.settings.auth")


def test_registered_as_the_rest_entry_point() -> None:
    plugins = load_plugins()
    assert plugins.erp_adapter("rest") is create_adapter
