"""The SOAP pack loads offline, and every golden example validates (or fails) as declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from munivideo.packs import pack_dir

PACK = pack_dir("erp-soap", "v1")
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
VALID = sorted((PACK / "examples" / "valid").glob("*.xml"))
INVALID = sorted((PACK / "examples" / "invalid").glob("*.xml"))
OPERATIONS = {
    "AgendamentosService": {
        "listarAlterados",
        "obterAgendamento",
        "atualizarSituacao",
        "registrarSala",
    },
    "ProtocolosService": {
        "criarProtocolo",
        "buscarPorReferenciaExterna",
        "obterProtocolo",
        "anexarDocumento",
        "tramitarProtocolo",
    },
}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(PACK / "xsd" / "erp.xsd"))


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _payload(path: Path) -> etree._Element:
    """The first child of soap:Body, or the fault detail's element for a fault."""
    root = etree.fromstring(path.read_bytes(), _safe_parser())
    body = root.find(f"{{{SOAP_NS}}}Body")
    assert body is not None, path.name
    child = body[0]
    if child.tag == f"{{{SOAP_NS}}}Fault":
        detail = child.find("detail")
        assert detail is not None
        return detail[0]
    return child


@pytest.mark.usefixtures("no_network")
def test_wsdl_loads_in_zeep_without_network() -> None:
    from zeep import Client, Settings

    client = Client(str(PACK / "erp.wsdl"), settings=Settings(strict=True, forbid_dtd=True))
    for service_name, operations in OPERATIONS.items():
        service = client.wsdl.services[service_name]
        port = next(iter(service.ports.values()))
        assert set(port.binding._operations) == operations


def test_every_operation_has_request_and_response_examples() -> None:
    names = {p.name for p in VALID}
    for operation in set().union(*OPERATIONS.values()):
        assert f"{operation}.request.xml" in names
        assert f"{operation}.response.xml" in names


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example_validates(path: Path, schema: xmlschema.XMLSchema) -> None:
    payload = _payload(path)
    errors = list(schema.iter_errors(payload))
    assert not errors, f"{path.name}: {errors[0] if errors else ''}"


def test_iso_8859_1_example_is_really_latin1() -> None:
    raw = (PACK / "examples" / "valid" / "obterAgendamento.response.iso-8859-1.xml").read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='ISO-8859-1'?>")
    assert "Conceição".encode("latin-1") in raw


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_fails_as_declared(path: Path, schema: xmlschema.XMLSchema) -> None:
    expect = json.loads(path.with_suffix(".expect.json").read_text(encoding="utf-8"))
    assert expect["codigo"] in {
        "REQUISICAO_INVALIDA",
        "XML_PROIBIDO",
        "NAO_ENCONTRADO",
    }
    raw = path.read_bytes()
    if expect["codigo"] == "XML_PROIBIDO":
        assert b"<!DOCTYPE" in raw
        return
    try:
        payload = _payload(path)
    except etree.XMLSyntaxError:
        assert not expect["schema_valid"]
        return
    errors = list(schema.iter_errors(payload))
    assert bool(errors) is not expect["schema_valid"], path.name
