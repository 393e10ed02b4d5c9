"""Safe XML parsing for recorded envelopes and published contracts.

Everything that reaches lxml here was screened by defusedxml first: no DTD, no entity
declarations, no external references. The lxml parser itself runs with entity resolution and the
network off, so even a screening gap cannot make it fetch or expand anything.
"""

from __future__ import annotations

import defusedxml
import defusedxml.ElementTree
from lxml import etree

from munivideo.errors import ContractViolationError

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def parse_xml(data: bytes, *, source: str) -> etree._Element:
    """The root element of ``data``; raises :class:`ContractViolationError` naming ``source``."""
    try:
        defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden):
        raise ContractViolationError(
            "DTDs and entity declarations are not accepted", record_id=source
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise ContractViolationError(
            "external references are not accepted", record_id=source
        ) from None
    except defusedxml.ElementTree.ParseError as exc:
        raise ContractViolationError(f"not well-formed XML: {exc}", record_id=source) from None
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:  # defusedxml accepts a few things libxml2 refuses
        raise ContractViolationError(f"not well-formed XML: {exc}", record_id=source) from None


def local_name(tag: object) -> str:
    """``{ns}name`` -> ``name`` (comments and processing instructions give ``""``)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def element_path(element: etree._Element) -> str:
    """``/Envelope/Body/criarProtocolo/...``: local names from the document root down."""
    names: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        names.append(local_name(node.tag))
        node = node.getparent()
    return "/" + "/".join(reversed(names))
