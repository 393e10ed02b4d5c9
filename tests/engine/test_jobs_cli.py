from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from munivideo.cli import main
from munivideo.sandbox import Sandbox

from . import _play
from ._toml import to_toml
from .conftest import SECRET_ENV, config_data


@pytest.fixture
def config_file(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    data = config_data(sb, tmp_path)
    path = tmp_path / "gravatai.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    assert tomllib.loads(path.read_text(encoding="utf-8"))["erp"]["settings"]["base_url"]
    return path


def _run(*args: str) -> tuple[Result, Any]:
    result = CliRunner(env=SECRET_ENV).invoke(main, list(args))
    try:
        payload = json.loads(result.output)
    except ValueError:
        payload = None
    return result, payload


def test_sync_status_record_writeback_round_trip(
    sb: Sandbox, config_file: Path, tmp_path: Path
) -> None:
    result, out = _run("sync", "--config", str(config_file), "--json")
    assert result.exit_code == 0, result.output
    assert out["ok"] is True
    assert out["tenants"][0]["bound"] == 30

    result, out = _run("status", "--config", str(config_file), "--json")
    assert result.exit_code == 0
    assert out["tenants"][0]["bindings"] == 30

    booking = sb.booking("AG-000001")
    from munivideo.api import Munivideo

    with Munivideo.from_config(config_file) as mv:
        canonical = mv.engine.erp.get_booking(booking["id"])
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps([e.model_dump(mode="json") for e in _play.attended(canonical)]), "utf-8"
    )
    form = tmp_path / "form.json"
    form.write_text(_play.form(canonical, documents=("a.pdf",)).model_dump_json(), encoding="utf-8")
    result, out = _run(
        "record",
        "--config",
        str(config_file),
        "--events",
        str(events),
        "--form",
        str(form),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert out["tenants"][0]["outcome"] == "attended"

    result, out = _run("status", "--config", str(config_file), "--json")
    assert result.exit_code == 1  # something is waiting in the outbox
    assert out["tenants"][0]["outbox"]["pending"] == 1

    result, out = _run("writeback", "--config", str(config_file), "--json")
    assert result.exit_code == 0, result.output
    assert out["tenants"][0]["delivered"] == 1
    assert [p["idAgendamento"] for p in sb.protocols()] == ["AG-000001"]

    result, out = _run("status", "--config", str(config_file), "--json")
    raw_cursor = out["tenants"][0]["cursor_id"]
    result, _ = _run("status", "--config", str(config_file))
    assert result.exit_code == 0
    assert "1 delivered" in result.output
    # the cursor in words: its time and what marks the position, never the ERP's base64 token
    assert "cursor: changes up to 20" in result.output and " UTC" in result.output
    assert raw_cursor and raw_cursor not in result.output


def _recorded(sb: Sandbox, config_file: Path, tmp_path: Path, booking_id: str) -> None:
    from munivideo.api import Munivideo

    result, _ = _run("sync", "--config", str(config_file), "--json")
    assert result.exit_code == 0, result.output
    with Munivideo.from_config(config_file) as mv:
        canonical = mv.engine.erp.get_booking(booking_id)
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps([e.model_dump(mode="json") for e in _play.attended(canonical)]), "utf-8"
    )
    result, _ = _run("record", "--config", str(config_file), "--events", str(events))
    assert result.exit_code == 0, result.output


def test_a_dead_letters_reason_shows_without_json(
    sb: Sandbox, config_file: Path, tmp_path: Path
) -> None:
    _recorded(sb, config_file, tmp_path, "AG-000001")
    sb.inject("criarProtocolo=fault:REQUISICAO_INVALIDA")  # the ERP refuses: no retry helps
    result, _ = _run("writeback", "--config", str(config_file))
    assert result.exit_code == 1
    assert "1 dead-lettered now" in result.output
    assert "  error: munivideo:gravatai:AG-000001: " in result.output
    assert sb.protocols() == []

    result, out = _run("status", "--config", str(config_file), "--json")
    (dead,) = out["tenants"][0]["dead_letters"]
    assert dead["booking_id"] == "AG-000001" and dead["error"]
    result, _ = _run("status", "--config", str(config_file))
    assert result.exit_code == 1
    assert dead["attempts"] == 1  # a refusal is not retried: "after 1 attempt", singular
    assert (
        f"  dead letter #{dead['id']} booking AG-000001 after 1 attempt: "
        f"{dead['error_type']}: {dead['error']}"
    ) in result.output


def test_cursor_in_words() -> None:
    from datetime import datetime, timedelta, timezone

    from munivideo.jobs_cli import describe_cursor
    from munivideo.mapping.paging import Position, encode

    at = datetime(2026, 11, 30, 9, 15, 2, tzinfo=timezone(timedelta(hours=-3)))
    assert describe_cursor(None, None) == "- (no sync yet)"
    assert describe_cursor(at, "") == "changes from 2026-11-30 12:15:02 UTC (--since)"
    assert describe_cursor(at, "AG-000030") == (
        "changes up to 2026-11-30 12:15:02 UTC, booking AG-000030"
    )
    token = "MjAyNi0xMS0zMFQxMjoxNTowMiswMDowMHxBRy0wMDAwMzA="
    assert describe_cursor(at, token) == (
        "changes up to 2026-11-30 12:15:02 UTC, ERP token MjAyNi0xMS0z... (opaque)"
    )
    mid_scan = encode(Position(since=(at, "AG-000001"), token=3, high=(at, "AG-000030")))
    assert mid_scan is not None
    assert describe_cursor(mid_scan.updated_at, mid_scan.id) == (
        "changes up to 2026-11-30 12:15:02 UTC, booking AG-000030, next page 3"
    )


