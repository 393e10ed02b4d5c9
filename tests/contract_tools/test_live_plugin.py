"""The pytest options for CI, end to end: a "live" ERP (the sandbox on loopback, described by a
``--munivideo-live-erp`` file), every HTTP interaction recorded, recordings validated against
the pack at session end, and the run failed on a contract violation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from munivideo.sandbox import Sandbox

INNER = """
import requests
from munivideo.testing.live import LiveErpSuite, build_live_adapter


class TestLiveErp(LiveErpSuite):
    page_size = 4


def test_read_only_smoke(munivideo_live_config):
    assert munivideo_live_config is not None
    adapter = build_live_adapter(munivideo_live_config)
    try:
        page = adapter.list_bookings(None, 5)
        assert page.bookings
        assert adapter.get_booking(page.bookings[0].id).id == page.bookings[0].id
        assert adapter.find_protocol("munivideo:ci:nothing-here") is None
    finally:
        adapter.close()
"""

OUT_OF_CONTRACT = """

def test_sends_an_out_of_contract_request(munivideo_live_config):
    base = munivideo_live_config.erp.settings["base_url"]
    requests.get(base + "/api/v1/agendamentos", params={"limite": 501}, timeout=5)
"""


# Only munivideo's own pytest plugin in the inner runs: other installed plugins cost seconds of
# start-up each time and are not what these tests are about.
_FAST = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
_PLUGIN = ("-p", "munivideo.testing")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(dialect="both", seed="tax-office") as sb:
        yield sb


def _config(tmp_path: Path, sandbox: Sandbox, adapter: str) -> Path:
    user, _ = sandbox.credentials
    if adapter == "rest":
        auth = (
            f'{{ scheme = "oauth2", client_id = "{user}", client_secret = {{ env = "ERP_SECRET" }},'
            f' token_url = "{sandbox.token_url}" }}'
        )
        pack = "erp-rest/v1"
    else:
        auth = f'{{ scheme = "wsse", username = "{user}", password = {{ env = "ERP_SECRET" }} }}'
        pack = "erp-soap/v1"
    path = tmp_path / f"{adapter}.toml"
    path.write_text(
        f'pack = "{pack}"\n\n[erp]\nadapter = "{adapter}"\n\n[erp.settings]\n'
        f'base_url = "{sandbox.base_url}"\nauth = {auth}\n'
    )
    return path


def _run(tmp_path: Path, sandbox: Sandbox, adapter: str, body: str) -> tuple[int, str, Path]:
    (tmp_path / "test_live_erp.py").write_text(body)
    records = tmp_path / "recordings"
    env = {**_FAST, "ERP_SECRET": sandbox.credentials[1]}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *_PLUGIN,
            "-q",
            "-p",
            "no:cacheprovider",
            "test_live_erp.py",
            f"--munivideo-live-erp={_config(tmp_path, sandbox, adapter)}",
            f"--munivideo-record-dir={records}",
            "--munivideo-validate-recordings",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, records


@pytest.mark.slow
def test_rest_recordings_are_valid_and_carry_no_credentials(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    code, out, records = _run(tmp_path, sandbox, "rest", INNER)
    assert code == 0, out
    assert "6 passed" in out  # the read-only live suite ran, nothing skipped
    assert "recordings validated, 0 with contract violations" in out
    files = sorted(records.glob("*.json"))
    names = [f.name for f in files if f.name != "violations.json"]
    assert any("oauth-token" in n for n in names)
    assert any("GET-api-v1-agendamentos" in n for n in names)
    secret = sandbox.credentials[1]
    for path in files:
        assert secret not in path.read_text()
    token = json.loads(next(f for f in files if "oauth-token" in f.name).read_text())
    assert token["request"]["form"]["grant_type"] == "client_credentials"
    listing = json.loads(next(f for f in files if f.name.endswith("agendamentos.json")).read_text())
    assert listing["request"]["headers"]["Authorization"] == "Bearer ***"
    assert listing["response"]["status"] == 200


@pytest.mark.slow
def test_soap_recordings_are_valid_and_the_password_is_blanked(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    code, out, records = _run(tmp_path, sandbox, "soap", INNER)
    assert code == 0, out
    assert "6 passed" in out
    assert len(list(records.glob("*-listarAlterados.request.xml"))) >= 3  # it paged
    requests_ = sorted(records.glob("*.request.xml"))
    assert any("listarAlterados" in p.name for p in requests_)
    assert len(list(records.glob("*.response.xml"))) == len(requests_)
    for path in requests_:
        text = path.read_text(encoding="utf-8")
        assert sandbox.credentials[1] not in text
        assert "Password" in text  # WS-Security header kept, its value blanked
        assert "***</" in text


@pytest.mark.slow
def test_a_contract_violation_fails_the_run(tmp_path: Path, sandbox: Sandbox) -> None:
    code, out, records = _run(tmp_path, sandbox, "rest", INNER + OUT_OF_CONTRACT)
    assert code == 1, out
    assert "7 passed" in out  # every test passed: the contract check failed the run
    assert "/request/query/limite: 501 is greater than the maximum of 500" in out
    (violation,) = json.loads((records / "violations.json").read_text())
    assert violation["operation"] == "listarAlterados"


def test_validate_needs_a_record_dir(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *_PLUGIN, "-q", "--munivideo-validate-recordings"],
        cwd=tmp_path,
        env=_FAST,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4  # pytest's usage error
    assert "needs --munivideo-record-dir" in done.stderr


def test_a_broken_live_config_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "cfg.toml").write_text('[erp]\nadapter = "rest"\n[erp.settings]\nsecret = "x"\n')
    (tmp_path / "test_cfg.py").write_text("def test_cfg(munivideo_live_config):\n    pass\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *_PLUGIN,
            "-q",
            f"--munivideo-live-erp={tmp_path / 'cfg.toml'}",
        ],
        cwd=tmp_path,
        env=_FAST,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "secrets must not be written in the file" in done.stdout + done.stderr
