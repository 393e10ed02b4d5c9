"""Hardened zeep: one parse per WSDL, per-tenant services, timeouts, safe XML, fault mapping."""

from __future__ import annotations

import pytest
import responses
from pydantic import SecretStr

from munivideo.errors import ContractViolationError, NotFoundError, TransientError
from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox
from munivideo.transport import AuthSettings, RetryPolicy, Timeouts
from munivideo.transport.soap import (
    HardenedTransport,
    call_soap,
    create_service,
    parsed_document,
    safe_settings,
    tenant_client,
)

WSDL = pack_dir("erp-soap", "v1") / "erp.wsdl"
BASIC = AuthSettings(
    scheme="basic", username="munivideo-sandbox", password=SecretStr("sandbox-secret")
)
FAST = RetryPolicy(max_attempts=2, initial_backoff_seconds=0.01, max_backoff_seconds=0.01)


def test_each_wsdl_is_parsed_once_and_shared_by_tenants() -> None:
    a = tenant_client(WSDL, Timeouts(), BASIC)
    before = parsed_document.cache_info()
    b = tenant_client(WSDL, Timeouts(), AuthSettings(scheme="wsse", username="x", password="y"))
    after = parsed_document.cache_info()
    assert a.wsdl is b.wsdl
    assert after.misses == before.misses and after.hits == before.hits + 1
    assert a.transport is not b.transport and b.wsse is not None and a.wsse is None


def test_settings_are_safe_and_timeouts_always_set() -> None:
    settings = safe_settings()
    assert settings.strict and settings.forbid_dtd and settings.forbid_entities
    assert settings.forbid_external and not settings.xml_huge_tree
    client = tenant_client(WSDL, Timeouts(connect_seconds=2, read_seconds=9), BASIC)
    assert isinstance(client.transport, HardenedTransport)
    assert client.transport.operation_timeout == (2, 9)
    assert client.transport.load_timeout == 2


def test_services_bind_to_tenant_addresses(munivideo_sandbox: Sandbox) -> None:
    client = tenant_client(WSDL, Timeouts(), BASIC)
    service = create_service(
        client, "AgendamentosBinding", munivideo_sandbox.soap_urls["agendamentos"]
    )
    answer = call_soap(
        service.obterAgendamento, FAST, name="obterAgendamento", safe=True, id="AG-000001"
    )
    assert answer["id"] == "AG-000001"
    with pytest.raises(NotFoundError) as info:
        call_soap(
            service.obterAgendamento, FAST, name="obterAgendamento", safe=True, id="AG-999999"
        )
    assert info.value.record_id == "AG-999999" and info.value.field == "id"


def test_503_is_retried_and_its_retry_after_honoured(munivideo_sandbox: Sandbox) -> None:
    client = tenant_client(WSDL, Timeouts(), BASIC)
    service = create_service(
        client, "AgendamentosBinding", munivideo_sandbox.soap_urls["agendamentos"]
    )
    munivideo_sandbox.inject("obterAgendamento=unavailable:3#1")
    slept: list[float] = []
    answer = call_soap(
        service.obterAgendamento,
        FAST,
        name="obterAgendamento",
        safe=True,
        sleep=slept.append,
        id="AG-000001",
    )
    assert answer["id"] == "AG-000001" and slept == [3.0]


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body><x>&lol2;</x></soapenv:Body></soapenv:Envelope>"""


@responses.activate
def test_answers_with_a_dtd_are_refused() -> None:
    responses.post(
        "https://erp.example/soap/agendamentos", body=BOMB, status=200, content_type="text/xml"
    )
    client = tenant_client(WSDL, Timeouts(), BASIC)
    service = create_service(client, "AgendamentosBinding", "https://erp.example/soap/agendamentos")
    with pytest.raises(ContractViolationError):
        call_soap(service.obterAgendamento, FAST, name="obterAgendamento", safe=True, id="AG-1")
    assert len(responses.calls) == 1


@responses.activate
def test_iso_8859_1_answers_are_read() -> None:
    golden = (
        pack_dir("erp-soap", "v1")
        / "examples"
        / "valid"
        / "obterAgendamento.response.iso-8859-1.xml"
    )
    responses.post(
        "https://erp.example/soap/agendamentos",
        body=golden.read_bytes(),
        status=200,
        content_type="text/xml",
    )
    client = tenant_client(WSDL, Timeouts(), BASIC)
    service = create_service(client, "AgendamentosBinding", "https://erp.example/soap/agendamentos")
    answer = call_soap(
        service.obterAgendamento, FAST, name="obterAgendamento", safe=True, id="AG-1"
    )
    assert "ã" in answer["cidadao"]["nome"] or "ç" in answer["cidadao"]["nome"]


def test_strict_mode_refuses_an_invalid_request_before_sending() -> None:
    client = tenant_client(WSDL, Timeouts(), BASIC)
    service = create_service(client, "AgendamentosBinding", "http://127.0.0.1:9/soap/agendamentos")
    with pytest.raises((ContractViolationError, TransientError)) as info:
        call_soap(
            service.atualizarSituacao,
            FAST,
            name="atualizarSituacao",
            safe=True,
            id="AG-1",
            situacao="AG",
            observacao=None,
            extra="nope",
        )
    assert not isinstance(info.value, TransientError)
