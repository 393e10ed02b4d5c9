"""Kind 9 of issue 11 (LGPD): ``munivideo retention purge`` erases personal data from
bindings, delivered outbox rows and the quarantine once the period is over."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from munivideo.cli import main
from munivideo.engine import record, sync
from munivideo.models import OutcomeForm
from munivideo.retention import ERASED_NAME, purge

from .conftest import TENANT, ErpFactory
from .conftest import record as erp_record

CPF = "05278934123"


def _delivered(engine) -> int:  # type: ignore[no-untyped-def]
    booking = engine.store.get_binding(TENANT, "AG-000001").booking
    form = OutcomeForm(
        booking_id=booking.id,
        servant_registration=booking.servant.registration,
        summary=f"Atendido; CPF {CPF}.",
    )
    result = record(engine, [], form)
    now = engine.now()
    (item,) = engine.store.claim("w", limit=1, lease_seconds=30, now=now)
    engine.store.complete(item.id, "w", token=item.fencing_token, now=now)
    assert result.outbox_id == item.id
    return item.id


def test_purge_erases_personal_data_and_keeps_what_shows_the_work(
    hostile_erp: ErpFactory,
) -> None:
    engine, _ = hostile_erp([[erp_record(1), {"id": "AG-BAD", "cidadao": {"cpfCnpj": CPF}}]])
    sync(engine)
    item_id = _delivered(engine)
    store = engine.store
    later = engine.now() + timedelta(days=400)

    dry = purge(store, TENANT, now=later, days=365, dry_run=True)
    assert (dry.bindings, dry.outbox, dry.quarantine) == (1, 1, 1)
    assert store.get_binding(TENANT, "AG-000001").booking.citizen.name != ERASED_NAME

    done = purge(store, TENANT, now=later, days=365)
    assert (done.bindings, done.outbox, done.quarantine) == (1, 1, 1)
    binding = store.get_binding(TENANT, "AG-000001")
    assert binding.booking.citizen.name == ERASED_NAME
    assert binding.booking.citizen.email is None
    assert binding.room is not None  # what keeps rooms and invitations consistent stays
    item = store.get_item(item_id)
    assert item.entry.applicant.name == ERASED_NAME
    assert CPF not in item.entry.model_dump_json() and CPF not in item.entry.summary
    assert item.state.value == "delivered" and item.external_reference
    (bad,) = store.list_quarantine(TENANT)
    assert bad.record_id == "AG-BAD" and bad.raw == ""

    again = purge(store, TENANT, now=later, days=365)
    assert (again.bindings, again.outbox, again.quarantine) == (0, 0, 0)


def test_nothing_young_is_touched(hostile_erp: ErpFactory) -> None:
    engine, _ = hostile_erp([[erp_record(1)]])
    sync(engine)
    result = purge(engine.store, TENANT, now=engine.now(), days=1)
    assert (result.bindings, result.outbox, result.quarantine) == (0, 0, 0)


def test_the_command_reads_the_period_from_the_tenant_file(
    hostile_erp: ErpFactory, tmp_path: Path
) -> None:
    engine, _ = hostile_erp([[erp_record(1)]])
    sync(engine)
    url = engine.config.store.url
    config = tmp_path / "gravatai.toml"
    config.write_text(
        "[tenant]\nid = 'gravatai'\nname = 'Gravataí'\n"
        "[erp]\nadapter = 'rest'\n[erp.settings]\nbase_url = 'http://127.0.0.1:9'\n"
        "[video]\nprovider = 'jitsi'\n[video.settings]\nuse_jwt = false\n"
        "base_url = 'https://meet.example.gov.br'\n"
        f"[store]\nurl = '{url}'\n[retention]\npersonal_data_days = 30\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(
        main, ["retention", "purge", "--config", str(config), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["tenant_id"] == TENANT and row["dry_run"] is True and row["bindings"] == 0
    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text().replace("30", "0"), encoding="utf-8")
    result = runner.invoke(main, ["retention", "purge", "--config", str(broken)])
    assert result.exit_code == 2
