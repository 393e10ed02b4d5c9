"""Safe XML in, contract XML out.

Requests are screened with defusedxml (no DTD, no entities, no external references) before
anything else looks at them, then parsed by lxml with entity resolution and network off.
"""

from __future__ import annotations

import re
from typing import Any

import defusedxml
import defusedxml.ElementTree
from lxml import etree

from munivideo.errors import InvalidRecordError
from munivideo.sandbox.errors import ForbiddenXmlError

ERP_NS = "http://munivideo.org/erp/v1"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>")
_CHARSET = re.compile(r"charset=\"?([A-Za-z0-9_-]+)")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def parse_envelope(body: bytes, content_type: str) -> etree._Element:
    """The SOAP envelope root; UTF-8 or ISO-8859-1 (declared in the prolog or the header)."""
    m = _CHARSET.search(content_type or "")
    if m and not _DECL.match(body):
        # No XML declaration: the HTTP charset decides (XML alone would assume UTF-8).
        try:
            body = body.decode(m.group(1)).encode("utf-8")
        except (LookupError, UnicodeDecodeError) as exc:
            raise InvalidRecordError(f"body is not valid {m.group(1)}", field="body") from exc
    try:
        defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden) as exc:
        raise ForbiddenXmlError("DTDs and entity declarations are not accepted") from exc
    except defusedxml.ExternalReferenceForbidden as exc:
        raise ForbiddenXmlError("external references are not accepted") from exc
    except defusedxml.ElementTree.ParseError as exc:
        raise InvalidRecordError(f"body is not well-formed XML: {exc}", field="body") from exc
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:  # pragma: no cover - defusedxml caught it first
        raise InvalidRecordError(f"body is not well-formed XML: {exc}", field="body") from exc
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise InvalidRecordError("not a SOAP 1.1 envelope", field="Envelope")
    return root


def body_payload(envelope: etree._Element) -> etree._Element:
    """The one element inside the SOAP Body: the operation's wrapper element (document/literal
    wrapped, WSDL 1.1), e.g. ``erp:criarProtocolo``.

    :param envelope: a root from :func:`parse_envelope`.
    :raises InvalidRecordError: (``field="Body"``) no Body, a Body with zero or several elements,
        or an element outside the contract namespace :data:`ERP_NS`.
    """
    body = envelope.find(f"{{{SOAP_NS}}}Body")
    if body is None or len(body) != 1:
        raise InvalidRecordError("the SOAP Body must hold exactly one element", field="Body")
    payload = body[0]
    if not isinstance(payload.tag, str) or not payload.tag.startswith(f"{{{ERP_NS}}}"):
        raise InvalidRecordError("the Body element is not in the contract namespace", field="Body")
    return payload


def username_token(envelope: etree._Element) -> tuple[str, str] | None:
    """(Username, Password) from a WS-Security UsernameToken header, if present."""
    token = envelope.find(f"{{{SOAP_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
    if token is None:
        return None
    user = token.findtext(f"{{{WSSE_NS}}}Username") or ""
    password = token.findtext(f"{{{WSSE_NS}}}Password") or ""
    return user, password


def _build(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _build(parent, name, item)
        return
    el = etree.SubElement(parent, f"{{{ERP_NS}}}{name}")
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                _build(el, key, item)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    else:
        el.text = str(value)


def payload_element(name: str, content: dict[str, Any]) -> etree._Element:
    """``{name: content}`` as an element of the contract namespace (dict order = XSD order)."""
    el = etree.Element(f"{{{ERP_NS}}}{name}", nsmap={"erp": ERP_NS})
    for key, value in content.items():
        if value is not None:
            _build(el, key, value)
    return el


def envelope_bytes(payload: etree._Element) -> bytes:
    """A SOAP 1.1 envelope (no Header) around ``payload``, as UTF-8 bytes with an XML
    declaration, ready to send as ``text/xml; charset=utf-8``.

    :param payload: the answer element (from :func:`payload_element`); it is moved into the
        new envelope.
    """
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS, "erp": ERP_NS})
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    body.append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault_bytes(
    *,
    client: bool,
    codigo: str,
    mensagem: str,
    campo: str | None = None,
    id_registro: str | None = None,
    retry_after: int | None = None,
) -> bytes:
    """A SOAP 1.1 Fault envelope (UTF-8) whose ``detail`` holds the contract's ``erp:falha``
    (``Falha`` in ``xsd/comum.xsd``).

    :param client: ``faultcode`` ``soapenv:Client`` (the request was wrong) if true, else
        ``soapenv:Server``.
    :param codigo: the contract error code (``NAO_ENCONTRADO``, ``INDISPONIVEL``, ...).
    :param mensagem: the message; also the ``faultstring``.
    :param campo: the request field concerned, if any.
    :param id_registro: the record concerned, if any.
    :param retry_after: ``tentarNovamenteEmSegundos``: whole seconds the client should wait.
    """
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS, "erp": ERP_NS})
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soapenv:Client" if client else "soapenv:Server"
    etree.SubElement(fault, "faultstring").text = mensagem
    detail = etree.SubElement(fault, "detail")
    detail.append(
        payload_element(
            "falha",
            {
                "codigo": codigo,
                "mensagem": mensagem,
                "campo": campo,
                "idRegistro": id_registro,
                "tentarNovamenteEmSegundos": retry_after,
            },
        )
    )
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
