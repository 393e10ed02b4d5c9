"""SIGMUN: a made-up municipal ERP with a REST API shaped like many real ones, and unlike the
reference contract: Portuguese snake_case, dotted CPFs, ``DD/MM/YYYY`` dates with ``HH:MM``
times, numeric status codes, ``pagina``/``por_pagina`` paging with a total, ``PATCH`` for the
status, protocol numbers as ``"1234/2026"``, no idempotency keys (every POST creates) but a
lookup by ``referencia_externa``, an API key header, and its own error body.

munivideo speaks it with ``tests/erps/sigmun/mapping.toml`` alone (no Python).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from munivideo.errors import InvalidRecordError, MunivideoError
from munivideo.sandbox import service
from munivideo.sandbox.context import Call, Context
from munivideo.sandbox.errors import contract_code
from munivideo.sandbox.records import BookingRecord, NewProtocol, ProtocolRecord
from munivideo.values import SAO_PAULO

from .peer import ErpPeer, run

API_KEY = ("sigmun", "chave-sigmun-de-teste")
STATUS = {"AG": 1, "CF": 2, "RM": 3, "CA": 4, "AT": 5, "FA": 6, "FS": 7, "FT": 8}
OUTCOME = {"AT": 10, "FA": 20, "FS": 21, "FT": 30, "CA": 40}
ERROR_CODES = {
    "REQUISICAO_INVALIDA": 1001,
    "NAO_ENCONTRADO": 1004,
    "TRANSICAO_INVALIDA": 1009,
    "NAO_AUTORIZADO": 1401,
    "LIMITE_EXCEDIDO": 1429,
    "ERRO_INTERNO": 1500,
    "INDISPONIVEL": 1503,
}
STAMP = "%d/%m/%Y %H:%M:%S"


def _local(value: datetime, fmt: str) -> str:
    return value.astimezone(SAO_PAULO).strftime(fmt)


def _parse_local(text: str, fmt: str) -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=SAO_PAULO)


def _cpf(digits: str) -> str:
    if len(digits) == 11:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    return digits


def _digits(text: str) -> str:
    if not re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", text):
        raise InvalidRecordError("cpf deve vir no formato 000.000.000-00", field="cpf")
    return re.sub(r"\D", "", text)


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def error(status: int, code: str, message: str, field: str | None = None) -> Response:
    return _json(
        {"erro": {"codigo": ERROR_CODES.get(code, 1500), "mensagem": message, "campo": field}},
        status,
    )


def _declared(exc: MunivideoError) -> Response:
    code, status = contract_code(exc)
    return error(status, code, exc.message, exc.field)


def booking_wire(b: BookingRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "codigo_agendamento": b.id,
        "servico": {"codigo": b.codigo_servico},
        "cidadao": {"nome_completo": b.cidadao_nome, "cpf": _cpf(b.cidadao_cpf_cnpj)},
        "data_atendimento": b.data.strftime("%d/%m/%Y"),
        "hora_inicio": b.hora_inicio,
        "hora_fim": b.hora_fim,
        "situacao": STATUS[b.situacao],
        "ultima_alteracao": _local(b.data_atualizacao, STAMP),
        "versao_agenda": b.sequencia,
    }
    if b.cidadao_email:
        doc["cidadao"]["email"] = b.cidadao_email
    if b.cidadao_telefone:
        doc["cidadao"]["celular"] = b.cidadao_telefone
    if b.servidor_matricula:
        doc["atendente"] = {
            "matricula": b.servidor_matricula,
            "nome": b.servidor_nome or b.servidor_matricula,
        }
        if b.servidor_departamento:
            doc["atendente"]["setor"] = b.servidor_departamento
    if b.observacoes:
        doc["observacoes"] = b.observacoes
    if b.consentimento is not None:
        doc["termo_consentimento"] = "S" if b.consentimento else "N"
    if b.sala_url and b.sala_valida_ate:
        doc["sala_virtual"] = {
            "link": b.sala_url,
            "expira_em": _local(b.sala_valida_ate, "%d/%m/%Y %H:%M"),
        }
    return doc


def protocol_wire(p: ProtocolRecord) -> dict[str, Any]:
    n = p.novo
    return {
        "numero_processo": f"{p.numero}/{p.ano}",
        "referencia_externa": n.referencia_externa,
        "codigo_agendamento": n.id_agendamento,
        "assunto": {"codigo": n.codigo_assunto},
        "setor_atual": p.codigo_departamento_atual,
        "criado_em": _local(p.data_criacao, STAMP),
        "documentos": [
            {
                "nome": a.nome,
                "categoria": a.tipo,
                "hash_sha256": a.sha256,
                "mime": a.tipo_midia,
                "tamanho_bytes": a.tamanho,
            }
            for a in p.anexos
        ],
        "tramites": [
            {"setor_origem": t.origem, "setor_destino": t.destino, "parecer": t.despacho}
            for t in p.tramitacoes
        ],
    }


def _new_protocol(body: dict[str, Any]) -> NewProtocol:
    if body.get("origem") != "MUNIVIDEO":
        raise InvalidRecordError("origem deve ser MUNIVIDEO", field="origem")
    if not isinstance(body.get("resultado"), int) or not isinstance(body.get("sigiloso"), bool):
        raise InvalidRecordError("resultado e sigiloso têm tipos errados", field="resultado")
    outcome = {v: k for k, v in OUTCOME.items()}
    opened = datetime.strptime(body["abertura"]["data"], "%d/%m/%Y").date()
    return NewProtocol(
        referencia_externa=body["referencia_externa"],
        id_agendamento=body.get("codigo_agendamento"),
        codigo_assunto=body["assunto"]["codigo"],
        requerentes=((body["interessado"]["nome"], _digits(body["interessado"]["cpf"])),),
        codigo_departamento=body["setor"],
        matricula_servidor=body.get("matricula_atendente"),
        data_abertura=opened,
        hora_abertura=body["abertura"]["hora"],
        resumo=body["descricao"],
        despacho=body.get("despacho"),
        nivel_acesso="interno" if body["sigiloso"] else "publico",
        resultado_atendimento=outcome[body["resultado"]],
    )


def _page(call: Call, request: Request) -> Response:
    pagina = int(request.args.get("pagina", "1"))
    por_pagina = int(request.args.get("por_pagina", "20"))
    if pagina < 1 or not 1 <= por_pagina <= 100:
        raise InvalidRecordError("pagina >= 1 e por_pagina entre 1 e 100", field="pagina")
    records, _ = service.list_changed(call, None, 10_000_000)
    since = request.args.get("alterado_desde")
    if since:
        floor = _parse_local(since, STAMP)
        records = [r for r in records if r.data_atualizacao.replace(microsecond=0) >= floor]
    records.sort(key=lambda r: (r.data_atualizacao.replace(microsecond=0), r.id))
    chunk = records[(pagina - 1) * por_pagina : pagina * por_pagina]
    return _json(
        {
            "agendamentos": [booking_wire(r) for r in chunk],
            "pagina": pagina,
            "por_pagina": por_pagina,
            "total": len(records),
        }
    )


def _patch(call: Call, booking_id: str, body: dict[str, Any]) -> Response:
    if "situacao" in body:
        codes = {v: k for k, v in STATUS.items()}
        if body["situacao"] not in codes:
            raise InvalidRecordError("situacao desconhecida", field="situacao")
        record = service.set_status(
            call, booking_id, codes[body["situacao"]], body.get("justificativa")
        )
    else:
        sala = body["sala_virtual"]
        until = _parse_local(sala["expira_em"], "%d/%m/%Y %H:%M")
        record = service.set_room(call, booking_id, sala["link"], until)
    return _json({"agendamento": booking_wire(record)})


_BOOKING = re.compile(r"^/api/agendamentos/([^/]+)$")
_PROTOCOL = re.compile(r"^/api/exercicios/(\d+)/processos/(\d+)(/documentos|/tramites)?$")


def _operation(request: Request) -> str | None:
    path, method = request.path, request.method
    if path == "/api/agendamentos" and method == "GET":
        return "listarAlterados"
    if _BOOKING.match(path):
        if method == "GET":
            return "obterAgendamento"
        if method == "PATCH":
            body = request.get_json(silent=True) or {}
            return "atualizarSituacao" if "situacao" in body else "registrarSala"
    if path == "/api/processos":
        return {"POST": "criarProtocolo", "GET": "buscarPorReferenciaExterna"}.get(method)
    m = _PROTOCOL.match(path)
    if m:
        tail = m.group(3)
        if tail is None and method == "GET":
            return "obterProtocolo"
        if tail == "/documentos" and method == "POST":
            return "anexarDocumento"
        if tail == "/tramites" and method == "POST":
            return "tramitarProtocolo"
    return None


def handle(ctx: Context, request: Request) -> Response:
    """The SIGMUN REST API."""
    if request.headers.get("X-Chave-Api") != API_KEY[1]:
        return error(401, "NAO_AUTORIZADO", "chave de API inválida")
    operation = _operation(request)
    if operation is None:
        if _BOOKING.match(request.path) and request.method == "PUT":
            response = error(405, "REQUISICAO_INVALIDA", "use PATCH")
            response.headers["Allow"] = "GET, PATCH"
            return response
        return error(404, "NAO_ENCONTRADO", f"nada em {request.method} {request.path}")
    body: Any = request.get_json(silent=True) or {}

    def work(call: Call) -> Response:
        try:
            return _work(call, operation, request, body)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRecordError(f"corpo inválido: {exc}", field=str(exc)) from None

    return run(ctx, operation, error, work, declared=_declared)


def _protocol_at(call: Call, request: Request) -> ProtocolRecord:
    m = _PROTOCOL.match(request.path)
    assert m is not None
    return service.get_protocol(call, int(m.group(1)), int(m.group(2)))


def _work(call: Call, operation: str, request: Request, body: Any) -> Response:
    m = _BOOKING.match(request.path)
    if operation == "listarAlterados":
        return _page(call, request)
    if operation == "obterAgendamento":
        assert m is not None
        return _json({"agendamento": booking_wire(service.get_booking(call, m.group(1)))})
    if operation in ("atualizarSituacao", "registrarSala"):
        assert m is not None
        return _patch(call, m.group(1), body)
    if operation == "criarProtocolo":
        # No idempotency keys: every POST is a new protocol.
        record, _ = service.create_protocol(call, uuid.uuid4().hex, _new_protocol(body))
        return _json({"processo": protocol_wire(record)}, 201)
    if operation == "buscarPorReferenciaExterna":
        found = service.find_protocol(call, request.args["referencia_externa"])
        items = [protocol_wire(found)] if found else []
        return _json({"processos": items, "total": len(items)})
    protocol = _protocol_at(call, request)
    if operation == "obterProtocolo":
        return _json({"processo": protocol_wire(protocol)})
    if operation == "anexarDocumento":
        arquivo = body["arquivo"]
        record, _ = service.attach(
            call,
            uuid.uuid4().hex,
            protocol.ano,
            protocol.numero,
            nome=arquivo["nome"],
            tipo=arquivo["categoria"],
            sha256=arquivo["hash_sha256"],
            tipo_midia=arquivo.get("mime"),
            tamanho=arquivo.get("tamanho_bytes"),
        )
        return _json({"processo": protocol_wire(record)}, 201)
    record, _ = service.forward(
        call,
        uuid.uuid4().hex,
        protocol.ano,
        protocol.numero,
        destino=body["setor_destino"],
        despacho=body["parecer"],
        matricula=None,
    )
    return _json({"processo": protocol_wire(record)}, 201)


def serve(**kwargs: Any) -> ErpPeer:
    """A started SIGMUN on loopback (``seed``: a sandbox seed name)."""
    return ErpPeer(handle, API_KEY, **kwargs).start()
