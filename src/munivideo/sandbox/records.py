"""The sandbox's own record shapes and their rendering into each dialect.

Records are kept in one dialect-neutral form (pydantic models, UTC timestamps) and rendered at the
boundary: SOAP wants naive local timestamps and ``DD/MM/YYYY`` opening dates, REST wants RFC 3339
timestamps and ISO dates. Field names are the contract's Portuguese names.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from munivideo.values import SAO_PAULO

BOOKING_STATUSES = ("AG", "CF", "RM", "CA", "AT", "FA", "FS", "FT")

# The ERP's own lifecycle; mirrors munivideo.models.BOOKING_TRANSITIONS in ERP codes.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    "AG": frozenset({"CF", "CA"}),
    "CF": frozenset({"RM", "CA", "AT", "FA", "FS", "FT"}),
    "RM": frozenset({"RM", "CF", "CA", "AT", "FA", "FS", "FT"}),
    "FS": frozenset({"RM", "CA"}),
    "FT": frozenset({"RM", "CA"}),
    "CA": frozenset(),
    "AT": frozenset(),
    "FA": frozenset(),
}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BookingRecord(_Record):
    id: str
    codigo_servico: str
    cidadao_nome: str
    cidadao_cpf_cnpj: str
    cidadao_email: str | None = None
    cidadao_telefone: str | None = None
    servidor_matricula: str | None = None
    servidor_nome: str | None = None
    servidor_email: str | None = None
    servidor_departamento: str | None = None
    data: date
    hora_inicio: str
    hora_fim: str
    situacao: str = "AG"
    observacoes: str | None = None
    consentimento: bool | None = None
    sala_url: str | None = None
    sala_valida_ate: datetime | None = None
    data_atualizacao: datetime
    sequencia: int = 0
    versao: int = 1


class Attachment(_Record):
    sequencia: int
    nome: str
    tipo: str
    sha256: str
    tipo_midia: str | None = None
    tamanho: int | None = None
    data_inclusao: datetime
    valido: bool = True


class Routing(_Record):
    sequencia: int
    origem: str
    destino: str
    despacho: str
    matricula_servidor: str | None = None
    data_hora: datetime


class NewProtocol(_Record):
    """A create request, dialect-neutral: the idempotency fingerprint is taken from this."""

    referencia_externa: str
    id_agendamento: str | None = None
    codigo_assunto: str
    requerentes: tuple[tuple[str, str], ...]  # (nome, cpfCnpj)
    codigo_departamento: str
    matricula_servidor: str | None = None
    data_abertura: date
    hora_abertura: str
    resumo: str
    despacho: str | None = None
    nivel_acesso: str
    resultado_atendimento: str


class ProtocolRecord(_Record):
    id: str
    numero: int
    ano: int
    novo: NewProtocol
    codigo_departamento_atual: str
    anexos: tuple[Attachment, ...] = ()
    tramitacoes: tuple[Routing, ...] = ()
    data_criacao: datetime


# -- time at the boundary -------------------------------------------------------------------


def naive_local(value: datetime) -> str:
    """UTC -> the naive local ``YYYY-MM-DDTHH:MM:SS[.ffffff]`` SOAP ERPs use."""
    return value.astimezone(SAO_PAULO).replace(tzinfo=None).isoformat()


def parse_naive_local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO).astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """UTC -> RFC 3339 in local offset (``-03:00``), the way the REST ERP answers."""
    return value.astimezone(SAO_PAULO).isoformat()


def parse_rfc3339(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SAO_PAULO)
    return parsed.astimezone(UTC)


def date_br(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def parse_date_br(text: str) -> date:
    return datetime.strptime(text, "%d/%m/%Y").date()


# -- rendering ------------------------------------------------------------------------------


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def booking_doc(b: BookingRecord, *, soap: bool) -> dict[str, Any]:
    stamp = naive_local if soap else rfc3339
    servidor = None
    if b.servidor_matricula:
        servidor = _drop_none(
            {
                "matricula": b.servidor_matricula,
                "nome": b.servidor_nome or b.servidor_matricula,
                "email": b.servidor_email,
                "codigoDepartamento": b.servidor_departamento,
            }
        )
    sala = None
    if b.sala_url and b.sala_valida_ate:
        sala = {"url": b.sala_url, "validaAte": stamp(b.sala_valida_ate)}
    return _drop_none(
        {
            "id": b.id,
            "codigoServico": b.codigo_servico,
            "cidadao": _drop_none(
                {
                    "nome": b.cidadao_nome,
                    "cpfCnpj": b.cidadao_cpf_cnpj,
                    "email": b.cidadao_email,
                    "telefone": b.cidadao_telefone,
                }
            ),
            "servidor": servidor,
            "data": b.data.isoformat(),
            "horaInicio": b.hora_inicio,
            "horaFim": b.hora_fim,
            "situacao": b.situacao,
            "observacoes": b.observacoes,
            "consentimentoRegistrado": b.consentimento,
            "sala": sala,
            "dataAtualizacao": stamp(b.data_atualizacao),
            "sequencia": b.sequencia,
            "versao": b.versao,
        }
    )


def protocol_doc(p: ProtocolRecord, *, soap: bool) -> dict[str, Any]:
    stamp = naive_local if soap else rfc3339
    n = p.novo
    requerentes = [{"nome": nome, "cpfCnpj": doc} for nome, doc in n.requerentes]
    anexos = [
        _drop_none(
            {
                "nome": a.nome,
                "tipo": a.tipo,
                "sha256": a.sha256,
                "tipoMidia": a.tipo_midia,
                "tamanho": a.tamanho,
                "sequencia": a.sequencia,
                "dataInclusao": stamp(a.data_inclusao),
                "valido": a.valido,
            }
        )
        for a in p.anexos
    ]
    tramitacoes = [
        _drop_none(
            {
                "sequencia": t.sequencia,
                "codigoDepartamentoOrigem": t.origem,
                "codigoDepartamentoDestino": t.destino,
                "despacho": t.despacho,
                "matriculaServidor": t.matricula_servidor,
                "dataHora": stamp(t.data_hora),
            }
        )
        for t in p.tramitacoes
    ]
    # Order matters for SOAP: NovoProtocolo's fields first, then the extension's (XSD sequence).
    doc: dict[str, Any] = {
        "referenciaExterna": n.referencia_externa,
        "idAgendamento": n.id_agendamento,
        "codigoAssunto": n.codigo_assunto,
        "requerentes": {"requerente": requerentes} if soap else requerentes,
        "codigoDepartamento": n.codigo_departamento,
        "matriculaServidor": n.matricula_servidor,
        "dataAbertura": date_br(n.data_abertura) if soap else n.data_abertura.isoformat(),
        "horaAbertura": n.hora_abertura,
        "resumo": n.resumo,
        "despacho": n.despacho,
        "nivelAcesso": n.nivel_acesso,
        "resultadoAtendimento": n.resultado_atendimento,
        "id": p.id,
        "numero": p.numero,
        "ano": p.ano,
        "codigoDepartamentoAtual": p.codigo_departamento_atual,
        "anexos": {"anexo": anexos} if soap else anexos,
        "tramitacoes": {"tramitacao": tramitacoes} if soap else tramitacoes,
        "dataCriacao": stamp(p.data_criacao),
    }
    return _drop_none(doc)


def new_protocol_from_doc(doc: dict[str, Any], *, soap: bool) -> NewProtocol:
    """A schema-valid create payload (either dialect) -> the neutral form."""
    reqs = doc["requerentes"]["requerente"] if soap else doc["requerentes"]
    opened = parse_date_br(doc["dataAbertura"]) if soap else date.fromisoformat(doc["dataAbertura"])
    return NewProtocol(
        referencia_externa=doc["referenciaExterna"],
        id_agendamento=doc.get("idAgendamento"),
        codigo_assunto=doc["codigoAssunto"],
        requerentes=tuple((r["nome"], r["cpfCnpj"]) for r in reqs),
        codigo_departamento=doc["codigoDepartamento"],
        matricula_servidor=doc.get("matriculaServidor"),
        data_abertura=opened,
        hora_abertura=doc["horaAbertura"],
        resumo=doc["resumo"],
        despacho=doc.get("despacho"),
        nivel_acesso=doc["nivelAcesso"],
        resultado_atendimento=doc["resultadoAtendimento"],
    )