def test_quarantine_lists_reasons_without_personal_data(sb: Sandbox, config_file: Path) -> None:
    doc = sb.booking("AG-000003")
    doc.update(id="AG-BAD", cidadao={**doc["cidadao"], "cpfCnpj": "12345678900"})
    sb.add_booking(doc)
    result, _ = _run("sync", "--config", str(config_file), "--json")
    assert result.exit_code == 1
    result, out = _run("quarantine", "list", "--config", str(config_file), "--json")
    assert result.exit_code == 1
    (item,) = out["tenants"][0]["items"]
    assert item["record_id"] == "AG-BAD"
    assert item["field"]
    assert "raw" not in item
    assert "12345678900" not in result.output
    result, out = _run("quarantine", "list", "--config", str(config_file), "--json", "--raw")
    assert "AG-BAD" in out["tenants"][0]["items"][0]["raw"]  # kept (as the adapter masked it)


def test_replay_needs_ids_or_all_and_bad_config_is_exit_2(
    config_file: Path, tmp_path: Path
) -> None:
    result, out = _run("replay", "--config", str(config_file), "--reason", "x", "--json")
    assert result.exit_code == 2
    assert out["error"]["field"] == "id"
    result, out = _run("replay", "--config", str(config_file), "--all", "--reason", "x", "--json")
    assert result.exit_code == 0
    assert out["tenants"][0]["replayed"] == []
    broken = tmp_path / "broken.toml"
    broken.write_text('[tenant]\nid = "x"\n', encoding="utf-8")
    result, out = _run("status", "--config", str(broken), "--json")
    assert result.exit_code == 2
    assert out["ok"] is False


def test_several_tenants_in_one_run(sb: Sandbox, tmp_path: Path) -> None:
    paths = []
    for tenant in ("gravatai", "canoas"):
        folder = tmp_path / tenant
        data: dict[str, Any] = config_data(sb, folder)
        data["tenant"] = {"id": tenant, "name": f"Prefeitura de {tenant.title()}"}
        path = tmp_path / f"{tenant}.toml"
        path.write_text(to_toml(data), encoding="utf-8")
        paths.append(path)
    result, out = _run("sync", "--config", str(paths[0]), "--config", str(paths[1]), "--json")
    assert result.exit_code == 0, result.output
    assert [t["tenant_id"] for t in out["tenants"]] == ["gravatai", "canoas"]
    assert all(t["bound"] == 30 for t in out["tenants"])


def test_requeue_all_makes_every_parked_row_due_now(
    sb: Sandbox, config_file: Path, tmp_path: Path
) -> None:
    from munivideo.api import Munivideo
    from munivideo.jobs_cli import requeue
    from munivideo.operator_cli import outbox
    from munivideo.store import OutboxState

    assert outbox.commands["requeue"] is requeue  # `outbox requeue` is this one command
    result, _ = _run("sync", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    for booking in ("AG-000001", "AG-000005"):
        form = tmp_path / f"{booking}.json"
        form.write_text(
            json.dumps(
                {"booking_id": booking, "servant_registration": "AF-0001", "outcome": "attended"}
            ),
            "utf-8",
        )
        result, _ = _run("record", "--config", str(config_file), "--form", str(form))
        assert result.exit_code == 0, result.output
    sb.inject("criarProtocolo=unavailable:600")  # 503, Retry-After: 10 minutes
    result, _ = _run("writeback", "--config", str(config_file))
    assert "0 delivered, 2 retrying" in result.output, result.output
    sb.inject("")
    result, _ = _run("writeback", "--config", str(config_file))
    assert "0 delivered" in result.output and "2 waiting" in result.output  # parked

    result, out = _run("requeue", "--config", str(config_file), "--reason", "x", "--json")
    assert result.exit_code == 2 and out["error"]["field"] == "id"
    result, out = _run(
        "requeue", "--config", str(config_file), "--all", "--reason", "ERP voltou", "--json"
    )
    assert result.exit_code == 0, result.output
    moved = out["tenants"][0]["replayed"]
    assert len(moved) == 2
    result, _ = _run("replay", "--config", str(config_file), "--all", "--reason", "x")
    assert result.output == "gravatai: nothing to replay\n"
    with Munivideo.from_config(config_file) as mv:
        rows = mv.outbox(OutboxState.PENDING)
        assert all(r.next_attempt_at <= mv.engine.now() for r in rows)
        assert [mv.audit_trail(i)[-1].reason for i in moved] == ["requeue: ERP voltou"] * 2
    result, _ = _run("writeback", "--config", str(config_file))
    assert "2 delivered" in result.output, result.output
    assert len(sb.protocols()) == 2  # counted at the ERP
    result, _ = _run("requeue", "--config", str(config_file), "--all", "--reason", "x")
    assert result.exit_code == 0  # nothing pending: nothing to do, not an error
    assert result.output == "gravatai: nothing to requeue\n"
