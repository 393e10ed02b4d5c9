"""zeep, hardened: each contract version parsed once per process, per-tenant services.

zeep re-parses the WSDL whenever a ``Client`` is built (seconds for big ERPs) and its caches
only cache downloads, so we parse each vendored WSDL once (cache keyed by its path) and give
every tenant a light client over the shared document with its own transport, auth and
``create_service(binding, address)``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.exceptions import ValidationError as ZeepValidationError
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from munivideo.errors import ContractViolationError
from munivideo.transport.classify import ErpFault, HttpStatusError, MalformedResponseError
from munivideo.transport.http import AuthSettings, Timeouts, auth_for, build_session
from munivideo.transport.retry import RetryPolicy, call_with_retry

T = TypeVar("T")
FAULT_NS = "http://munivideo.org/erp/v1"


def safe_settings() -> Settings:
    """zeep settings for untrusted peers: strict, no DTDs, entities or external references."""
    return Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )


class HardenedTransport(Transport):
    """A zeep transport that always has timeouts and reports non-SOAP HTTP errors as such.

    zeep turns a 503 HTML page or a 429 into an opaque ``TransportError`` and drops the
    ``Retry-After`` header; we raise :class:`HttpStatusError` first so the one table decides.
    A 500 goes through: it carries the SOAP Fault.
    """

    def __init__(self, session: requests.Session, timeouts: Timeouts) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            session=session, timeout=timeouts.connect_seconds, operation_timeout=timeouts.pair
        )

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        """Send one SOAP envelope (zeep calls it). 200, 500 (a SOAP 1.1 Fault, WS-I Basic
        Profile 1.1 R1126) and 400 with a ``soap+xml`` body (a SOAP 1.2 ``env:Sender`` fault,
        per the HTTP binding of SOAP 1.2 Part 2, section 7) go on to zeep, re-encoded to UTF-8
        if needed.

        :raises HttpStatusError: any other status, with its headers (``Retry-After``), for
            :mod:`munivideo.transport.classify` to decide retry or fail.
        :raises MalformedResponseError: the charset is unknown or the bytes do not decode.
        """
        response: requests.Response = super().post(address, message, headers)  # type: ignore[no-untyped-call]
        soap12_fault = response.status_code == 400 and "soap+xml" in response.headers.get(
            "Content-Type", ""
        )  # SOAP 1.2 answers a Sender fault with 400
        if response.status_code not in (200, 500) and not soap12_fault:
            raise HttpStatusError(response.status_code, headers=dict(response.headers))
        transcode_to_utf8(response)
        return response


_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*\bencoding\s*=", re.IGNORECASE)


def transcode_to_utf8(response: requests.Response) -> None:
    """Re-encode a SOAP answer to UTF-8 when its charset is only in the HTTP ``Content-Type``.

    XML parsers read the encoding from the XML declaration and assume UTF-8 without one, so an
    ISO-8859-1 answer (``Content-Type: text/xml; charset=ISO-8859-1``, no declaration: common
    with e-Cidade and other PHP ERPs) would be refused as malformed. RFC 7303 makes the HTTP
    charset authoritative; a document that declares its own encoding is left to the parser.
    Raises :class:`MalformedResponseError` for an unknown charset or bytes that do not decode.
    """
    content_type = response.headers.get("Content-Type", "")
    found = _CHARSET.search(content_type)
    if found is None or "multipart/" in content_type.lower():
        return
    charset = found.group(1).lower()
    body = response.content
    if charset in ("utf-8", "utf8") or _DECLARED_ENCODING.match(body):
        return
    try:
        text = body.decode(charset)
    except LookupError:
        raise MalformedResponseError(f"unknown charset {charset!r} in Content-Type") from None
    except UnicodeDecodeError as exc:
        raise MalformedResponseError(f"answer is not valid {charset}: {exc.reason}") from None
    response._content = text.lstrip("\ufeff").encode("utf-8")
    response.encoding = "utf-8"


@functools.lru_cache(maxsize=16)
def parsed_document(wsdl_path: str) -> Document:
    """The parsed WSDL at ``wsdl_path`` (a vendored file), once per process."""
    path = Path(wsdl_path)
    loader = Transport(timeout=5, operation_timeout=5)  # type: ignore[no-untyped-call]
    return Document(str(path), loader, settings=safe_settings())  # type: ignore[arg-type]


def tenant_client(
    wsdl_path: Path,
    timeouts: Timeouts,
    auth: AuthSettings,
    *,
    pool_size: int = 10,
) -> Client:
    """A client for one tenant over the shared parsed document (no re-parse)."""
    session = build_session(timeouts, pool_size=pool_size, auth=auth_for(auth, timeouts))
    wsse = None
    if auth.scheme == "wsse":
        assert auth.username is not None and auth.password is not None
        wsse = UsernameToken(  # type: ignore[no-untyped-call]
            auth.username, auth.password.get_secret_value(), use_digest=auth.wsse_digest
        )
    return Client(  # type: ignore[no-untyped-call]
        parsed_document(str(wsdl_path.resolve())),
        wsse=wsse,
        transport=HardenedTransport(session, timeouts),
        settings=safe_settings(),
    )


def create_service(client: Client, binding: str, address: str) -> ServiceProxy:
    """Bind ``binding`` (local name or ``{ns}name``) of the client's WSDL to ``address``."""
    if not binding.startswith("{"):
        known = [str(q) for q in client.wsdl.bindings]
        binding = next((q for q in known if q.endswith("}" + binding)), binding)
    service: ServiceProxy = client.create_service(binding, address)  # type: ignore[no-untyped-call]
    return service


