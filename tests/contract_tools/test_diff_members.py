"""A field dropped from ``required`` inside a ``oneOf``/``anyOf``/``allOf`` member is reported, as
the same change under a plain ``$ref`` is (OpenAPI 3.1 documents written to files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from munivideo.cli import main
from munivideo.contract_tools import diff_files


def _document(kind: str, required: list[str]) -> dict[str, Any]:
    member = {
        "type": "object",
        "properties": {"cpf": {"type": "string"}, "nome": {"type": "string"}},
        "required": required,
    }
    other = {"type": "object", "properties": {"cnpj": {"type": "string"}}, "required": ["cnpj"]}
    schema: dict[str, Any] = (
        {"$ref": "#/components/schemas/Pessoa"} if kind == "$ref" else {kind: [member, other]}
    )
    body = {"type": "object", "properties": {"requerente": schema}, "required": ["requerente"]}
    content = {"application/json": {"schema": body}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/protocolos": {
                "post": {
                    "operationId": "criarProtocolo",
                    "requestBody": {"required": True, "content": content},
                    "responses": {"200": {"description": "ok", "content": content}},
                }
            }
        },
        "components": {"schemas": {"Pessoa": member}},
    }


def _pair(tmp_path: Path, kind: str, old: list[str], new: list[str]) -> tuple[Path, Path]:
    a, b = tmp_path / "old.json", tmp_path / "new.json"
    a.write_text(json.dumps(_document(kind, old)))
    b.write_text(json.dumps(_document(kind, new)))
    return a, b


@pytest.mark.parametrize("kind", ["$ref", "allOf", "oneOf", "anyOf"])
def test_dropped_from_required_in_a_member_is_reported(tmp_path: Path, kind: str) -> None:
    old, new = _pair(tmp_path, kind, ["cpf", "nome"], ["nome"])
    found = {(c.rule, c.path, c.breaking) for c in diff_files(old, new).changes}
    assert found == {
        ("request-field-became-optional", "POST /protocolos/request/requerente/cpf", False),
        ("response-field-became-optional", "POST /protocolos/response:200/requerente/cpf", True),
    }
    back = {(c.rule, c.breaking) for c in diff_files(new, old).changes}
    assert back == {
        ("request-field-became-required", True),
        ("response-field-became-required", False),
    }


def test_the_cli_reports_it_and_exits_3(tmp_path: Path) -> None:
    old, new = _pair(tmp_path, "oneOf", ["cpf", "nome"], ["nome"])
    result = CliRunner().invoke(main, ["contracts", "diff", str(old), str(new)])
    assert result.exit_code == 3, result.output
    assert "requerente/cpf" in result.output and "oneOf[0]" in result.output
