"""The SOAP front end: WSDL serving, envelope parsing, XSD validation both ways, faults."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from lxml import etree
from werkzeug.wrappers import Request, Response

from munivideo.errors import InvalidRecordError, MunivideoError, TransientError
from munivideo.packs import pack_dir
from munivideo.sandbox import service
from munivideo.sandbox.context import CLIENT_ID, CLIENT_SECRET, Call, Context
from munivideo.sandbox.errors import UnauthorizedError, contract_code
from munivideo.sandbox.records import (
    booking_doc,
    new_protocol_from_doc,
    parse_naive_local,
    protocol_doc,
)
from munivideo.sandbox.responses import DropConnection, after_commit, bad_gateway
from munivideo.sandbox.xml_io import (
    ERP_NS,
    body_payload,
    envelope_bytes,
    fault_bytes,
    parse_envelope,
    payload_element,
    username_token,
)

SERVICES: dict[str, frozenset[str]] = {
    "agendamentos": frozenset(
        {"listarAlterados", "obterAgendamento", "atualizarSituacao", "registrarSala"}
    ),
    "protocolos": frozenset(
        {
            "criarProtocolo",
            "buscarPorReferenciaExterna",
            "obterProtocolo",
            "anexarDocumento",
            "tramitarProtocolo",
        }
    ),
}
XML = "text/xml; charset=utf-8"
_XSD_NAME = re.compile(r"^[a-z]+\.xsd$")
_INDEX = re.compile(r"\[\d+\]")


def wsdl_bytes(base_url: str, version: str = "v1") -> bytes:
    """The pack's WSDL with the live addresses: endpoints and the schema import made absolute.

    :param base_url: the sandbox's announced base URL, no trailing ``/``.
    :param version: which ``erp-soap`` pack (``v1``, ``v2``).
    """
    text = (pack_dir("erp-soap", version) / "erp.wsdl").read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8765", base_url)
    text = text.replace(
        'schemaLocation="xsd/erp.xsd"', f'schemaLocation="{base_url}/soap/xsd/erp.xsd"'
    )
    return text.encode("utf-8")


def serve_static(request: Request, public_url: str, version: str = "v1") -> Response | None:
    """WSDL at ``/soap?wsdl`` (and ``/soap/erp.wsdl``); schemas at ``/soap/xsd/<name>.xsd``.

    The WSDL's addresses come from ``public_url`` (configuration: the bound address unless
    told otherwise), never from the request's ``Host`` header; the files are those of the
    ``erp-soap/<version>`` pack.
    """
    path = request.path.rstrip("/")
    base = public_url.rstrip("/")
    if request.method == "GET" and (
        path == "/soap/erp.wsdl" or ("wsdl" in request.args and path.startswith("/soap"))
    ):
        return Response(wsdl_bytes(base, version), content_type=XML)
    if request.method == "GET" and path.startswith("/soap/xsd/"):
        name = path.rsplit("/", 1)[-1]
        target = pack_dir("erp-soap", version) / "xsd" / name
        if _XSD_NAME.match(name) and target.is_file():
            return Response(target.read_bytes(), content_type=XML)
        return Response("not found", status=404, content_type="text/plain")
    return None


def _fault(error: MunivideoError, *, status: int = 500) -> Response:
    code, _ = contract_code(error)
    retry = None
    if isinstance(error, TransientError) and error.retry_after is not None:
        retry = int(error.retry_after)
    body = fault_bytes(
        client=code not in ("ERRO_INTERNO", "INDISPONIVEL"),
        codigo=code,
        mensagem=error.message,
        campo=error.field,
        id_registro=error.record_id,
        retry_after=retry,
    )
    response = Response(body, status=status, content_type=XML)
    if isinstance(error, UnauthorizedError):
        response.headers["WWW-Authenticate"] = 'Basic realm="munivideo-sandbox"'
    return response


def _authorised(request: Request, envelope: etree._Element) -> bool:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (CLIENT_ID, CLIENT_SECRET)
    token = username_token(envelope)
    return token == (CLIENT_ID, CLIENT_SECRET)


def _field_of(error: Any) -> str | None:
    """The contract field an xmlschema error is about, as a slash path below the operation."""
    path = re.sub(r"\{[^}]*\}", "", _INDEX.sub("", getattr(error, "path", None) or ""))
    parts = [re.sub(r"^\w+:", "", p) for p in path.split("/") if p][1:]
    expected = getattr(error, "expected", None)
    invalid = getattr(error, "invalid_tag", None)
    if expected:
        parts.append(str(expected[0].local_name))
    elif invalid:
        parts.append(re.sub(r"^\{[^}]*\}", "", str(invalid)))
    return "/".join(parts) or None


def _validate(ctx: Context, element: etree._Element, *, outgoing: bool) -> None:
    error = next(iter(ctx.xsd.iter_errors(element)), None)
    if error is None:
        return
    if outgoing:
        from munivideo.errors import ContractViolationError

        raise ContractViolationError(f"sandbox answer breaks the contract: {error.reason}")
    raise InvalidRecordError(
        f"request does not match the contract: {error.reason}", field=_field_of(error)
    )


def _dispatch(call: Call, operation: str, data: dict[str, Any]) -> dict[str, Any]:
    def ag(record: Any) -> dict[str, Any]:
        return {"agendamento": booking_doc(record, soap=True)}

    def pr(record: Any, replay: bool | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"protocolo": protocol_doc(record, soap=True)}
        if replay is not None:
            out["repeticao"] = replay
        return out

    handlers: dict[str, Callable[[], dict[str, Any]]] = {
        "listarAlterados": lambda: _listar(call, data),
        "obterAgendamento": lambda: ag(service.get_booking(call, data["id"])),
        "atualizarSituacao": lambda: ag(
            service.set_status(call, data["id"], data["situacao"], data.get("observacao"))
        ),
        "registrarSala": lambda: ag(
            service.set_room(
                call, data["id"], data["sala"]["url"], parse_naive_local(data["sala"]["validaAte"])
            )
        ),
        "criarProtocolo": lambda: pr(
            *service.create_protocol(
                call, data["chaveIdempotencia"], new_protocol_from_doc(data["protocolo"], soap=True)
            )
        ),
        "buscarPorReferenciaExterna": lambda: _buscar(call, data),
        "obterProtocolo": lambda: pr(service.get_protocol(call, data["ano"], data["numero"])),
        "anexarDocumento": lambda: pr(
            *service.attach(
                call,
                data["chaveIdempotencia"],
                data["ano"],
                data["numero"],
                nome=data["anexo"]["nome"],
                tipo=data["anexo"]["tipo"],
                sha256=data["anexo"]["sha256"],
                tipo_midia=data["anexo"].get("tipoMidia"),
                tamanho=data["anexo"].get("tamanho"),
            )
        ),
        "tramitarProtocolo": lambda: pr(
            *service.forward(
                call,
                data["chaveIdempotencia"],
                data["ano"],
                data["numero"],
                destino=data["codigoDepartamentoDestino"],
                despacho=data["despacho"],
                matricula=data.get("matriculaServidor"),
            )
        ),
    }
    return handlers[operation]()


def _listar(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    cursor = data.get("cursor")
    after = (parse_naive_local(cursor["dataAtualizacao"]), cursor["id"]) if cursor else None
    records, more = service.list_changed(call, after, int(data.get("limite") or 100))
    out: dict[str, Any] = {
        "agendamentos": {"agendamento": [booking_doc(r, soap=True) for r in records]}
    }
    if records:
        last = booking_doc(records[-1], soap=True)
        out["proximoCursor"] = {"dataAtualizacao": last["dataAtualizacao"], "id": last["id"]}
    elif cursor:
        out["proximoCursor"] = cursor
    out["haMais"] = more
    return out


def _buscar(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    found = service.find_protocol(call, data["referenciaExterna"])
    return {"protocolo": protocol_doc(found, soap=True)} if found else {}


def handle(ctx: Context, request: Request, service_name: str) -> Response:
    """Answer one SOAP 1.1 call to a service of the ``erp-soap/v1`` WSDL
    (document/literal wrapped; ``erp.wsdl`` with ``xsd/erp.xsd``).

    In order: only ``POST`` (anything else: 405); parse the envelope safely
    (:func:`munivideo.sandbox.xml_io.parse_envelope`: no DTD, entities or external references);
    authenticate by HTTP Basic or a WS-Security UsernameToken (``PasswordText``) with the
    sandbox credentials (401 and a ``NAO_AUTORIZADO`` fault otherwise); the Body's one element
    names the operation, which must belong to ``service_name``; draw the fault plan and apply
    ``latency``, then a failure before any work (``drop``; ``error`` as a non-contract HTML 5xx;
    ``unavailable``/``ratelimit`` as an ``INDISPONIVEL`` fault with HTTP 503/429 and
    ``Retry-After``; ``fault`` as a server fault with the rule's code); validate the payload
    against the XSD; run the operation through :mod:`munivideo.sandbox.service` (writes honour
    ``chaveIdempotencia`` per the behaviour, and their answer carries ``repeticao``); validate the
    answer when ``ctx.validate_responses``; finally apply a fault that happens after the commit.

    Typed errors become HTTP 500 SOAP faults whose ``detail/falha`` carries ``codigo``,
    ``mensagem``, ``campo``, ``idRegistro`` and, for transient ones, ``tentarNovamenteEmSegundos``
    (``faultcode`` ``soapenv:Server`` for ``ERRO_INTERNO``/``INDISPONIVEL``, ``soapenv:Client``
    otherwise).

    :param ctx: the sandbox's shared state.
    :param request: the HTTP request to ``/soap/<service_name>``.
    :param service_name: ``agendamentos`` or ``protocolos`` (keys of :data:`SERVICES`).
    :raises DropConnection: a ``drop`` or ``drop_after_commit`` fault fired.
    """
    if request.method != "POST":
        return Response("use POST (or GET ?wsdl)", status=405, headers={"Allow": "GET, POST"})
    try:
        envelope = parse_envelope(request.get_data(), request.headers.get("Content-Type", ""))
        if not _authorised(request, envelope):
            raise UnauthorizedError("HTTP Basic or a WS-Security UsernameToken is required")
        payload = body_payload(envelope)
        operation = etree.QName(payload).localname
        if operation not in SERVICES[service_name]:
            raise InvalidRecordError(
                f"{operation} is not an operation of the {service_name} service", field="Body"
            )
    except UnauthorizedError as exc:
        return _fault(exc, status=401)
    except MunivideoError as exc:
        return _fault(exc)

    call = ctx.call(operation)
    ctx.sleep(call.decision.delay)
    rule = call.decision.action
    if rule is not None:
        if rule.action == "drop":
            raise DropConnection
        if rule.action == "error":
            return bad_gateway(rule.status)
        if rule.action in ("unavailable", "ratelimit"):
            retry = int(rule.seconds)
            busy = TransientError("the ERP is busy; try again later", retry_after=retry)
            response = _fault(busy, status=503 if rule.action == "unavailable" else 429)
            response.headers["Retry-After"] = str(retry)
            return response
        if rule.action == "fault":
            return Response(
                fault_bytes(client=False, codigo=rule.code, mensagem=f"injected fault {rule.code}"),
                status=500,
                content_type=XML,
            )
    try:
        _validate(ctx, payload, outgoing=False)
        data = ctx.xsd.decode(payload, strip_namespaces=True)
        answer = payload_element(f"{operation}Resposta", _dispatch(call, operation, data))
        if ctx.validate_responses:
            _validate(ctx, answer, outgoing=True)
    except MunivideoError as exc:
        return _fault(exc)
    return after_commit(rule, Response(envelope_bytes(answer), content_type=XML))


__all__ = ["ERP_NS", "SERVICES", "handle", "serve_static", "wsdl_bytes"]
