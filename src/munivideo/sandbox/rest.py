"""The REST front end: OAuth tokens, bearer auth, OpenAPI validation both ways, RFC 9457 errors,
Idempotency-Key on creates."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from munivideo.errors import (
    ContractViolationError,
    InvalidRecordError,
    MunivideoError,
    NotFoundError,
    TransientError,
)
from munivideo.sandbox import service
from munivideo.sandbox.context import CLIENT_ID, CLIENT_SECRET, TOKEN_TTL_SECONDS, Call, Context
from munivideo.sandbox.errors import (
    IdempotencyKeyMissingError,
    LookupUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    contract_code,
)
from munivideo.sandbox.records import (
    booking_doc,
    new_protocol_from_doc,
    parse_rfc3339,
    protocol_doc,
)
from munivideo.sandbox.responses import DropConnection, after_commit, bad_gateway
from munivideo.sandbox.store import decode_cursor, encode_cursor

_ID = r"(?P<id>[^/]+)"
_PROT = r"(?P<ano>[^/]+)/(?P<numero>[^/]+)"
ROUTES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = (
    (re.compile(r"^/oauth/token$"), {"POST": "obterToken"}),
    (re.compile(r"^/api/v1/agendamentos$"), {"GET": "listarAlterados"}),
    (re.compile(rf"^/api/v1/agendamentos/{_ID}$"), {"GET": "obterAgendamento"}),
    (re.compile(rf"^/api/v1/agendamentos/{_ID}/situacao$"), {"PUT": "atualizarSituacao"}),
    (re.compile(rf"^/api/v1/agendamentos/{_ID}/sala$"), {"PUT": "registrarSala"}),
    (
        re.compile(r"^/api/v1/protocolos$"),
        {"POST": "criarProtocolo", "GET": "buscarPorReferenciaExterna"},
    ),
    (re.compile(rf"^/api/v1/protocolos/{_PROT}$"), {"GET": "obterProtocolo"}),
    (re.compile(rf"^/api/v1/protocolos/{_PROT}/anexos$"), {"POST": "anexarDocumento"}),
    (re.compile(rf"^/api/v1/protocolos/{_PROT}/tramitacoes$"), {"POST": "tramitarProtocolo"}),
)
QUERY_PARAMETERS: dict[str, frozenset[str]] = {
    "listarAlterados": frozenset({"cursor", "limite"}),
    "buscarPorReferenciaExterna": frozenset({"referenciaExterna"}),
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def is_rest_path(path: str) -> bool:
    """Whether the REST front end owns ``path``: anything under ``/api/`` and the OAuth token
    endpoint ``/oauth/token`` (unknown ones get a 404 problem there, not the app's plain 404)."""
    return path.startswith("/api/") or path == "/oauth/token"


def _json(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type=content_type,
    )


def problem(
    status: int,
    codigo: str,
    detail: str,
    *,
    campo: str | None = None,
    id_registro: str | None = None,
    instance: str | None = None,
) -> Response:
    """An RFC 9457 ``application/problem+json`` answer with the contract's extra members.

    :param status: the HTTP status; ``title`` is its reason phrase.
    :param codigo: the contract error code (``NAO_ENCONTRADO``, ``CHAVE_CONFLITANTE``, ...);
        ``type`` becomes ``https://munivideo.org/problemas/<codigo in kebab case>``.
    :param detail: the human-readable explanation.
    :param campo: the request field concerned (``campo``; ``null`` when none).
    :param id_registro: the record concerned (``idRegistro``; ``null`` when none).
    :param instance: the request path, when known.
    """
    slug = codigo.lower().replace("_", "-")
    body: dict[str, Any] = {
        "type": f"https://munivideo.org/problemas/{slug}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "codigo": codigo,
        "campo": campo,
        "idRegistro": id_registro,
    }
    if instance:
        body["instance"] = instance
    return _json(body, status, "application/problem+json")


def _from_error(error: MunivideoError, path: str) -> Response:
    codigo, status = contract_code(error)
    response = problem(
        status, codigo, error.message, campo=error.field, id_registro=error.record_id, instance=path
    )
    if isinstance(error, UnauthorizedError):
        response.headers["WWW-Authenticate"] = 'Bearer realm="munivideo-sandbox"'
    if isinstance(error, LookupUnavailableError):
        response.headers["Allow"] = "POST"  # /protocolos without its GET
    if isinstance(error, TransientError) and error.retry_after is not None:
        response.headers["Retry-After"] = str(int(error.retry_after))
    return response


def _schema_field(exc: BaseException) -> tuple[str | None, str]:
    """The field and reason of an openapi-core validation error."""
    cause: BaseException | None = exc
    while cause is not None:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            first = errors[0]
            parts = [str(p) for p in first.absolute_path]
            if first.validator == "required":
                m = re.match(r"'([^']+)' is a required property", first.message)
                if m:
                    parts.append(m.group(1))
            elif first.validator == "additionalProperties":
                m = re.search(r"\('([^']+)'", first.message)
                if m:
                    parts.append(m.group(1))
            name = getattr(exc, "name", None)
            if name and not parts:
                parts = [name]
            return "/".join(parts) or None, first.message
        cause = cause.__cause__ or cause.__context__
    try:
        reason = str(exc)
    except UnicodeDecodeError:  # openapi-core renders the raw body in its message
        reason = "the body is not UTF-8 JSON"
    return getattr(exc, "name", None), reason


def _validate_request(ctx: Context, request: Request) -> None:
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
    from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
    from openapi_core.validation.request.exceptions import (
        MissingParameterError,
        MissingRequestBodyError,
        SecurityValidationError,
    )

    errors = list(ctx.openapi.iter_request_errors(WerkzeugOpenAPIRequest(request)))
    if not errors:
        return
    exc = errors[0]
    chain = [exc, exc.__cause__, exc.__context__]
    if any(isinstance(e, MediaTypeNotFound) for e in chain):
        raise UnsupportedMediaTypeError("the body must be application/json", field="Content-Type")
    if isinstance(exc, MissingParameterError):
        if exc.name == "Idempotency-Key":
            raise IdempotencyKeyMissingError(
                "creates require an Idempotency-Key header", field="Idempotency-Key"
            )
        raise InvalidRecordError(f"missing parameter {exc.name}", field=exc.name)
    if isinstance(exc, MissingRequestBodyError):
        raise InvalidRecordError("a request body is required", field="body")
    if isinstance(exc, SecurityValidationError):
        raise UnauthorizedError("a bearer token is required", field="Authorization")
    field, reason = _schema_field(exc)
    raise InvalidRecordError(f"request does not match the contract: {reason}", field=field)


def _validate_response(ctx: Context, request: Request, response: Response) -> None:
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
    from openapi_core.contrib.werkzeug.responses import WerkzeugOpenAPIResponse

    errors = list(
        ctx.openapi.iter_response_errors(
            WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
        )
    )
    if errors:
        field, reason = _schema_field(errors[0])
        raise ContractViolationError(f"sandbox answer breaks the contract: {reason}", field=field)


def _token(ctx: Context, request: Request) -> Response:
    form = request.form
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            client_id = client_secret = None
    if form.get("grant_type") is None:
        return _json({"error": "invalid_request", "error_description": "grant_type missing"}, 400)
    if form.get("grant_type") != "client_credentials":
        return _json({"error": "unsupported_grant_type"}, 400)
    if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
        response = _json({"error": "invalid_client"}, 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="munivideo-sandbox"'
        return response
    token = secrets.token_urlsafe(24)
    ctx.store.issue_token(token, CLIENT_ID, timedelta(seconds=TOKEN_TTL_SECONDS))
    response = _json(
        {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL_SECONDS}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _authorised(ctx: Context, request: Request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token) and ctx.store.token_valid(token.strip())


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError as exc:  # pragma: no cover - the contract validated it
        raise InvalidRecordError("not an integer", field=field) from exc


def _dispatch(call: Call, op: str, request: Request, params: dict[str, str]) -> Response:
    body: Any = request.get_json(silent=True) if request.data else None
    key = request.headers.get("Idempotency-Key", "")

    def ag(record: Any) -> Response:
        return _json(booking_doc(record, soap=False))

    def pr(result: tuple[Any, bool]) -> Response:
        record, replay = result
        response = _json(protocol_doc(record, soap=False), 201)
        if replay:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def listar() -> Response:
        cursor = request.args.get("cursor")
        after = decode_cursor(cursor) if cursor else None
        limit = _int(request.args.get("limite", "100"), "limite")
        records, more = service.list_changed(call, after, limit)
        next_cursor = (
            encode_cursor(records[-1].data_atualizacao, records[-1].id) if records else cursor
        )
        return _json(
            {
                "itens": [booking_doc(r, soap=False) for r in records],
                "proximoCursor": next_cursor,
                "haMais": more,
            }
        )

    def criar() -> Response:
        result = service.create_protocol(call, key, new_protocol_from_doc(body, soap=False))
        response = pr(result)
        response.headers["Location"] = f"/api/v1/protocolos/{result[0].ano}/{result[0].numero}"
        return response

    def buscar() -> Response:
        found = service.find_protocol(call, request.args["referenciaExterna"])
        return _json({"itens": [protocol_doc(found, soap=False)] if found else []})

    def ano_numero() -> tuple[int, int]:
        return _int(params["ano"], "ano"), _int(params["numero"], "numero")

    handlers: dict[str, Callable[[], Response]] = {
        "listarAlterados": listar,
        "obterAgendamento": lambda: ag(service.get_booking(call, params["id"])),
        "atualizarSituacao": lambda: ag(
            service.set_status(call, params["id"], body["situacao"], body.get("observacao"))
        ),
        "registrarSala": lambda: ag(
            service.set_room(call, params["id"], body["url"], parse_rfc3339(body["validaAte"]))
        ),
        "criarProtocolo": criar,
        "buscarPorReferenciaExterna": buscar,
        "obterProtocolo": lambda: _json(
            protocol_doc(service.get_protocol(call, *ano_numero()), soap=False)
        ),
        "anexarDocumento": lambda: pr(
            service.attach(
                call,
                key,
                *ano_numero(),
                nome=body["nome"],
                tipo=body["tipo"],
                sha256=body["sha256"],
                tipo_midia=body.get("tipoMidia"),
                tamanho=body.get("tamanho"),
            )
        ),
        "tramitarProtocolo": lambda: pr(
            service.forward(
                call,
                key,
                *ano_numero(),
                destino=body["codigoDepartamentoDestino"],
                despacho=body["despacho"],
                matricula=body.get("matriculaServidor"),
            )
        ),
    }
    return handlers[op]()


def _route(path: str, method: str) -> tuple[str | None, dict[str, str], list[str]]:
    for pattern, methods in ROUTES:
        m = pattern.match(path)
        if m:
            return methods.get(method), m.groupdict(), sorted(methods)
    raise NotFoundError(f"no resource at {path}", field="path")


def handle(ctx: Context, request: Request) -> Response:
    """Answer one REST request as the ``erp-rest/v1`` contract (``openapi.yaml``) says.

    In order: route the path and method to an operationId (unknown path: 404 problem;
    wrong method: 405 with ``Allow``); draw the fault plan for that operation and apply
    ``latency``, then a failure that happens before any work (``drop``, ``error`` as a
    non-contract HTML 5xx, ``unavailable``/``ratelimit`` as 503/429 with ``Retry-After``,
    ``fault`` as a 500 problem); check the bearer token (``obterToken`` aside: OAuth 2.0
    client credentials, RFC 6749 section 4.4, in the form or HTTP Basic); refuse unknown query
    parameters; validate the request against the OpenAPI document; run the operation through
    :mod:`munivideo.sandbox.service` (creates honour ``Idempotency-Key`` per the behaviour, a
    replay answers ``Idempotent-Replayed: true``); validate the answer when
    ``ctx.validate_responses``; finally apply a fault that happens after the commit
    (``drop_after_commit``, ``error_after_commit``, ``malformed``).

    Typed errors become problems with their contract code and status
    (:func:`munivideo.sandbox.errors.contract_code`): 400 ``REQUISICAO_INVALIDA``/``CHAVE_AUSENTE``,
    401 ``NAO_AUTORIZADO`` (with ``WWW-Authenticate: Bearer``), 404 ``NAO_ENCONTRADO``,
    409 ``REFERENCIA_DUPLICADA``/``CHAVE_EM_ANDAMENTO`` (with ``Retry-After``)/
    ``TRANSICAO_INVALIDA``, 415, 422 ``CHAVE_CONFLITANTE``, 500 ``ERRO_INTERNO`` (an answer that
    broke the contract) or ``INDISPONIVEL`` (lookup unavailable).

    :param ctx: the sandbox's shared state.
    :param request: a request for which :func:`is_rest_path` holds.
    :raises DropConnection: a ``drop`` or ``drop_after_commit`` fault fired.
    """
    path = request.path
    try:
        operation, params, allowed = _route(path, request.method)
    except NotFoundError as exc:
        return _from_error(exc, path)
    if operation is None:
        response = problem(405, "REQUISICAO_INVALIDA", f"{request.method} is not allowed here")
        response.headers["Allow"] = ", ".join(allowed)
        return response

    call = ctx.call(operation)
    ctx.sleep(call.decision.delay)
    rule = call.decision.action
    if rule is not None:
        if rule.action == "drop":
            raise DropConnection
        if rule.action == "error":
            return bad_gateway(rule.status)
        if rule.action in ("unavailable", "ratelimit"):
            status = 503 if rule.action == "unavailable" else 429
            codigo = "INDISPONIVEL" if status == 503 else "LIMITE_EXCEDIDO"
            response = problem(status, codigo, "try again later", instance=path)
            response.headers["Retry-After"] = str(int(rule.seconds))
            return response
        if rule.action == "fault":
            return problem(500, rule.code, f"injected fault {rule.code}", instance=path)

    try:
        if operation == "obterToken":
            response = _token(ctx, request)
        else:
            if not _authorised(ctx, request):
                raise UnauthorizedError("a valid bearer token is required", field="Authorization")
            unknown = sorted(set(request.args) - QUERY_PARAMETERS.get(operation, frozenset()))
            if unknown:
                # Strict like a contract mock: a typo'd parameter must not be silently ignored.
                raise InvalidRecordError(
                    f"unknown query parameter {unknown[0]!r}", field=unknown[0]
                )
            _validate_request(ctx, request)
            response = _dispatch(call, operation, request, params)
        if ctx.validate_responses and operation != "obterToken":
            _validate_response(ctx, request, response)
    except MunivideoError as exc:
        response = _from_error(exc, path)
    return after_commit(rule, response)
