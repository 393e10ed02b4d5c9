"""v2 of the reference packs is v1 with two wider types and nothing else: CpfCnpj takes the
alphanumeric CNPJ (IN RFB 2.229/2024), Telefone takes E.164 numbers of any country. What v2's
new examples carry, v1 refuses at that field."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
from lxml import etree

from munivideo.contract_tools import PackValidator
from munivideo.packs import CPF_CNPJ_PATTERNS, ERP_PACK_VERSIONS, pack_dir

WIDENED = ("CpfCnpj", "Telefone")


@functools.cache
def _common(version: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(pack_dir("erp-soap", version) / "xsd" / "comum.xsd"))


@functools.cache
def _validator(ref: str) -> PackValidator:
    return PackValidator(ref)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["erp-rest", "erp-soap"])
def test_v2_keeps_every_v1_example_unchanged(name: str) -> None:
    """Every v1 golden example is in v2, byte for byte: v2 adds examples, changes none."""
    v1, v2 = _files(pack_dir(name, "v1")), _files(pack_dir(name, "v2"))
    examples = {k: v for k, v in v1.items() if k.startswith("examples/")}
    assert examples and all(v2.get(k) == v for k, v in examples.items())
    assert set(v1) <= set(v2)


def test_rest_v2_differs_from_v1_only_in_the_widened_schemas() -> None:
    def load(version: str) -> dict[str, Any]:
        path = pack_dir("erp-rest", version) / "openapi.yaml"
        loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return loaded

    v1, v2 = load("v1"), load("v2")
    assert (v1["info"]["version"], v2["info"]["version"]) == ("1.0.0", "2.0.0")
    a, b = copy.deepcopy(v1), copy.deepcopy(v2)
    for doc in (a, b):
        del doc["info"]
        for name in WIDENED:
            doc["components"]["schemas"][name].pop("pattern")
            doc["components"]["schemas"][name].pop("description", None)
    assert a == b
    for name in WIDENED:
        assert v1["components"]["schemas"][name] != v2["components"]["schemas"][name]


def _canonical_xml(path: Path) -> bytes:
    """The schema without comments, documentation, its version, and the widened patterns."""
    parser = etree.XMLParser(remove_comments=True, remove_blank_text=True, resolve_entities=False)
    root = etree.parse(str(path), parser).getroot()
    xs = "{http://www.w3.org/2001/XMLSchema}"
    for doc in root.iter(f"{xs}annotation"):
        doc.getparent().remove(doc)
    root.attrib.pop("version", None)
    for simple in root.iter(f"{xs}simpleType"):
        if simple.get("name") in WIDENED:
            for pattern in simple.iter(f"{xs}pattern"):
                pattern.set("value", "widened")
    return etree.tostring(root, method="c14n")


@pytest.mark.parametrize(
    "name", ["erp.wsdl", "xsd/erp.xsd", "xsd/comum.xsd", "xsd/agendamentos.xsd"]
)
def test_soap_v2_differs_from_v1_only_in_the_widened_types(name: str) -> None:
    v1, v2 = pack_dir("erp-soap", "v1") / name, pack_dir("erp-soap", "v2") / name
    assert _canonical_xml(v1) == _canonical_xml(v2)


def test_soap_v2_protocol_schema_is_v1s() -> None:
    name = "xsd/protocolos.xsd"
    assert _canonical_xml(pack_dir("erp-soap", "v1") / name) == _canonical_xml(
        pack_dir("erp-soap", "v2") / name
    )


@pytest.mark.parametrize(
    ("value", "v1", "v2"),
    [
        ("05278934123", True, True),  # CPF
        ("11222333000181", True, True),  # numeric CNPJ
        ("12ABC34501DE35", False, True),  # alphanumeric CNPJ (Nota Tecnica COCAD 49/2024)
        ("12abc34501de35", False, False),  # Receita issues upper case only
        ("12ABC34501DEAB", False, False),  # check digits stay numeric (IN RFB 2.229 art. 3-A)
        ("1234567890123", False, False),
    ],
)
def test_cpf_cnpj_type(value: str, v1: bool, v2: bool) -> None:
    for version, expected in (("v1", v1), ("v2", v2)):
        assert _common(version).types["CpfCnpj"].is_valid(value) is expected, (version, value)


@pytest.mark.parametrize(
    ("value", "v1", "v2"),
    [
        ("51987654321", True, True),
        ("+5551987654321", True, True),
        ("+351912345678", False, True),  # Portugal, E.164
        ("+12025550123", False, True),  # United States
        ("+4915123456789", False, True),  # Germany
        ("+0123456789", False, False),  # no country code starts with 0
        ("+1234567890123456", False, False),  # 16 digits: E.164 allows 15
        ("351912345678", False, False),  # foreign numbers need their +
    ],
)
def test_telefone_type(value: str, v1: bool, v2: bool) -> None:
    for version, expected in (("v1", v1), ("v2", v2)):
        assert _common(version).types["Telefone"].is_valid(value) is expected, (version, value)


@pytest.mark.parametrize(
    ("pack", "example", "field"),
    [
        (
            "erp-rest",
            "criarProtocolo.cnpj-alfanumerico.json",
            "/request/body/requerentes/0/cpfCnpj",
        ),
        (
            "erp-rest",
            "obterAgendamento.telefone-estrangeiro.json",
            "/response/body/cidadao/telefone",
        ),
        ("erp-soap", "criarProtocolo.request.cnpj-alfanumerico.xml", "cpfCnpj"),
        ("erp-soap", "obterAgendamento.response.telefone-estrangeiro.xml", "telefone"),
    ],
)
def test_what_v2_adds_v1_refuses_at_the_field(pack: str, example: str, field: str) -> None:
    path = pack_dir(pack, "v2") / "examples" / "valid" / example
    assert _validator(f"{pack}/v2").validate_file(path).ok
    report = _validator(f"{pack}/v1").validate_file(path)
    assert not report.ok
    text = json.dumps([str(v) for v in report.violations])
    assert field in text and "pattern" in text


@pytest.mark.parametrize("version", ERP_PACK_VERSIONS)
def test_the_write_check_uses_each_packs_own_pattern(version: str) -> None:
    """munivideo.packs.check_carried refuses what the pack refuses: its table is the pack's."""
    path = pack_dir("erp-rest", version) / "openapi.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert spec["components"]["schemas"]["CpfCnpj"]["pattern"] == CPF_CNPJ_PATTERNS[version]
