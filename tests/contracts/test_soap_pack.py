"""The SOAP pack loads offline, and every golden example validates (or fails) as declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from munivideo.packs import pack_dir

PACK = pack_dir("erp-soap", "v1")
VERSIONS = ("v1", "v2")
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
VALID = sorted(
    (v, p) for v in VERSIONS for p in (pack_dir("erp-soap", v) / "examples" / "valid").glob("*.xml")
)
INVALID = sorted(
    (v, p)
    for v in VERSIONS
    for p in (pack_dir("erp-soap", v) / "examples" / "invalid").glob("*.xml")
)
_SCHEMAS: dict[str, xmlschema.XMLSchema] = {}
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


def _schema(version: str) -> xmlschema.XMLSchema:
    if version not in _SCHEMAS:
        _SCHEMAS[version] = xmlschema.XMLSchema(
            str(pack_dir("erp-soap", version) / "xsd" / "erp.xsd")
        )
    return _SCHEMAS[version]


def _id(case: tuple[str, Path]) -> str:
    return f"{case[0]}/{case[1].name}"


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
@pytest.mark.parametrize("version", VERSIONS)
def test_wsdl_loads_in_zeep_without_network(version: str) -> None:
    from zeep import Client, Settings

    wsdl = pack_dir("erp-soap", version) / "erp.wsdl"
    client = Client(str(wsdl), settings=Settings(strict=True, forbid_dtd=True))
    for service_name, operations in OPERATIONS.items():
        service = client.wsdl.services[service_name]
        port = next(iter(service.ports.values()))
        assert set(port.binding._operations) == operations


@pytest.mark.parametrize("version", VERSIONS)
def test_every_operation_has_request_and_response_examples(version: str) -> None:
    names = {p.name for v, p in VALID if v == version}
    for operation in set().union(*OPERATIONS.values()):
        assert f"{operation}.request.xml" in names
        assert f"{operation}.response.xml" in names


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_valid_example_validates(case: tuple[str, Path]) -> None:
    version, path = case
    payload = _payload(path)
    errors = list(_schema(version).iter_errors(payload))
    assert not errors, f"{path.name}: {errors[0] if errors else ''}"


def test_iso_8859_1_example_is_really_latin1() -> None:
    raw = (PACK / "examples" / "valid" / "obterAgendamento.response.iso-8859-1.xml").read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='ISO-8859-1'?>")
    assert "Conceição".encode("latin-1") in raw


@pytest.mark.parametrize("case", INVALID, ids=_id)
def test_invalid_example_fails_as_declared(case: tuple[str, Path]) -> None:
    version, path = case
    schema = _schema(version)
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