def _text(node: Any, name: str) -> str | None:
    if node is None:
        return None
    found = node.find(f"{{{FAULT_NS}}}{name}")
    return found.text if found is not None else None


_SERVER_FAULT_CODES = frozenset({"Server", "Receiver"})  # SOAP 1.1 / SOAP 1.2

FaultReader = Callable[[Fault], "ErpFault | HttpStatusError"]
"""Reads a SOAP Fault into the error it stands for (see :func:`fault_from_zeep`)."""


def platform_fault(fault: Fault) -> HttpStatusError | None:
    """A ``soapenv:Server`` (SOAP 1.2 ``Receiver``) fault, when the reader found no ERP detail in
    it, is the platform failing (an ORA-00060 deadlock, an uncaught exception): the HTTP 500 it
    arrived with, classified as the REST path does (transient for reads, ambiguous for creates).
    None for any other fault code."""
    if str(fault.code or "").rpartition(":")[2].rpartition("}")[2] in _SERVER_FAULT_CODES:
        return HttpStatusError(500, message=str(fault.message or "SOAP Server fault"))
    return None


def fault_from_zeep(fault: Fault) -> ErpFault | HttpStatusError:
    """Read the contract's ``falha`` detail (codigo, campo, idRegistro) from a SOAP Fault.

    A ``soapenv:Server`` (SOAP 1.2 ``Receiver``) fault without that detail is the ERP's
    platform failing (an ORA-00060 deadlock, an uncaught exception), not the ERP declaring a
    fault: it is classified as the HTTP 500 it arrived with, as the REST path does (transient
    for reads, ambiguous for creates)."""
    detail = fault.detail
    falha = None
    if detail is not None:
        falha = detail if etree.QName(detail).localname == "falha" else None
        if falha is None:
            falha = detail.find(f"{{{FAULT_NS}}}falha")
    if falha is None and (platform := platform_fault(fault)) is not None:
        return platform
    code = _text(falha, "codigo") or "DESCONHECIDO"
    retry = _text(falha, "tentarNovamenteEmSegundos")
    return ErpFault(
        code,
        _text(falha, "mensagem") or str(fault.message or ""),
        field=_text(falha, "campo"),
        record_id=_text(falha, "idRegistro"),
        retry_after=float(retry) if retry else None,
    )


def call_soap(
    operation: Callable[..., Any],
    policy: RetryPolicy,
    *,
    name: str,
    safe: bool,
    record_id: str | None = None,
    sleep: Callable[[float], None] | None = None,
    read_fault: FaultReader = fault_from_zeep,
    **kwargs: Any,
) -> Any:
    """Call a zeep operation under the one retry policy; returns plain dicts/lists.
    ``read_fault`` reads a SOAP Fault's detail (default: the reference contract's ``falha``).

    :param safe: the operation may be repeated (a read, an idempotent update): an ambiguous
        failure is retried in-call; a create is never retried here.
    :raises munivideo.errors.ContractViolationError: the request or the answer does not
        match the WSDL's schema (zeep strict mode; field: the element's path).
    :raises munivideo.errors.AmbiguousError: the answer is not XML or is cut (on a ``safe``
        call a :class:`~munivideo.errors.ContractViolationError`, after the retries): the
        transport's ``MalformedResponseError`` never leaves this function.
    :raises munivideo.errors.MunivideoError: the SOAP Fault as ``read_fault`` maps it, or the
        transport failure as :mod:`munivideo.transport.classify` maps it, once retries are
        spent.
    """

    def attempt() -> Any:
        try:
            return serialize_object(operation(**kwargs), target_cls=dict)  # type: ignore[no-untyped-call]
        except Fault as fault:
            raise read_fault(fault) from None
        except ZeepValidationError as exc:
            # strict=True caught it before (request) or after (answer) the wire.
            raise ContractViolationError(
                f"{name}: message does not match the contract ({exc.message})",
                record_id=record_id,
                field=".".join(str(p) for p in exc.path) or None,
            ) from None
        except (XMLSyntaxError, TransportError, etree.XMLSyntaxError) as exc:
            raise MalformedResponseError(f"{name}: {type(exc).__name__}") from None

    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return call_with_retry(attempt, policy, operation=name, safe=safe, record_id=record_id, **extra)
