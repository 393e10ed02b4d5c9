"""requests against the REST API: every operation, OAuth, problem+json, Idempotency-Key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from munivideo.packs import pack_dir
from munivideo.sandbox import Sandbox

from ._helpers import rest_novo

INVALID = sorted(
    p
    for p in (pack_dir("erp-rest", "v1") / "examples" / "invalid").glob("*.json")
    if not p.name.endswith(".expect.json")
)


def test_token_endpoint(sb: Sandbox) -> None:
    ok = requests.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.credentials[0],
            "client_secret": sb.credentials[1],
        },
        timeout=5,
    )
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer"
    assert ok.headers["Cache-Control"] == "no-store"
    bad = requests.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=("x", "y"), timeout=5
    )
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")


def test_every_booking_operation(sb: Sandbox, rest: requests.Session) -> None:
    base = sb.rest_url
    page = rest.get(f"{base}/agendamentos", params={"limite": 25}, timeout=5).json()
    assert page["haMais"] is True
    rest_page = rest.get(
        f"{base}/agendamentos", params={"cursor": page["proximoCursor"]}, timeout=5
    ).json()
    assert len(page["itens"]) + len(rest_page["itens"]) == 30
    assert rest_page["haMais"] is False
    one = rest.get(f"{base}/agendamentos/AG-000001", timeout=5).json()
    assert one["dataAtualizacao"].endswith("-03:00")
    done = rest.put(f"{base}/agendamentos/AG-000001/situacao", json={"situacao": "AT"}, timeout=5)
    assert done.json()["situacao"] == "AT"
    conflict = rest.put(
        f"{base}/agendamentos/AG-000001/situacao", json={"situacao": "CF"}, timeout=5
    )
    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"] == "application/problem+json"
    assert conflict.json()["codigo"] == "TRANSICAO_INVALIDA"
    room = rest.put(
        f"{base}/agendamentos/AG-000002/sala",
        json={"url": "https://video.example.gov.br/s/1", "validaAte": "2030-01-01T10:00:00-03:00"},
        timeout=5,
    )
    assert room.json()["sala"]["validaAte"] == "2030-01-01T10:00:00-03:00"


def test_every_protocol_operation(sb: Sandbox, rest: requests.Session) -> None:
    base = sb.rest_url
    created = rest.post(
        f"{base}/protocolos", json=rest_novo(), headers={"Idempotency-Key": "c1"}, timeout=5
    )
    assert created.status_code == 201
    body = created.json()
    ano, numero = body["ano"], body["numero"]
    assert created.headers["Location"] == f"/api/v1/protocolos/{ano}/{numero}"
    found = rest.get(
        f"{base}/protocolos",
        params={"referenciaExterna": rest_novo()["referenciaExterna"]},
        timeout=5,
    ).json()
    assert [p["numero"] for p in found["itens"]] == [numero]
    attached = rest.post(
        f"{base}/protocolos/{ano}/{numero}/anexos",
        json={"nome": "rg.pdf", "tipo": "RG", "sha256": "cd" * 32},
        headers={"Idempotency-Key": "a1"},
        timeout=5,
    )
    assert attached.status_code == 201
    moved = rest.post(
        f"{base}/protocolos/{ano}/{numero}/tramitacoes",
        json={"codigoDepartamentoDestino": "SMF-DIV", "despacho": "Inscrever em dívida."},
        headers={"Idempotency-Key": "t1"},
        timeout=5,
    )
    assert moved.json()["codigoDepartamentoAtual"] == "SMF-DIV"
    full = rest.get(f"{base}/protocolos/{ano}/{numero}", timeout=5).json()
    assert len(full["anexos"]) == 1
    assert len(full["tramitacoes"]) == 1
    missing = rest.get(f"{base}/protocolos/{ano}/9999", timeout=5)
    assert missing.status_code == 404


def test_idempotency_key_semantics(sb: Sandbox, rest: requests.Session) -> None:
    url = f"{sb.rest_url}/protocolos"
    missing = rest.post(url, json=rest_novo(), timeout=5)
    assert (missing.status_code, missing.json()["codigo"]) == (400, "CHAVE_AUSENTE")
    first = rest.post(url, json=rest_novo(), headers={"Idempotency-Key": "k"}, timeout=5)
    replay = rest.post(url, json=rest_novo(), headers={"Idempotency-Key": "k"}, timeout=5)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["numero"] == first.json()["numero"]
    other = rest.post(
        url, json=rest_novo(resumo="outro"), headers={"Idempotency-Key": "k"}, timeout=5
    )
    assert (other.status_code, other.json()["codigo"]) == (422, "CHAVE_CONFLITANTE")
    assert len(sb.protocols()) == 1


def test_in_progress_key_is_409_then_replays(sb: Sandbox, rest: requests.Session) -> None:
    sb.inject("criarProtocolo=timeout:1s#1")
    url = f"{sb.rest_url}/protocolos"
    headers = {"Idempotency-Key": "slow"}
    with pytest.raises(requests.ReadTimeout):
        rest.post(url, json=rest_novo(), headers=headers, timeout=0.3)
    busy = rest.post(url, json=rest_novo(), headers=headers, timeout=5)
    assert (busy.status_code, busy.json()["codigo"]) == (409, "CHAVE_EM_ANDAMENTO")
    assert busy.headers["Retry-After"] == "1"
    for _ in range(40):
        answer = rest.post(url, json=rest_novo(), headers=headers, timeout=5)
        if answer.status_code == 201:
            break
        sb.ctx.stop.wait(0.05)
    assert answer.status_code == 201
    assert answer.headers["Idempotent-Replayed"] == "true"
    assert len(sb.protocols()) == 1


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_golden_examples_get_the_declared_problem(
    sb: Sandbox, rest: requests.Session, path: Path
) -> None:
    example = json.loads(path.read_text(encoding="utf-8"))["request"]
    expect = json.loads(
        path.with_name(path.name.replace(".json", ".expect.json")).read_text(encoding="utf-8")
    )
    headers = {k: v for k, v in example["headers"].items() if k != "Authorization"}
    session = rest if "Authorization" in example["headers"] else requests.Session()
    answer = session.request(
        example["method"],
        sb.base_url + example["path"],
        params=example.get("query"),
        data=json.dumps(example["body"]).encode() if "body" in example else None,
        headers=headers,
        timeout=5,
    )
    assert answer.status_code == expect["status"], answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["codigo"], problem["campo"]) == (expect["codigo"], expect["campo"])
