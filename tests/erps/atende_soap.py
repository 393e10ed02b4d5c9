"""ATENDE: a made-up municipal ERP speaking SOAP 1.2, shaped unlike the reference SOAP contract
and unlike SIGMUN: other operation names (``ConsultarAgendamentos``, ``AbrirProcesso``...) and
element paths, one date-time per slot (``Inicio``/``Fim`` as ``YYYY-MM-DD HH:MM``), word status
codes, offset paging with a total, an ``IdentificadorRequisicao`` it deduplicates on, SOAP 1.2
faults with its own ``Erro`` detail, and WS-Security UsernameToken (digest or text password).

munivideo speaks it with ``tests/erps/atende/mapping.toml`` and its WSDL alone (no Python).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from werkzeug.wrappers import Request, Response

from munivideo.errors import InvalidRecordError, MunivideoError
from munivideo.sandbox import service
from munivideo.sandbox.context import Call, Context
from munivideo.sandbox.errors import UnauthorizedError, contract_code
from munivideo.sandbox.records import BookingRecord, NewProtocol, ProtocolRecord
from munivideo.values import SAO_PAULO

from .peer import ErpPeer, run

WSDL = Path(__file__).parent / "atende" / "atende.wsdl"
USER = ("integracao", "senha-atende-de-teste")
ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = "urn:atende:v3"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
STATUS = {
    "AG": "AGENDADO",
    "CF": "CONFIRMADO",
    "RM": "REMARCADO",
    "CA": "CANCELADO",
    "AT": "REALIZADO",
    "FA": "AUSENTE",
    "FS": "AUSENCIA_SERVIDOR",
    "FT": "FALHA_TECNICA",
}
OUTCOME = {
    "AT": "ATENDIDO",
    "FA": "NAO_COMPARECEU",
    "FS": "SERVIDOR_AUSENTE",
    "FT": "FALHA",
    "CA": "CANCELADO",
}
CODES = {
    "REQUISICAO_INVALIDA": "E-400",
    "NAO_AUTORIZADO": "E-401",
    "NAO_ENCONTRADO": "E-404",
    "TRANSICAO_INVALIDA": "E-409",
    "LIMITE_EXCEDIDO": "E-429",
    "ERRO_INTERNO": "E-500",
    "INDISPONIVEL": "E-503",
}
OPERATIONS = {
    "ConsultarAgendamentos": "listarAlterados",
    "ObterAgendamento": "obterAgendamento",
    "AlterarSituacao": "atualizarSituacao",
    "InformarSala": "registrarSala",
    "AbrirProcesso": "criarProtocolo",
    "LocalizarProcesso": "buscarPorReferenciaExterna",
    "ConsultarProcesso": "obterProtocolo",
    "IncluirDocumento": "anexarDocumento",
    "EncaminharProcesso": "tramitarProtocolo",
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _el(parent: Any, name: str, text: Any = None) -> Any:
    node = etree.SubElement(parent, _q(name))
    if text is not None:
        node.text = str(text).lower() if isinstance(text, bool) else str(text)
    return node


def _envelope(build: Callable[[Any], None], status: int = 200) -> Response:
    env = etree.Element(f"{{{ENV}}}Envelope", nsmap={"env": ENV, "a": NS})
    body = etree.SubElement(env, f"{{{ENV}}}Body")
    build(body)
    xml = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return Response(xml, status=status, content_type="application/soap+xml; charset=utf-8")


def fault(status: int, code: str, message: str, field: str | None = None) -> Response:
    def build(body: Any) -> None:
        f = etree.SubElement(body, f"{{{ENV}}}Fault")
        value = etree.SubElement(etree.SubElement(f, f"{{{ENV}}}Code"), f"{{{ENV}}}Value")
        value.text = "env:Sender" if status < 500 else "env:Receiver"
        text = etree.SubElement(etree.SubElement(f, f"{{{ENV}}}Reason"), f"{{{ENV}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "pt-BR")
        text.text = message
        erro = _el(etree.SubElement(f, f"{{{ENV}}}Detail"), "Erro")
        _el(erro, "Codigo", CODES.get(code, "E-500"))
        _el(erro, "Mensagem", message)
        if field:
            _el(erro, "Campo", field)

    return _envelope(build, status)


def _declared(exc: MunivideoError) -> Response:
    code, status = contract_code(exc)
    return fault(400 if status < 500 else 500, code, exc.message, exc.field)


def _local(value: datetime, fmt: str) -> str:
    return value.astimezone(SAO_PAULO).strftime(fmt)


def _booking(parent: Any, b: BookingRecord) -> None:
    node = _el(parent, "Agendamento")
    _el(node, "Codigo", b.id)
    _el(node, "Servico", b.codigo_servico)
    pessoa = _el(node, "Interessado")
    _el(pessoa, "Nome", b.cidadao_nome)
    _el(pessoa, "Documento", b.cidadao_cpf_cnpj)
    if b.cidadao_email:
        _el(pessoa, "Email", b.cidadao_email)
    if b.cidadao_telefone:
        _el(pessoa, "Telefone", b.cidadao_telefone)
    if b.servidor_matricula:
        atendente = _el(node, "Atendente")
        _el(atendente, "Matricula", b.servidor_matricula)
        _el(atendente, "Nome", b.servidor_nome or b.servidor_matricula)
        if b.servidor_departamento:
            _el(atendente, "Setor", b.servidor_departamento)
    _el(node, "Inicio", f"{b.data.isoformat()} {b.hora_inicio}")
    _el(node, "Fim", f"{b.data.isoformat()} {b.hora_fim}")
    _el(node, "Situacao", STATUS[b.situacao])
    if b.observacoes:
        _el(node, "Observacao", b.observacoes)
    if b.consentimento is not None:
        _el(node, "Consentimento", b.consentimento)
    if b.sala_url and b.sala_valida_ate:
        sala = _el(node, "Sala")
        _el(sala, "Endereco", b.sala_url)
        _el(sala, "Validade", b.sala_valida_ate.astimezone(SAO_PAULO).isoformat())
    _el(node, "Versao", b.sequencia)
    _el(node, "AlteradoEm", b.data_atualizacao.astimezone(SAO_PAULO).isoformat())


def _summary(parent: Any, p: ProtocolRecord, *, full: bool = False) -> None:
    node = _el(parent, "Processo")
    _el(node, "Numero", p.numero)
    _el(node, "Ano", p.ano)
    _el(node, "Referencia", p.novo.referencia_externa)
    if p.novo.id_agendamento:
        _el(node, "Agendamento", p.novo.id_agendamento)
    _el(node, "CriadoEm", _local(p.data_criacao, "%d/%m/%Y %H:%M:%S"))
    if full:
        docs = _el(node, "Documentos")
        for a in p.anexos:
            d = _el(docs, "Documento")
            _el(d, "Arquivo", a.nome)
            _el(d, "Tipo", a.tipo)
            _el(d, "Hash", a.sha256)
            if a.tipo_midia:
                _el(d, "Mime", a.tipo_midia)
            if a.tamanho is not None:
                _el(d, "Tamanho", a.tamanho)
        tramites = _el(node, "Tramites")
        for t in p.tramitacoes:
            e = _el(tramites, "Encaminhamento")
            _el(e, "SetorDestino", t.destino)
            _el(e, "Texto", t.despacho)


def _text(node: Any, path: str, default: str | None = None) -> str | None:
    found = node.find("/".join(_q(p) for p in path.split("/")))
    if found is None or found.text is None:
        return default
    return str(found.text)


def _need(node: Any, path: str) -> str:
    value = _text(node, path)
    if value is None:
        raise InvalidRecordError(f"{path} ausente", field=path)
    return value


def _authenticated(envelope: Any) -> bool:
    token = envelope.find(f"{{{ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        return False
    user = token.findtext(f"{{{WSSE}}}Username")
    password = token.find(f"{{{WSSE}}}Password")
    if user != USER[0] or password is None or password.text is None:
        return False
    if password.get("Type") == DIGEST:
        nonce = token.findtext(f"{{{WSSE}}}Nonce") or ""
        created = token.findtext(f"{{{WSU}}}Created") or ""
        raw = base64.b64decode(nonce) + created.encode() + USER[1].encode()
        return password.text == base64.b64encode(hashlib.sha1(raw).digest()).decode()  # noqa: S324
    return password.text == USER[1]


def handle(ctx: Context, request: Request) -> Response:
    """The ATENDE SOAP 1.2 endpoints (``/atende/agenda`` and ``/atende/processos``)."""
    if request.method != "POST" or request.path not in ("/atende/agenda", "/atende/processos"):
        return Response("not found", status=404)
    if "application/soap+xml" not in request.headers.get("Content-Type", ""):
        return fault(400, "REQUISICAO_INVALIDA", "esperado SOAP 1.2 (application/soap+xml)")
    try:
        envelope = etree.fromstring(request.get_data(), _PARSER)
    except etree.XMLSyntaxError:
        return fault(400, "REQUISICAO_INVALIDA", "XML inválido")
    body = envelope.find(f"{{{ENV}}}Body")
    call_node = body[0] if body is not None and len(body) else None
    name = etree.QName(call_node).localname if call_node is not None else ""
    if name not in OPERATIONS:
        return fault(400, "REQUISICAO_INVALIDA", f"operação desconhecida {name!r}")

    def work(call: Call) -> Response:
        if not _authenticated(envelope):
            raise UnauthorizedError("WS-Security inválido", field="UsernameToken")
        return _work(call, name, call_node)

    return run(ctx, OPERATIONS[name], fault, work, declared=_declared)


def _new_protocol(node: Any) -> NewProtocol:
    opened = datetime.strptime(_need(node, "Abertura"), "%d/%m/%Y %H:%M")
    outcome = {v: k for k, v in OUTCOME.items()}
    acesso = _need(node, "Acesso")
    resultado = _need(node, "Resultado")
    if acesso not in ("P", "R") or resultado not in outcome:
        raise InvalidRecordError("Acesso ou Resultado desconhecido", field="Acesso")
    return NewProtocol(
        referencia_externa=_need(node, "Referencia"),
        id_agendamento=_text(node, "Agendamento"),
        codigo_assunto=_need(node, "Assunto"),
        requerentes=((_need(node, "Requerente/Nome"), _need(node, "Requerente/Documento")),),
        codigo_departamento=_need(node, "Setor"),
        matricula_servidor=_text(node, "Servidor"),
        data_abertura=opened.date(),
        hora_abertura=opened.strftime("%H:%M"),
        resumo=_need(node, "Resumo"),
        despacho=_text(node, "Despacho"),
        nivel_acesso="interno" if acesso == "R" else "publico",
        resultado_atendimento=outcome[resultado],
    )


def _ok(name: str) -> Response:
    return _envelope(lambda body: _el(_el(body, f"{name}Resultado"), "Ok", True))


def _work(call: Call, name: str, node: Any) -> Response:
    if name == "ConsultarAgendamentos":
        since = _text(node, "Filtro/AlteradoDesde")
        skip = int(_need(node, "Filtro/Deslocamento"))
        size = int(_need(node, "Filtro/Quantidade"))
        records, _ = service.list_changed(call, None, 10_000_000)
        if since:
            floor = datetime.fromisoformat(since)
            records = [r for r in records if r.data_atualizacao >= floor]
        chunk = records[skip : skip + size]

        def page(body: Any) -> None:
            out = _el(body, "ConsultarAgendamentosResultado")
            _el(out, "TotalRegistros", len(records))
            lista = _el(out, "Agendamentos")
            for r in chunk:
                _booking(lista, r)

        return _envelope(page)
    if name == "ObterAgendamento":
        record = service.get_booking(call, _need(node, "Codigo"))
        return _envelope(lambda body: _booking(_el(body, "ObterAgendamentoResultado"), record))
    if name == "AlterarSituacao":
        codes = {v: k for k, v in STATUS.items()}
        situacao = _need(node, "Situacao")
        if situacao not in codes:
            raise InvalidRecordError("Situacao desconhecida", field="Situacao")
        service.set_status(call, _need(node, "Codigo"), codes[situacao], _text(node, "Motivo"))
        return _ok(name)
    if name == "InformarSala":
        until = datetime.fromisoformat(_need(node, "Sala/Validade"))
        service.set_room(call, _need(node, "Codigo"), _need(node, "Sala/Endereco"), until)
        return _ok(name)
    if name == "AbrirProcesso":
        key = _need(node, "IdentificadorRequisicao")
        record, _ = service.create_protocol(call, key, _new_protocol(node.find(_q("Processo"))))
        return _envelope(lambda body: _summary(_el(body, "AbrirProcessoResultado"), record))
    if name == "LocalizarProcesso":
        found = service.find_protocol(call, _need(node, "Referencia"))

        def located(body: Any) -> None:
            out = _el(body, "LocalizarProcessoResultado")
            if found is not None:
                _summary(out, found)

        return _envelope(located)
    numero, ano = int(_need(node, "Numero")), int(_need(node, "Ano"))
    if name == "ConsultarProcesso":
        record = service.get_protocol(call, ano, numero)
        return _envelope(
            lambda body: _summary(_el(body, "ConsultarProcessoResultado"), record, full=True)
        )
    key = _need(node, "IdentificadorRequisicao")
    if name == "IncluirDocumento":
        size = _text(node, "Documento/Tamanho")
        service.attach(
            call,
            key,
            ano,
            numero,
            nome=_need(node, "Documento/Arquivo"),
            tipo=_need(node, "Documento/Tipo"),
            sha256=_need(node, "Documento/Hash"),
            tipo_midia=_text(node, "Documento/Mime"),
            tamanho=int(size) if size is not None else None,
        )
        return _ok(name)
    service.forward(
        call,
        key,
        ano,
        numero,
        destino=_need(node, "Encaminhamento/SetorDestino"),
        despacho=_need(node, "Encaminhamento/Texto"),
        matricula=None,
    )
    return _ok(name)


def serve(**kwargs: Any) -> ErpPeer:
    """A started ATENDE on loopback (``seed``: a sandbox seed name)."""
    return ErpPeer(handle, USER, **kwargs).start()


__all__ = ["WSDL", "serve"]
