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
    """One booking (``Agendamento`` in ``erp-soap/v1`` ``xsd/agendamentos.xsd`` and the
    ``erp-rest/v1`` OpenAPI schema), dialect-neutral; rendered by :func:`booking_doc`.

    :ivar id: the ERP's booking id (``AG-000001`` in the seed).
    :ivar codigo_servico: the service code (``IPTU``, ``SESMT``, ...).
    :ivar cidadao_cpf_cnpj: CPF (11 digits) or CNPJ (14 digits), digits only, leading zeros kept.
    :ivar cidadao_telefone: area code and number, digits only (10 or 11), or ``+55`` E.164.
    :ivar servidor_matricula: the attending servant's registration number; ``None`` while no
        servant is assigned (the booking renders without ``servidor``).
    :ivar data: the local (America/Sao_Paulo) day of the appointment.
    :ivar hora_inicio: naive local start time ``HH:MM``.
    :ivar hora_fim: naive local end time ``HH:MM``.
    :ivar situacao: status code (:data:`BOOKING_STATUSES`: AG agendado, CF confirmado, RM
        remarcado, CA cancelado, AT atendido, FA falta do cidadão, FS falta do servidor, FT falha
        técnica); changes follow :data:`STATUS_TRANSITIONS`.
    :ivar consentimento: whether the citizen's consent was recorded (``None``: not asked).
    :ivar sala_url: the video room registered by ``registrarSala``.
    :ivar sala_valida_ate: until when that room is valid (aware, UTC).
    :ivar data_atualizacao: last change (aware, UTC; strictly increasing per store), the
        ``listarAlterados`` cursor's first half.
    :ivar sequencia: bumped by a change that invalidates invitations (a move, a cancel).
    :ivar versao: bumped by every change (starts at 1).
    """

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
    """One document record on a protocol (``Anexo`` in ``xsd/protocolos.xsd``): append-only,
    never deleted, only marked ``valido=False``. The ERP stores the record, not the file.

    :ivar sequencia: 1-based position among the protocol's attachments.
    :ivar nome: file name, 1-255 characters.
    :ivar tipo: the document type code.
    :ivar sha256: the file's SHA-256, 64 lower-case hex digits (also the ``attach:<sha256>``
        effect step).
    :ivar tipo_midia: media type (``application/pdf``), if given.
    :ivar tamanho: size in bytes, if given.
    :ivar data_inclusao: when it was attached (aware, UTC).
    """

    sequencia: int
    nome: str
    tipo: str
    sha256: str
    tipo_midia: str | None = None
    tamanho: int | None = None
    data_inclusao: datetime
    valido: bool = True


class Routing(_Record):
    """One forwarding of a protocol to another department (``Tramitacao`` in
    ``xsd/protocolos.xsd``), written by ``tramitarProtocolo``.

    :ivar sequencia: 1-based position in the protocol's routing history.
    :ivar origem: the department the protocol was in.
    :ivar destino: the department it went to (now ``codigo_departamento_atual``).
    :ivar despacho: the dispatch text.
    :ivar matricula_servidor: the servant who forwarded it, if given.
    :ivar data_hora: when (aware, UTC).
    """

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
    """One protocol entry (``Protocolo`` in ``xsd/protocolos.xsd``): the create request plus
    what the ERP assigned and appended since; rendered by :func:`protocol_doc`.

    :ivar id: ``PR-<ano>-<numero, 6 digits>``.
    :ivar numero: number within the year, from 1, assigned at creation.
    :ivar ano: the year of creation (UTC); ``numero/ano`` is how the contract addresses it.
    :ivar novo: the create request as received (its ``referencia_externa`` is the effect
        subject).
    :ivar codigo_departamento_atual: the department it is in now (changes with each routing).
    :ivar anexos: attachments, in order.
    :ivar tramitacoes: routing entries, in order.
    :ivar data_criacao: commit time of the create (aware, UTC).
    """

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
    """A SOAP ``DataHoraLocal`` (naive America/Sao_Paulo ``YYYY-MM-DDTHH:MM:SS[.ffffff]``,
    ``xsd/comum.xsd``) -> an aware UTC datetime; the inverse of :func:`naive_local`.

    :raises ValueError: ``text`` is not an ISO 8601 date-time (the XSD validated it first).
    """
    return datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO).astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """UTC -> RFC 3339 in local offset (``-03:00``), the way the REST ERP answers."""
    return value.astimezone(SAO_PAULO).isoformat()


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) -> an aware UTC datetime. A timestamp without
    an offset is read as America/Sao_Paulo local time, as the REST contract says local values are.

    :raises ValueError: ``text`` is not an ISO 8601 date-time.
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SAO_PAULO)
    return parsed.astimezone(UTC)


def date_br(value: date) -> str:
    """A date as the SOAP contract's ``DataBR`` (``DD/MM/YYYY``, ``xsd/comum.xsd``)."""
    return value.strftime("%d/%m/%Y")


def parse_date_br(text: str) -> date:
    """A ``DataBR`` (``DD/MM/YYYY``) -> a date.

    :raises ValueError: ``text`` is not ``DD/MM/YYYY`` or not a real day.
    """
    return datetime.strptime(text, "%d/%m/%Y").date()


# -- rendering ------------------------------------------------------------------------------


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def booking_doc(b: BookingRecord, *, soap: bool) -> dict[str, Any]:
    """A booking as the contract's ``Agendamento`` document (camelCase Portuguese names, absent
    values left out).

    :param b: the record.
    :param soap: ``True``: timestamps as naive local ``DataHoraLocal`` (``erp-soap/v1``);
        ``False``: RFC 3339 with the local offset (``erp-rest/v1``). ``data`` is ISO in both.
    :returns: a JSON-shaped dict; ``servidor`` only when a servant is assigned, ``sala`` only
        when a room was registered.
    """
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
    """A protocol as the contract's ``Protocolo`` document, with attachments and routing.

    :param p: the record.
    :param soap: ``True``: keys in XSD sequence order (``NovoProtocolo``'s fields, then the
        extension's), lists wrapped (``{"requerente": [...]}``), ``dataAbertura`` as ``DD/MM/YYYY``,
        naive local timestamps; ``False``: plain JSON lists, ISO dates, RFC 3339 timestamps.
    :returns: a JSON-shaped dict with absent values left out.
    """
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
