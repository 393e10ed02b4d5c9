"""``munivideo contracts validate|diff`` read Swagger 2.0, and recordings are validated against
the tenant's own contract (here SIGMUN's published Swagger), not only the reference packs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from munivideo.cli import main
from munivideo.contract_tools.sources import load_contract
from munivideo.sandbox import Sandbox

from . import sigmun

SWAGGER = Path(__file__).parent / "sigmun" / "swagger.yaml"


@pytest.fixture
def peer() -> Iterator[Sandbox]:
    started = sigmun.serve()
    yield started
    started.stop()


def _record(peer: Sandbox, path: str, tmp_path: Path) -> Path:
    """A real exchange with SIGMUN, stored the way the golden examples are."""
    headers = {"X-Chave-Api": peer.credentials[1]}
    answer = requests.get(peer.base_url + path, headers=headers, timeout=5)
    interaction: dict[str, Any] = {
        "request": {"method": "GET", "path": path, "headers": headers},
        "response": {
            "status": answer.status_code,
            "headers": {"Content-Type": answer.headers["Content-Type"]},
            "body": answer.json(),
        },
    }
    out = tmp_path / "gravacao.json"
    out.write_text(json.dumps(interaction, ensure_ascii=False), "utf-8")
    return out


def test_a_recording_is_valid_against_the_tenants_swagger(peer: Sandbox, tmp_path: Path) -> None:
    recording = _record(peer, "/api/agendamentos/AG-000001", tmp_path)
    result = CliRunner().invoke(
        main, ["contracts", "validate", "--contract", str(SWAGGER), str(recording)]
    )
    assert result.exit_code == 0, result.output
    assert "valid (obterAgendamento" in result.output


def test_a_drifted_recording_is_named_by_path(peer: Sandbox, tmp_path: Path) -> None:
    recording = _record(peer, "/api/agendamentos/AG-000001", tmp_path)
    doc = json.loads(recording.read_text("utf-8"))
    doc["response"]["body"]["agendamento"]["cidadao"]["cpf"] = "01234567890"  # bare: drift
    doc["response"]["body"]["agendamento"]["situacao"] = "CF"
    recording.write_text(json.dumps(doc), "utf-8")
    result = CliRunner().invoke(
        main, ["contracts", "validate", "--contract", str(SWAGGER), "--json", str(recording)]
    )
    assert result.exit_code == 1
    (report,) = json.loads(result.output)
    paths = {v["path"] for v in report["violations"]}
    assert "response/body/agendamento/cidadao/cpf" in paths or any("cpf" in p for p in paths)
    assert any("situacao" in p for p in paths)
    assert "01234567890" not in result.output  # redacted


def test_swagger_is_read_like_openapi() -> None:
    model = load_contract(SWAGGER)
    get = model.operations["GET /api/agendamentos/{codigo}"]
    assert get.parameters["path:codigo"].required
    assert "agendamento/cidadao/cpf" in get.responses["200"]
    patch = model.operations["PATCH /api/agendamentos/{codigo}"]
    assert "situacao" in patch.request


def test_diff_of_two_swagger_versions_finds_the_breaking_change(tmp_path: Path) -> None:
    newer = tmp_path / "swagger-3.2.yaml"
    newer.write_text(
        SWAGGER.read_text("utf-8").replace(
            "required: [codigo_agendamento, cidadao, situacao, ultima_alteracao]",
            "required: [codigo_agendamento, cidadao, situacao]",
        ),
        "utf-8",
    )
    result = CliRunner().invoke(main, ["contracts", "diff", str(SWAGGER), str(newer)])
    assert result.exit_code == 3, result.output
    assert "ultima_alteracao" in result.output
