"""The canonical JSON Schema in contracts/canonical is generated from the models and in sync."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from munivideo.cli import main
from munivideo.packs import contracts_root
from munivideo.schema import canonical_schemas, drift, write_canonical


def test_committed_schemas_match_the_models() -> None:
    stale = drift(contracts_root() / "canonical")
    assert stale == [], f"run `munivideo schema` to regenerate: {stale}"


def test_drift_is_detected(tmp_path: Path) -> None:
    write_canonical(tmp_path)
    assert drift(tmp_path) == []
    (tmp_path / "Booking.schema.json").write_text("{}", encoding="utf-8")
    (tmp_path / "Old.schema.json").write_text("{}", encoding="utf-8")
    assert drift(tmp_path) == ["Booking", "Old.schema.json"]
    result = CliRunner().invoke(main, ["schema", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1


def test_schemas_are_valid_and_accept_a_real_booking() -> None:
    schemas = canonical_schemas()
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    booking = {
        "id": "AG-1",
        "tenant_id": "gravatai",
        "service_code": "IPTU",
        "citizen": {"name": "Ana", "cpf": "52998224725"},
        "start": "2026-12-01T13:00:00Z",
        "end": "2026-12-01T13:30:00Z",
        "updated_at": "2026-11-30T10:00:00Z",
    }
    Draft202012Validator(schemas["Booking"]).validate(booking)
    bad = dict(booking, citizen={"name": "Ana", "cpf": "529.982.247-25"})
    assert list(Draft202012Validator(schemas["Booking"]).iter_errors(bad))
    on_disk = json.loads((contracts_root() / "canonical" / "Booking.schema.json").read_text())
    assert on_disk == schemas["Booking"]
