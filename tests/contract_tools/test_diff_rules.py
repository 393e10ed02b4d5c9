"""Every diff rule, in both directions, from the OLD/NEW fixture pairs; the real packs against
themselves; accepted exceptions; report formats and exit codes."""

from __future__ import annotations

import functools
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from defusedxml import ElementTree

from munivideo.cli import main
from munivideo.contract_tools import (
    RULES,
    ContractModel,
    diff_files,
    load_contract,
    pack_contract,
)
from munivideo.contract_tools.diff import diff_models

FIXTURES = Path(__file__).parents[1] / "fixtures" / "contracts"
CASES: dict[str, dict[str, str | None]] = json.loads((FIXTURES / "cases.json").read_text())


@functools.cache
def _load(path: Path) -> ContractModel:
    return load_contract(path)


def _rules(old: Path, new: Path) -> list[str]:
    # Each fixture is read once: both directions compare the same two models.
    return sorted({c.rule for c in diff_models(_load(old), _load(new))})


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_fires_old_to_new(case: str) -> None:
    spec = CASES[case]
    folder = FIXTURES / case
    assert _rules(folder / str(spec["old"]), folder / str(spec["new"])) == [spec["rule"]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_reverse_direction(case: str) -> None:
    spec = CASES[case]
    folder = FIXTURES / case
    expected = [spec["reverse"]] if spec["reverse"] else []
    assert _rules(folder / str(spec["new"]), folder / str(spec["old"])) == expected


def test_every_rule_has_a_fixture() -> None:
    covered = {c["rule"] for c in CASES.values()} | {c["reverse"] for c in CASES.values()}
    assert set(RULES) - covered == set()


@pytest.mark.parametrize("pack", ["erp-soap/v1", "erp-rest/v1", "erp-soap/v2", "erp-rest/v2"])
def test_real_pack_against_itself_has_no_changes(pack: str) -> None:
    model = load_contract(pack_contract(pack))
    assert len(model.operations) >= 9
    assert diff_models(model, model) == []
    result = CliRunner().invoke(
        main, ["contracts", "diff", str(pack_contract(pack)), str(pack_contract(pack))]
    )
    assert result.exit_code == 0, result.output
    assert "0 breaking" in result.output


def test_soap_pack_wsdl_and_its_schema_see_the_same_fields() -> None:
    wsdl = load_contract(pack_contract("erp-soap/v1"))
    xsd = load_contract(pack_contract("erp-soap/v1").parent / "xsd" / "erp.xsd")
    assert wsdl.operations["criarProtocolo"].request == xsd.operations["criarProtocolo"].request
    field = wsdl.operations["criarProtocolo"].request["protocolo/requerentes/requerente/cpfCnpj"]
    assert field.required and field.pattern == r"\d{11}|\d{14}"


def test_a_pack_folder_stands_for_its_contract_file(tmp_path: Path) -> None:
    v1, v2 = pack_contract("erp-rest/v1"), pack_contract("erp-rest/v2")
    folders = CliRunner().invoke(main, ["contracts", "diff", str(v1.parent), str(v2.parent)])
    files = CliRunner().invoke(main, ["contracts", "diff", str(v1), str(v2)])
    assert folders.exit_code == files.exit_code == 3, folders.output
    assert folders.output == files.output
    empty = CliRunner().invoke(main, ["contracts", "diff", str(tmp_path), str(v2)])
    assert empty.exit_code == 2
    assert "is a folder: pass its openapi.yaml or erp.wsdl" in empty.output


def test_mixed_flavors_are_a_usage_error() -> None:
    result = CliRunner().invoke(
        main,
        ["contracts", "diff", str(pack_contract("erp-soap/v1")), str(pack_contract("erp-rest/v1"))],
    )
    assert result.exit_code == 2
    assert "cannot compare" in result.output


def test_output_creates_its_missing_parent_folders(tmp_path: Path) -> None:
    breaking = FIXTURES / "rest" / "request-field-removed"
    out = tmp_path / "reports" / "ci" / "diff.xml"
    args = ["contracts", "diff", str(breaking / "old.yaml"), str(breaking / "new.yaml")]
    result = CliRunner().invoke(main, [*args, "--format", "junit", "--output", str(out)])
    assert result.exit_code == 3, result.output
    suite = ElementTree.fromstring(out.read_text()).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_breaking_change_exits_3_in_every_format(fmt: str, tmp_path: Path) -> None:
    folder = FIXTURES / "rest" / "response-enum-widened"
    breaking = FIXTURES / "rest" / "request-field-removed"
    out = tmp_path / f"report.{fmt}"
    args = ["contracts", "diff", str(breaking / "old.yaml"), str(breaking / "new.yaml")]
    result = CliRunner().invoke(main, [*args, "--format", fmt, "--output", str(out)])
    assert result.exit_code == 3, result.output
    text = out.read_text()
    if fmt == "json":
        doc = json.loads(text)
        assert doc["summary"]["breaking"] == 1
        assert doc["changes"][0]["rule"] == "request-field-removed"
        assert doc["changes"][0]["path"] == "POST /protocolos/request/despacho"
    elif fmt == "junit":
        suite = ElementTree.fromstring(text).find("testsuite")
        assert suite is not None and suite.get("failures") == "1"
        failure = suite.find("testcase/failure")
        assert failure is not None and failure.get("type") == "request-field-removed"
    else:
        assert "BREAKING request-field-removed" in " ".join(text.split())
    # A warning alone does not fail the build.
    warn = CliRunner().invoke(
        main, ["contracts", "diff", str(folder / "old.yaml"), str(folder / "new.yaml")]
    )
    assert warn.exit_code == 0, warn.output
    assert "WARNING" in warn.output


def _exceptions(folder: Path, expires: date, rule: str = "request-field-removed") -> None:
    doc = {
        "exceptions": [
            {
                "rule": rule,
                "path": "POST /protocolos/request/*",
                "reason": "despacho moved to the forwarding call (ticket 42)",
                "expires": expires.isoformat(),
            }
        ]
    }
    (folder / "contract-exceptions.yaml").write_text(yaml.safe_dump(doc))


def test_accepted_exception_next_to_the_new_contract(tmp_path: Path) -> None:
    source = FIXTURES / "rest" / "request-field-removed"
    shutil.copy(source / "old.yaml", tmp_path / "old.yaml")
    shutil.copy(source / "new.yaml", tmp_path / "new.yaml")
    _exceptions(tmp_path, date.today() + timedelta(days=30))
    args = ["contracts", "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    change = json.loads(result.output)["changes"][0]
    assert change["accepted_reason"].startswith("despacho moved")
    assert change["breaking"] is False


def test_expired_exception_no_longer_applies(tmp_path: Path) -> None:
    source = FIXTURES / "rest" / "request-field-removed"
    exceptions = tmp_path / "exc.yaml"
    _exceptions(tmp_path, date.today() - timedelta(days=1))
    (tmp_path / "contract-exceptions.yaml").rename(exceptions)
    args = ["contracts", "diff", str(source / "old.yaml"), str(source / "new.yaml")]
    result = CliRunner().invoke(main, [*args, "--exceptions", str(exceptions)])
    assert result.exit_code == 3
    assert "EXPIRED" in result.output


def test_exception_with_unknown_rule_is_a_usage_error(tmp_path: Path) -> None:
    source = FIXTURES / "rest" / "request-field-removed"
    _exceptions(tmp_path, date.today(), rule="no-such-rule")
    args = ["contracts", "diff", str(source / "old.yaml"), str(source / "new.yaml")]
    result = CliRunner().invoke(
        main, [*args, "--exceptions", str(tmp_path / "contract-exceptions.yaml")]
    )
    assert result.exit_code == 2
    assert "no-such-rule" in result.output


def test_missing_contract_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["contracts", "diff", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_a_field_moved_into_a_choice_may_be_absent(tmp_path: Path) -> None:
    schema = """<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:c"
           elementFormDefault="qualified">
  <xs:element name="obter"><xs:complexType><xs:sequence>
    <xs:element name="id" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="obterResposta"><xs:complexType><xs:sequence>
    {body}
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"""
    plain = '<xs:element name="cpf" type="xs:string"/>'
    choice = (
        '<xs:choice><xs:element name="cpf" type="xs:string"/>'
        '<xs:element name="cnpj" type="xs:string"/></xs:choice>'
    )
    (tmp_path / "old.xsd").write_text(schema.format(body=plain))
    (tmp_path / "new.xsd").write_text(schema.format(body=choice))
    changes = diff_files(tmp_path / "old.xsd", tmp_path / "new.xsd").changes
    assert {(c.rule, c.path) for c in changes} == {
        ("response-field-became-optional", "obter/response:output/cpf"),
        ("response-field-added", "obter/response:output/cnpj"),
    }


@pytest.mark.parametrize("name", ["erp-rest", "erp-soap"])
def test_v1_to_v2_widens_requests_compatibly_and_responses_breakingly(name: str) -> None:
    """v2 accepts the alphanumeric CNPJ and foreign phones: sending them is compatible (request
    widened: info), reading them is breaking for a client that checks answers against v1's
    patterns (response widened); nothing else changes. Back from v2 to v1 the request side
    narrows (breaking) and the response side narrows (info)."""
    v1, v2 = (_load(pack_contract(f"{name}/{v}")) for v in ("v1", "v2"))
    changes = diff_models(v1, v2)
    request = [c for c in changes if "/request/" in c.path]
    response = [c for c in changes if "/response:" in c.path]
    assert len(request) + len(response) == len(changes)
    assert [(c.rule, c.severity.value) for c in request] == [("request-pattern-widened", "info")]
    assert request[0].path.endswith(
        "requerentes[]/cpfCnpj" if name == "erp-rest" else "requerentes/requerente/cpfCnpj"
    )
    assert "also accepts" in request[0].message
    assert {(c.rule, c.severity.value, c.breaking) for c in response} == {
        ("response-pattern-widened", "breaking", True)
    }
    fields = {c.path.rsplit("/", 1)[-1] for c in response}
    assert fields == {"cpfCnpj", "telefone"}
    # every booking answer carries both widened fields, every protocol answer the CNPJ
    assert any(
        "obterAgendamento" in c.path or "agendamentos/{id}/response" in c.path
        for c in response
        if c.path.endswith("telefone")
    )
    back = diff_models(v2, v1)
    assert {(c.rule, c.severity.value) for c in back} == {
        ("request-pattern-narrowed", "breaking"),
        ("response-pattern-narrowed", "info"),
    }


def test_v1_to_v2_cli_exits_3_and_names_the_widening() -> None:
    old, new = (str(pack_contract(f"erp-rest/{v}")) for v in ("v1", "v2"))
    result = CliRunner().invoke(main, ["contracts", "diff", old, new])
    assert result.exit_code == 3, result.output
    assert "INFO     request-pattern-widened" in result.output
    assert "BREAKING response-pattern-widened" in result.output
    assert "may answer e.g. '00000000000A00'" in result.output
