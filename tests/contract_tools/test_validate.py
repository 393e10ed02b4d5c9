"""Recorded requests/responses against the real packs: golden examples, failing paths and rules,
safe XML, bare bodies with a sidecar, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from munivideo.cli import main
from munivideo.contract_tools import PackValidator
from munivideo.packs import pack_dir

SOAP = pack_dir("erp-soap", "v1") / "examples"
REST = pack_dir("erp-rest", "v1") / "examples"


@pytest.fixture(scope="module")
def soap() -> PackValidator:
    return PackValidator("erp-soap/v1")


@pytest.fixture(scope="module")
def rest() -> PackValidator:
    return PackValidator("erp-rest/v1")


@pytest.mark.parametrize("path", sorted((SOAP / "valid").glob("*.xml")), ids=lambda p: p.name)
def test_soap_golden_examples_are_valid(soap: PackValidator, path: Path) -> None:
    report = soap.validate_file(path)
    assert report.ok, [str(v) for v in report.violations]
    assert report.kind == ("request" if ".request" in path.name else "response")


@pytest.mark.parametrize("path", sorted((REST / "valid").glob("*.json")), ids=lambda p: p.name)
def test_rest_golden_examples_are_valid(rest: PackValidator, path: Path) -> None:
    report = rest.validate_file(path)
    assert report.ok, [str(v) for v in report.violations]
    assert report.operation == json.loads(path.read_text())["operationId"]


def _invalid(folder: Path, suffix: str) -> list[Path]:
    return sorted(p for p in (folder / "invalid").glob(f"*{suffix}") if ".expect" not in p.name)


@pytest.mark.parametrize("path", _invalid(SOAP, ".xml"), ids=lambda p: p.name)
def test_soap_invalid_examples_fail_at_the_expected_field(soap: PackValidator, path: Path) -> None:
    expect = json.loads(path.with_suffix(".expect.json").read_text())
    report = soap.validate_file(path)
    assert report.ok is expect["schema_valid"]
    if not expect["schema_valid"] and expect["campo"] not in (None, "body"):
        assert any(v.path.endswith("/" + expect["campo"]) for v in report.violations), [
            str(v) for v in report.violations
        ]


@pytest.mark.parametrize("path", _invalid(REST, ".json"), ids=lambda p: p.name)
def test_rest_invalid_examples_fail_at_the_expected_field(rest: PackValidator, path: Path) -> None:
    expect = json.loads(path.with_name(path.stem + ".expect.json").read_text())
    report = rest.validate_file(path)
    assert report.ok is expect["schema_valid"]
    if not expect["schema_valid"]:
        assert any(v.path.endswith("/" + expect["campo"]) for v in report.violations), [
            str(v) for v in report.violations
        ]


def test_message_names_path_and_rule_and_masks_the_cpf(soap: PackValidator) -> None:
    report = soap.validate_file(SOAP / "invalid" / "criarProtocolo.cpf-pontuado.xml")
    (violation,) = report.violations
    text = str(violation)
    assert text.startswith(
        "/Envelope/Body/criarProtocolo/protocolo/requerentes/requerente/cpfCnpj:"
    )
    assert "pattern" in text and violation.rule == "pattern"
    assert "052.789.341-23" not in text and "***.789.341-**" in text


def test_dtd_and_entities_are_refused(soap: PackValidator) -> None:
    for name in ("xxe.xml", "billion-laughs.xml"):
        (violation,) = soap.validate_file(SOAP / "invalid" / name).violations
        assert violation.rule == "xml-safety"


def test_operation_and_kind_are_checked_against_the_body(soap: PackValidator) -> None:
    path = SOAP / "valid" / "criarProtocolo.request.xml"
    assert soap.validate_file(path, operation="obterProtocolo").violations[0].rule == "operation"
    assert soap.validate_file(path, kind="response").violations[0].rule == "kind"


def test_iso_8859_1_response_is_decoded_from_its_declaration(soap: PackValidator) -> None:
    path = SOAP / "valid" / "obterAgendamento.response.iso-8859-1.xml"
    assert b"ISO-8859-1" in path.read_bytes()[:80].upper()
    assert soap.validate_file(path).ok


def test_bare_json_body_with_sidecar(tmp_path: Path) -> None:
    golden = json.loads((REST / "valid" / "criarProtocolo.json").read_text())
    body = tmp_path / "resposta.json"
    body.write_text(json.dumps(golden["response"]["body"]))
    meta = {"operationId": "criarProtocolo", "kind": "response", "status": 201}
    (tmp_path / "resposta.json.meta.json").write_text(json.dumps(meta))
    runner = CliRunner()
    ok = runner.invoke(main, ["contracts", "validate", str(body), "--pack", "erp-rest/v1"])
    assert ok.exit_code == 0, ok.output
    broken = dict(golden["response"]["body"])
    del broken["numero"]
    body.write_text(json.dumps(broken))
    bad = runner.invoke(main, ["contracts", "validate", str(body), "--pack", "erp-rest/v1"])
    assert bad.exit_code == 1
    assert "/response/body: 'numero' is a required property (rule: required)" in bad.output


def test_bare_body_without_operation_is_a_usage_error(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")
    result = CliRunner().invoke(
        main, ["contracts", "validate", str(body), "--pack", "erp-rest/v1", "--kind", "request"]
    )
    assert result.exit_code == 2
    assert "operation" in result.output


def test_cli_exit_codes_and_json_output() -> None:
    runner = CliRunner()
    valid = str(SOAP / "valid" / "criarProtocolo.request.xml")
    invalid = str(SOAP / "invalid" / "criarProtocolo.data-iso.xml")
    assert (
        runner.invoke(main, ["contracts", "validate", valid, "--pack", "erp-soap/v1"]).exit_code
        == 0
    )
    result = runner.invoke(
        main, ["contracts", "validate", valid, invalid, "--pack", "erp-soap/v1", "--json"]
    )
    assert result.exit_code == 1
    reports = json.loads(result.output)
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[1]["violations"][0]["path"].endswith("/protocolo/dataAbertura")
    unknown = runner.invoke(main, ["contracts", "validate", valid, "--pack", "erp-nada/v9"])
    assert unknown.exit_code == 2
    assert "no contract pack" in unknown.output


def test_bare_response_body_with_operation_and_status_on_the_command_line(tmp_path: Path) -> None:
    problem = {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "codigo": "NAO_ENCONTRADO",
    }
    body = tmp_path / "problem.json"
    body.write_text(json.dumps(problem))
    args = ["contracts", "validate", str(body), "--pack", "erp-rest/v1"]
    args += ["--operation", "obterAgendamento", "--kind", "response"]
    runner = CliRunner()
    assert runner.invoke(main, [*args, "--status", "404"]).exit_code == 0
    # The same body is not what a 200 answer promises (a booking).
    wrong = runner.invoke(main, [*args, "--status", "200"])
    assert wrong.exit_code == 1
    assert "'id' is a required property" in wrong.output
    # 418 is not declared for the operation at all.
    undeclared = runner.invoke(main, [*args, "--status", "418"])
    assert undeclared.exit_code == 1
    assert "status 418 is not declared" in undeclared.output
