"""Proof that a second ERP dialect needs a mapping file, not code: the unchanged REST adapter
speaks the fictional e-Gov v2 API (``dialects/egov-rest-v2.toml``), served here by ``responses``
(request/response mapping only; the reference dialect runs against the real sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from munivideo_erp_rest import RestErpAdapter, create_adapter

from munivideo.models import (
    BookingStatus,
    ForwardedDemand,
    ProtocolEntry,
    Tenant,
    VerifiedDocument,
)

DIALECT = Path(__file__).parent / "dialects" / "egov-rest-v2.toml"
BASE = "https://erp.egov.example"
TENANT = Tenant(id="cachoeirinha", name="Cachoeirinha")


def _record(code: str, status: str = "2", cpf: str = "05278934123") -> dict[str, Any]:
    return {
        "codigo": code,
        "tipoAtendimento": "IPTU",
        "solicitante": {"nomeCompleto": "Íris Damasceno Queiroz", "documento": cpf},
        "atendente": {"matricula": "AF-0002", "nome": "João Antônio Peçanha"},
        "dia": "05/03/2024",
        "inicio": "14:00",
        "termino": "14:30",
        "status": status,
        "alteradoEm": "2024-03-01T09:15:22",
        "versaoAgenda": 1,
    }


def _protocol_answer() -> dict[str, Any]:
    return {
        "refExterna": "munivideo:cachoeirinha:EG-1",
        "processo": {"numero": 77, "exercicio": 2024, "codigo": "P-77/2024"},
        "criadoEm": "2024-03-05T14:40:00-03:00",
    }


@pytest.fixture
def adapter() -> Iterator[RestErpAdapter]:
    built = create_adapter(
        TENANT,
        {
            "base_url": BASE,
            "mapping": str(DIALECT),
            "auth": {"scheme": "api_key", "header": "X-Chave", "api_key": "segredo-123"},
        },
    )
    yield built
    built.close()


@responses.activate
def test_bookings_page_in_the_variant(adapter: RestErpAdapter) -> None:
    responses.get(
        f"{BASE}/ws/v2/agenda",
        json={
            "registros": [_record("EG-1"), _record("EG-2", status="9")],
            "continuacao": "tok-1",
            "maisRegistros": False,
        },
        match=[responses.matchers.query_param_matcher({"tamanho": "50"})],
    )
    page = adapter.list_bookings(None, 50)
    (booking,) = page.bookings
    assert booking.id == "EG-1" and booking.tenant_id == "cachoeirinha"
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.start == datetime(2024, 3, 5, 17, 0, tzinfo=UTC)
    assert booking.citizen.document == "05278934123"
    assert booking.servant is not None and booking.servant.registration == "AF-0002"
    (rejected,) = page.rejected
    assert (rejected.record_id, rejected.field) == ("EG-2", "status")
    assert "'9'" in rejected.reason
    assert page.next_cursor is not None and page.next_cursor.id == "tok-1"
    assert page.next_cursor.updated_at == datetime(2024, 3, 1, 12, 15, 22, tzinfo=UTC)
    assert responses.calls[0].request.headers["X-Chave"] == "segredo-123"


@responses.activate
def test_protocol_written_in_the_variant(adapter: RestErpAdapter) -> None:
    created = responses.post(f"{BASE}/ws/v2/processos", json=_protocol_answer(), status=201)
    entry = ProtocolEntry(
        external_reference="munivideo:cachoeirinha:EG-1",
        tenant_id="cachoeirinha",
        booking_id="EG-1",
        subject_code="IPTU-REV",
        applicant={"name": "Íris Damasceno Queiroz", "cpf": "05278934123"},
        department_code="SMF-FISC",
        opened_at=datetime(2024, 3, 5, 17, 35, tzinfo=UTC),
        summary="Atendimento por vídeo.",
        outcome="attended",
    )
    receipt = adapter.create_protocol(entry, "mv1-key")
    assert (receipt.number, receipt.year, receipt.erp_id) == (77, 2024, "P-77/2024")
    sent = json.loads(created.calls[0].request.body)
    assert sent == {
        "refExterna": "munivideo:cachoeirinha:EG-1",
        "agendamento": "EG-1",
        "assunto": "0101",
        "interessados": [{"nome": "Íris Damasceno Queiroz", "documento": "05278934123"}],
        "setor": "12",
        "abertura": {"dia": "05/03/2024", "hora": "14:35"},
        "descricao": "Atendimento por vídeo.",
        "despacho": "",
        "sigilo": "S",
        "resultado": "10",
    }
    assert created.calls[0].request.headers["Idempotency-Key"] == "mv1-key"

    attach = responses.post(f"{BASE}/ws/v2/processos/2024/77/documentos", json={}, status=201)
    adapter.attach_document(
        receipt, VerifiedDocument(name="rg.pdf", kind="RG", sha256="c" * 64), "k2"
    )
    assert json.loads(attach.calls[0].request.body)["hash"] == "c" * 64
    fwd = responses.post(f"{BASE}/ws/v2/processos/2024/77/encaminhamentos", json={}, status=201)
    adapter.forward_protocol(
        receipt, ForwardedDemand(department_code="SMF-CAD", description="x"), "k3"
    )
    assert json.loads(fwd.calls[0].request.body) == {"setorDestino": "13", "texto": "x"}


@responses.activate
def test_status_and_lookup_in_the_variant(adapter: RestErpAdapter) -> None:
    status = responses.put(f"{BASE}/ws/v2/agenda/EG-1/status", json={})
    adapter.update_booking_status("EG-1", BookingStatus.NO_SHOW, "Não compareceu.")
    assert json.loads(status.calls[0].request.body) == {"status": "6", "motivo": "Não compareceu."}
    responses.get(f"{BASE}/ws/v2/processos", json={"registros": [_protocol_answer()]})
    found = adapter.find_protocol("munivideo:cachoeirinha:EG-1")
    assert found is not None and found.number == 77


def test_subject_without_a_code_is_refused_before_sending(adapter: RestErpAdapter) -> None:
    entry = ProtocolEntry(
        external_reference="r",
        tenant_id="cachoeirinha",
        booking_id="EG-1",
        subject_code="ITBI-NEW",
        applicant={"name": "Íris", "cpf": "05278934123"},
        department_code="SMF-FISC",
        opened_at=datetime(2024, 3, 5, 17, 35, tzinfo=UTC),
        summary="s",
        outcome="attended",
    )
    with pytest.raises(Exception, match="no ERP code for subjects 'ITBI-NEW'"):
        adapter.create_protocol(entry, "k")
