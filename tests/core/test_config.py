"""Tenant configuration: TOML validated by pydantic, secrets from the environment only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from munivideo.cli import main
from munivideo.config import load_config, parse_config
from munivideo.errors import ConfigurationError

CONFIG = """
[tenant]
id = "gravatai"
name = "Prefeitura de Gravataí"

[erp]
adapter = "rest"
[erp.settings]
base_url = "http://127.0.0.1:8765/api/v1"
client_id = "munivideo"
client_secret = { env = "GRAVATAI_ERP_SECRET" }

[video]
provider = "jitsi"

[[notifiers]]
name = "file"
[notifiers.settings]
path = "outbox"

[[services]]
code = "IPTU"
name = "IPTU - Imposto Predial e Territorial Urbano"
erp_subject_code = "101"
department_code = "FAZENDA"
"""


def test_loads_and_resolves_secrets_without_printing_them(tmp_path: Path) -> None:
    path = tmp_path / "gravatai.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path, env={"GRAVATAI_ERP_SECRET": "s3cr3t-value"})
    assert config.tenant.name == "Prefeitura de Gravataí"
    secret = config.erp.settings["client_secret"]
    assert secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(config)
    assert "s3cr3t-value" not in json.dumps(config.redacted(), default=str)
    assert config.service("IPTU") is not None and config.service("ISS") is None
    assert config.notifiers[0].settings == {"path": "outbox"}


def test_missing_environment_variable_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_config(path, env={})
    assert info.value.field == "erp.settings.client_secret"
    assert "GRAVATAI_ERP_SECRET" in str(info.value)


def test_literal_secrets_are_refused() -> None:
    data = {
        "tenant": {"id": "t", "name": "T"},
        "erp": {"adapter": "rest", "settings": {"password": "plain"}},
        "video": {"provider": "jitsi"},
    }
    with pytest.raises(ConfigurationError, match="must not be written") as info:
        parse_config(data, env={})
    assert info.value.field == "erp.settings.password"
    assert "plain" not in str(info.value)


def test_validation_errors_name_the_field() -> None:
    data = {
        "tenant": {"id": "t", "name": "T"},
        "erp": {"adapter": "rest"},
        "video": {"provider": "jitsi"},
        "services": [
            {"code": "IPTU", "name": "a", "erp_subject_code": "1", "department_code": "F"},
            {"code": "IPTU", "name": "b", "erp_subject_code": "2", "department_code": "F"},
        ],
        "writeback": {"max_attempts": 0},
    }
    with pytest.raises(ConfigurationError) as info:
        parse_config(data, env={})
    assert "services" in str(info.value) and "IPTU" in str(info.value)
    assert "writeback.max_attempts" in str(info.value)


def test_config_check_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.toml"
    good.write_text(CONFIG.replace('"rest"', '"nope"'), encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text("[tenant\n", encoding="utf-8")
    monkeypatch.setenv("GRAVATAI_ERP_SECRET", "s3cr3t-value")
    runner = CliRunner()
    result = runner.invoke(main, ["config", "check", str(good), str(broken), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert report[0]["error"]["field"] == "erp.adapter"
    assert "no ERP adapter named 'nope'" in report[0]["error"]["message"]
    assert "not valid TOML" in report[1]["error"]["message"]
    assert "s3cr3t-value" not in result.output


def test_parse_settings_names_the_key_and_lists_every_problem() -> None:
    from pydantic import BaseModel, SecretStr

    from munivideo.config import parse_settings
    from munivideo.models import Tenant

    class Settings(BaseModel):
        base_url: str
        secret: SecretStr
        timeout: float = 5.0

    tenant = Tenant(id="gravatai", name="Gravataí")
    ok = parse_settings(
        Settings,
        {"base_url": "http://x", "secret": SecretStr("s")},
        tenant=tenant,
        section="video.settings",
        adapter="demo",
    )
    assert ok.timeout == 5.0
    with pytest.raises(ConfigurationError) as info:
        parse_settings(
            Settings, {"timeout": "soon"}, tenant=tenant, section="video.settings", adapter="demo"
        )
    assert info.value.field == "video.settings.base_url"
    assert info.value.record_id == "gravatai"
    for key in ("base_url", "secret", "timeout"):
        assert key in info.value.message


LEASE_CONFIG = """
[tenant]
id = "gravatai"
name = "Prefeitura de Gravataí"

[erp]
adapter = "rest"
[erp.settings]
base_url = "http://127.0.0.1:9"
[erp.settings.timeouts]
total_seconds = 60

[video]
provider = "jitsi"
[video.settings]
base_url = "https://meet.example.gov.br"
use_jwt = false

[store]
url = "sqlite:///{db}"

[writeback]
lease_seconds = {lease}
"""


def test_config_check_refuses_the_lease_the_writeback_refuses(tmp_path: Path) -> None:
    from munivideo.api import Munivideo

    # one call may take 4 x 60 s, but retries stop after 30 s: 30 + 30 (a Retry-After) + 60
    short = tmp_path / "short.toml"
    short.write_text(LEASE_CONFIG.format(db=tmp_path / "s.db", lease=120), encoding="utf-8")
    with Munivideo.from_config(short) as mv, pytest.raises(ConfigurationError) as refused:
        mv.writeback()
    assert refused.value.field == "writeback.lease_seconds"

    result = CliRunner().invoke(main, ["config", "check", str(short), "--json"])
    assert result.exit_code == 2, result.output
    (report,) = json.loads(result.output)
    assert report["error"]["field"] == "writeback.lease_seconds"
    assert report["error"]["message"] == refused.value.message
    assert "at least 121" in report["error"]["message"]

    enough = tmp_path / "enough.toml"
    enough.write_text(LEASE_CONFIG.format(db=tmp_path / "e.db", lease=121), encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", str(enough)])
    assert result.exit_code == 0, result.output
    assert "enough.toml: ok (tenant gravatai" in result.output
