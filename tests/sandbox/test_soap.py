"""Plain zeep against the running sandbox: every operation, auth, encodings, hostile XML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from lxml import etree
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox

from ._helpers import soap_novo, zeep_client

INVALID = sorted((pack_dir("erp-soap", "v1") / "examples" / "invalid").glob("*.xml"))
ERP = "{http://munivideo.org/erp/v1}"


def _falha(fault: Fault) -> dict[str, str | None]:
    falha = fault.detail.find(f"{ERP}falha")
    return {
        "codigo": falha.findtext(f"{ERP}codigo"),
        "campo": falha.findtext(f"{ERP}campo"),
    }


def _post(
    sb: Sandbox, service: str, body: bytes, content_type: str = "text/xml"
) -> requests.Response:
    return requests.post(
        sb.soap_urls[service],
        data=body,
        headers={"Content-Type": content_type},
        auth=sb.credentials,
        timeout=5,
    )


def _falha_raw(response: requests.Response) -> dict[str, str | None]:
    root = etree.fromstring(response.content)
    falha = root.find(f".//{ERP}falha")
    assert falha is not None, response.text
    return {"codigo": falha.findtext(f"{ERP}codigo"), "campo": falha.findtext(f"{ERP}campo")}


def test_every_booking_operation(sb: Sandbox) -> None:
    client = zeep_client(sb)
    ag = client.bind("AgendamentosService", "AgendamentosPort")
    first = ag.listarAlterados(limite=10)
    assert first.haMais is True
    ids = [a.id for a in first.agendamentos.agendamento]
    assert len(ids) == 10
    second = ag.listarAlterados(cursor=first.proximoCursor, limite=500)
    rest_ids = [a.id for a in second.agendamentos.agendamento]
    assert second.haMais is False
    assert not set(ids) & set(rest_ids)
    assert len(ids) + len(rest_ids) == 30

    booking = ag.obterAgendamento(id="AG-000001")
    assert booking.cidadao.nome == "João da Conceição Araújo"
    assert len(booking.cidadao.cpfCnpj) == 11
    assert booking.situacao == "CF"

    done = ag.atualizarSituacao(id="AG-000001", situacao="AT", observacao="Atendido.")
    assert (done.situacao, done.versao) == ("AT", booking.versao + 1)
    again = ag.atualizarSituacao(id="AG-000001", situacao="AT")
    assert again.versao == done.versao  # same status twice is a no-op

    room = ag.registrarSala(
        id="AG-000002",
        sala={"url": "https://video.example.gov.br/s/x1", "validaAte": "2030-01-01T10:00:00"},
    )
    assert room.sala.url == "https://video.example.gov.br/s/x1"

    # the changes show up after the old cursor
    later = ag.listarAlterados(cursor=second.proximoCursor)
    assert {a.id for a in later.agendamentos.agendamento} == {"AG-000001", "AG-000002"}


def test_invalid_transition_is_a_fault(sb: Sandbox) -> None:
    ag = zeep_client(sb).bind("AgendamentosService", "AgendamentosPort")
    ag.atualizarSituacao(id="AG-000001", situacao="AT")
    with pytest.raises(Fault) as info:
        ag.atualizarSituacao(id="AG-000001", situacao="CF")
    assert _falha(info.value) == {"codigo": "TRANSICAO_INVALIDA", "campo": "situacao"}


def test_every_protocol_operation_and_idempotency(sb: Sandbox) -> None:
    pr = zeep_client(sb).bind("ProtocolosService", "ProtocolosPort")
    created = pr.criarProtocolo(chaveIdempotencia="k-1", protocolo=soap_novo())
    assert created.repeticao is False
    numero, ano = created.protocolo.numero, created.protocolo.ano
    assert created.protocolo.dataAbertura == "05/03/2024"

    replay = pr.criarProtocolo(chaveIdempotencia="k-1", protocolo=soap_novo())
    assert replay.repeticao is True
    assert (replay.protocolo.numero, replay.protocolo.ano) == (numero, ano)

    with pytest.raises(Fault) as info:
        pr.criarProtocolo(chaveIdempotencia="k-1", protocolo=soap_novo(resumo="outro"))
    assert _falha(info.value)["codigo"] == "CHAVE_CONFLITANTE"
    with pytest.raises(Fault) as info:
        pr.criarProtocolo(chaveIdempotencia="k-2", protocolo=soap_novo())
    assert _falha(info.value) == {"codigo": "REFERENCIA_DUPLICADA", "campo": "referenciaExterna"}

    found = pr.buscarPorReferenciaExterna(referenciaExterna="munivideo:test:AG-000001")
    assert found.numero == numero
    assert pr.buscarPorReferenciaExterna(referenciaExterna="nada") is None

    anexo = {"nome": "rg.pdf", "tipo": "RG", "sha256": "ab" * 32, "tamanho": 10}
    attached = pr.anexarDocumento(chaveIdempotencia="a-1", numero=numero, ano=ano, anexo=anexo)
    pr.anexarDocumento(chaveIdempotencia="a-1", numero=numero, ano=ano, anexo=anexo)
    assert len(attached.protocolo.anexos.anexo) == 1
    moved = pr.tramitarProtocolo(
        chaveIdempotencia="t-1",
        numero=numero,
        ano=ano,
        codigoDepartamentoDestino="SMF-CAD",
        despacho="Vistoria.",
    )
    assert moved.protocolo.codigoDepartamentoAtual == "SMF-CAD"
    full = pr.obterProtocolo(numero=numero, ano=ano)
    assert len(full.anexos.anexo) == 1
    assert full.tramitacoes.tramitacao[0].codigoDepartamentoOrigem == "SMF-FISC"
    [stored] = sb.protocols()
    assert stored["anexos"][0]["sha256"] == "ab" * 32


def test_username_token_is_accepted_and_no_credentials_are_refused(sb: Sandbox) -> None:
    client = zeep_client(sb, auth=False)
    ag = client.bind("AgendamentosService", "AgendamentosPort")
    with pytest.raises(Fault) as info:
        ag.obterAgendamento(id="AG-000001")
    assert _falha(info.value)["codigo"] == "NAO_AUTORIZADO"
    client.wsse = UsernameToken(*sb.credentials)
    ag = client.bind("AgendamentosService", "AgendamentosPort")
    assert ag.obterAgendamento(id="AG-000001").id == "AG-000001"


def test_iso_8859_1_envelope_is_accepted(sb: Sandbox) -> None:
    body = (
        "<?xml version='1.0' encoding='ISO-8859-1'?>"
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:e="http://munivideo.org/erp/v1"><s:Body><e:atualizarSituacao>'
        "<e:id>AG-000001</e:id><e:situacao>AT</e:situacao>"
        "<e:observacao>Atendimento concluído, orientação dada.</e:observacao>"
        "</e:atualizarSituacao></s:Body></s:Envelope>"
    ).encode("iso-8859-1")
    answer = _post(sb, "agendamentos", body, "text/xml; charset=ISO-8859-1")
    assert answer.status_code == 200, answer.text
    assert sb.booking("AG-000001")["observacoes"] == "Atendimento concluído, orientação dada."


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_golden_examples_get_the_declared_fault(sb: Sandbox, path: Path) -> None:
    expect = json.loads(path.with_suffix(".expect.json").read_text(encoding="utf-8"))
    service = "protocolos" if "Protocolo" in expect["operation"] else "agendamentos"
    answer = _post(sb, service, path.read_bytes())
    assert answer.status_code == expect["http_status"]
    assert _falha_raw(answer) == {"codigo": expect["codigo"], "campo": expect["campo"]}


def test_wsdl_is_served_with_live_addresses(sb: Sandbox) -> None:
    text = requests.get(sb.wsdl_url, timeout=5).text
    assert f'location="{sb.base_url}/soap/agendamentos"' in text
    assert f'schemaLocation="{sb.base_url}/soap/xsd/erp.xsd"' in text
    assert "8765" not in text or sb.port == 8765
