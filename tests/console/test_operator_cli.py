"""``munivideo outbox list|show|requeue|done`` and ``munivideo quarantine list|readmit``: the
operator's console actions on the command line, against the sandbox ERP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from engine._toml import to_toml
from engine.conftest import SECRET_ENV, config_data

from munivideo.cli import main
from munivideo.models import Outcome, OutcomeForm
from munivideo.store import OutboxState

from .conftest import ConsoleEnv


def _cli(*args: str) -> tuple[int, Any]:
    result = CliRunner(env=SECRET_ENV).invoke(main, [*args, "--json"])
    try:
        return result.exit_code, json.loads(result.output)
    except ValueError:
        raise AssertionError(result.output) from None


def _config(env: ConsoleEnv, folder: Path, **overrides: Any) -> str:
    path = folder / f"gravatai-{len(list(folder.glob('*.toml')))}.toml"
    path.write_text(to_toml(config_data(env.sb, folder, **overrides)), encoding="utf-8")
    return str(path)


def _record(env: ConsoleEnv, *bookings: str) -> None:
    for booking in bookings:
        form = OutcomeForm(
            booking_id=booking, servant_registration="AF-0001", outcome=Outcome.ATTENDED
        )
        assert env.mv.record([], form).outbox_id is not None


def test_outbox_pages_requeue_done_and_show(console_env: ConsoleEnv, tmp_path: Path) -> None:
    config = _config(console_env, tmp_path)
    _record(console_env, "AG-000001", "AG-000005", "AG-000009")

    code, out = _cli("outbox", "list", "--config", config, "--limit", "2")
    assert code == 0
    first = out["tenants"][0]
    assert [i["booking_id"] for i in first["items"]] == ["AG-000001", "AG-000005"]
    assert "cpf" not in json.dumps(first).lower()
    code, out = _cli(
        "outbox", "list", "--config", config, "--limit", "2", "--after", str(first["next_after"])
    )
    rest = out["tenants"][0]
    assert [i["booking_id"] for i in rest["items"]] == ["AG-000009"]
    assert rest["next_after"] is None
    _, out = _cli("outbox", "list", "--config", config, "--older-than", "1h")
    assert out["tenants"][0]["items"] == []  # all three were created just now

    ids = [i["id"] for i in first["items"]] + [rest["items"][0]["id"]]
    code, out = _cli(
        "outbox",
        "requeue",
        "--config",
        config,
        "--id",
        str(ids[0]),
        "--reason",
        "ERP voltou",
        "--actor",
        "rui",
    )
    assert code == 0
    assert console_env.mv.audit_trail(ids[0])[-1].reason == "requeue: ERP voltou"

    console_env.sb.inject("criarProtocolo=fault:REQUISICAO_INVALIDA#1")
    console_env.mv.writeback()
    failed = console_env.mv.outbox(OutboxState.FAILED)
    assert len(failed) == 1
    code, out = _cli(
        "outbox",
        "done",
        "--config",
        config,
        "--id",
        str(failed[0].id),
        "--protocol",
        "77/2026",
        "--reason",
        "criado à mão",
    )
    assert code == 0
    assert out["tenants"][0]["protocol"] == "77/2026"
    code, out = _cli("outbox", "show", "--config", config, "--id", str(failed[0].id))
    detail = out["tenants"][0]
    assert detail["item"]["state"] == "delivered"
    assert detail["audit"][-1]["reason"] == "done elsewhere (protocol 77/2026): criado à mão"
    assert len(console_env.sb.protocols()) == 2  # the other two; the third was done by hand
    shown = CliRunner(env=SECRET_ENV).invoke(
        main, ["outbox", "show", "--config", config, "--id", str(failed[0].id)]
    )
    # delivered now: the error is history, not the row's current state
    assert "\n  an earlier attempt's error RejectedError: " in shown.output, shown.output
    assert "last error" not in shown.output
    code, _ = _cli(
        "outbox", "requeue", "--config", config, "--id", str(failed[0].id), "--reason", "x"
    )
    assert code == 1  # a delivered row cannot be requeued


def test_quarantine_readmit_takes_a_fixed_configuration(
    console_env: ConsoleEnv, tmp_path: Path
) -> None:
    doc = console_env.sb.booking("AG-000001")
    doc.update({"id": "AG-000099", "codigoServico": "ALVARA"})
    del doc["dataAtualizacao"]
    console_env.sb.add_booking(doc)
    config = _config(console_env, tmp_path)
    code, _ = _cli("sync", "--config", config)
    assert code == 1  # quarantined: ALVARA is not a configured service
    code, out = _cli("quarantine", "list", "--config", config)
    (entry,) = out["tenants"][0]["items"]
    assert entry["record_id"] == "AG-000099"
    assert entry["field"] == "service_code"

    code, out = _cli("quarantine", "readmit", "--config", config, "--id", str(entry["id"]))
    assert code == 1
    assert out["tenants"][0]["admitted"] is False
    # the line says why, not "see the quarantine entry's new reason"
    assert "still refused: service 'ALVARA' is not configured" in out["tenants"][0]["reason"]
    # with several tenants, the one that has the entry is found (canoas, first, has none)
    (tmp_path / "canoas").mkdir()
    canoas = _config(
        console_env, tmp_path / "canoas", tenant={"id": "canoas", "name": "Prefeitura de Canoas"}
    )
    args = ("quarantine", "readmit", "--config", canoas, "--config", config)
    code, out = _cli(*args, "--id", str(entry["id"]))
    assert code == 1, out
    assert [t["tenant_id"] for t in out["tenants"]] == ["gravatai"]
    assert out["tenants"][0]["record_id"] == "AG-000099"
    code, out = _cli(*args, "--id", "999")
    assert code == 1
    assert "no quarantined record 999 in tenants canoas, gravatai" in out["error"]["message"]

    services = config_data(console_env.sb, tmp_path)["services"]
    services.append(
        {
            "code": "ALVARA",
            "name": "Alvará",
            "erp_subject_code": "ALV",
            "department_code": "SMF-CAD",
        }
    )
    fixed = _config(console_env, tmp_path, services=services)
    code, out = _cli("quarantine", "readmit", "--config", fixed, "--id", str(entry["id"]))
    assert code == 0, out
    assert out["tenants"][0]["source"] == "erp"
    binding = console_env.mv.engine.store.get_binding("gravatai", "AG-000099")
    assert binding is not None and binding.room is not None
    code, out = _cli("quarantine", "list", "--config", fixed)
    assert code == 0 and out["tenants"][0]["items"] == []
    shown = CliRunner(env=SECRET_ENV).invoke(
        main, ["quarantine", "list", "--config", fixed, "--all"]
    )
    assert shown.exit_code == 0
    assert "gravatai: 0 quarantined, 1 resolved\n" in shown.output
    # each line leads with the id `quarantine readmit --id N` takes
    assert f"  #{entry['id']} booking AG-000099 [service_code] service 'ALVARA'" in shown.output
    assert " resolved 20" in shown.output  # --all says which entries are resolved, and when
    code, out = _cli("quarantine", "readmit", "--config", fixed, "--id", str(entry["id"]))
    assert code == 1  # already resolved
