"""The integration guide's path, in-process: the guide's mapping blocks are the files the
acceptance suites run; ``config check`` names what is wrong (statically, and with ``--probe``
against the ERP); bookings from SIGMUN and protocols to ATENDE by configuration alone, with
``sync --reset-cursor`` / ``--since`` and an exactly-once write-back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from munivideo.api import Munivideo
from munivideo.cli import main
from munivideo.models import Outcome, OutcomeForm
from munivideo.sandbox import Sandbox

from . import atende_soap, sigmun

HERE = Path(__file__).parent
GUIDE = HERE.parents[1] / "docs" / "integrate-by-configuration.md"
BLOCK = re.compile(r"<!-- file: (?P<name>\S+) -->\n```toml\n(?P<text>.*?)\n```", re.S)


def _blocks() -> dict[str, str]:
    return {m["name"]: m["text"] for m in BLOCK.finditer(GUIDE.read_text("utf-8"))}


def test_the_guide_shows_the_files_the_acceptance_suites_run() -> None:
    blocks = _blocks()
    assert blocks["sigmun.toml"] == (HERE / "sigmun" / "mapping.toml").read_text("utf-8").strip()
    assert blocks["atende.toml"] == (HERE / "atende" / "mapping.toml").read_text("utf-8").strip()


@pytest.fixture
def peers() -> Iterator[tuple[Sandbox, Sandbox]]:
    rest, soap = sigmun.serve(), atende_soap.serve()
    yield rest, soap
    rest.stop()
    soap.stop()


@pytest.fixture
def tenant(tmp_path: Path, peers: tuple[Sandbox, Sandbox], monkeypatch: pytest.MonkeyPatch) -> Path:
    rest, soap = peers
    blocks = _blocks()
    for name in ("sigmun.toml", "atende.toml"):
        (tmp_path / name).write_text(blocks[name] + "\n", "utf-8")
    text = blocks["prefeitura.toml"]
    text = text.replace("http://127.0.0.1:8001", rest.base_url)
    text = text.replace("http://127.0.0.1:8002", soap.base_url)
    text = text.replace('"tests/erps/atende/atende.wsdl"', f'"{atende_soap.WSDL}"')
    text = text.replace('path = "outbox"', f'path = "{tmp_path / "outbox"}"')
    path = tmp_path / "prefeitura.toml"
    path.write_text(text, "utf-8")
    monkeypatch.setenv("SIGMUN_API_KEY", rest.credentials[1])
    monkeypatch.setenv("ATENDE_PASSWORD", soap.credentials[1])
    monkeypatch.setenv("JITSI_SECRET", "um-segredo-de-teste-longo-o-bastante-para-hs256")
    return path


def _check(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(main, ["config", "check", "--json", *args])
    return result.exit_code, json.loads(result.output)


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("[operations.get_booking]", "[operations.obter_agendamento]", "operations", "unknown"),
        ('"{reference}"', '"{booking_id}"', "operations", "placeholder booking_id"),
        ('format = "%d/%m/%Y %H:%M" }', 'format = "%d/%m" }', "records.room", "hour, minute"),
        ('style = "page"', 'style = "pages"', "paging.style", "page"),
        ('limit_param = "por_pagina"', "", "paging", "needs limit_param"),
        ('converter = "cpf"', 'converter = "cpf_formatado"', "records.booking", "converter"),
    ],
)
def test_static_problems_are_named_by_field(
    tenant: Path, old: str, new: str, field: str, words: str
) -> None:
    mapping = tenant.parent / "sigmun.toml"
    text = mapping.read_text("utf-8")
    assert old in text
    mapping.write_text(text.replace(old, new, 1), "utf-8")
    code, (report,) = _check(str(tenant))
    assert code == 2
    error = report["error"]
    assert isinstance(error, dict)
    assert str(error["field"]).startswith(field), error
    assert words in str(error["message"]), error


def test_a_soap_operation_the_wsdl_lacks_is_named(tenant: Path) -> None:
    mapping = tenant.parent / "atende.toml"
    mapping.write_text(
        mapping.read_text("utf-8").replace('"AbrirProcesso"', '"CriarProcesso"'), "utf-8"
    )
    code, (report,) = _check(str(tenant))
    assert code == 2
    error = report["error"]
    assert isinstance(error, dict)
    assert error["field"] == "operations.create_protocol.operation"
    assert "AbrirProcesso" in str(error["message"])


def test_the_probe_names_a_bad_record_by_field(
    tenant: Path, peers: tuple[Sandbox, Sandbox]
) -> None:
    rest, _ = peers
    bad = rest.booking("AG-000001") | {
        "id": "AG-RUIM",
        "cidadao": {"nome": "Fulano", "cpfCnpj": "12345678900"},
        "dataAtualizacao": "2020-01-01T08:00:00-03:00",
    }
    rest.add_booking(bad)
    code, (report,) = _check("--probe", str(tenant))
    assert code == 1
    (problem,) = report["problems"]  # type: ignore[misc]
    assert problem["step"] == "list_bookings"
    assert problem["record_id"] == "AG-RUIM" and problem["field"] == "cidadao.cpf"
    assert "12345678900" not in json.dumps(report)
    steps = report["steps"]
    assert isinstance(steps, list)
    assert "lookup of an unknown reference found nothing" in steps


def test_the_probe_masks_the_citizens_name_like_cpf_email_and_phone(
    tenant: Path, peers: tuple[Sandbox, Sandbox]
) -> None:
    rest, _ = peers
    code, (report,) = _check("--probe", str(tenant))
    assert code == 0, report
    steps = report["steps"]
    assert isinstance(steps, list)
    (read,) = [s for s in steps if str(s).startswith("booking ") and " read and mapped" in str(s)]
    name = rest.booking(str(read).split()[1])["cidadao"]["nome"]
    assert len(name.split()) > 1
    assert name not in json.dumps(report, ensure_ascii=False), "full name printed unmasked"
    first, *rest_of_name = name.split()
    masked = " ".join([first, *(f"{part[0]}." for part in rest_of_name)])
    assert f"  citizen.name = {masked}" in steps


def test_split_sources_sync_reset_since_and_write_back(
    tenant: Path, peers: tuple[Sandbox, Sandbox]
) -> None:
    rest, soap = peers
    runner = CliRunner()

    def sync(*extra: str) -> dict[str, int]:
        result = runner.invoke(main, ["sync", "--config", str(tenant), "--json", *extra])
        assert result.exit_code == 0, result.output
        (tenant_result,) = json.loads(result.output)["tenants"]
        return tenant_result  # type: ignore[no-any-return]

    first = sync()
    assert first["received"] == 30 and first["rooms_created"] > 0
    again = sync("--reset-cursor")
    assert again["received"] == 30 and again["rooms_created"] == 0
    assert again["invitations_sent"] == 0
    assert sync("--since", "2100-01-01")["received"] == 0
    assert sync("--since", "2000-01-01")["received"] == 30
    both = ["sync", "--config", str(tenant), "--reset-cursor", "--since", "2000-01-01"]
    assert runner.invoke(main, both).exit_code == 2

    with Munivideo.from_config(tenant) as mv:
        booking = next(b for b in rest.bookings() if b["situacao"] == "CF")
        form = OutcomeForm(
            booking_id=booking["id"],
            servant_registration=booking["servidor"]["matricula"],
            summary="Dúvidas respondidas.",
            outcome=Outcome.ATTENDED,
        )
        mv.record(form=form)
        delivered = mv.writeback()
    assert delivered.ok, delivered
    (protocol,) = soap.protocols()
    assert protocol["idAgendamento"] == booking["id"]
    assert protocol["resultadoAtendimento"] == "AT"
    assert rest.protocols() == []  # protocols go to ATENDE only
    assert rest.booking(booking["id"])["situacao"] == "AT"  # the status to SIGMUN
