"""The "writing an adapter" tutorial: its code runs, and the page shows exactly that code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "tutorial-adapter.md"
SECURITY = ROOT / "docs" / "security.md"
CODE = ROOT / "docs" / "tutorial"
MIRROR = re.compile(r"<!-- mirror: ([\w.]+):(\d+)-(\d+) -->\n```\w+\n(.*?)\n```", re.S)


def test_every_code_block_mirrors_the_tested_files() -> None:
    blocks = MIRROR.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    shown = set()
    for name, first, last, text in blocks + MIRROR.findall(SECURITY.read_text(encoding="utf-8")):
        lines = (CODE / name).read_text(encoding="utf-8").splitlines()
        assert int(last) <= len(lines), f"{name}:{first}-{last} runs past the end of the file"
        expected = "\n".join(lines[int(first) - 1 : int(last)])
        assert text == expected, f"docs/tutorial-adapter.md block {name}:{first}-{last} drifted"
        shown.add(name)
    assert shown == {"sms_gateway.py", "test_sms_gateway.py", "pyproject.toml", "consent_hook.py"}


def test_the_packaging_snippet_points_at_the_module() -> None:
    meta = tomllib.loads((CODE / "pyproject.toml").read_text(encoding="utf-8"))
    module = meta["project"]["entry-points"]["munivideo"]["sms-gateway"]
    assert (CODE / f"{module}.py").is_file()


@pytest.mark.slow
def test_the_tutorial_tests_pass() -> None:
    # Only munivideo's own pytest plugin: other installed plugins only add start-up time.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sms_gateway.py"],
        cwd=CODE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_the_consent_hook_vetoes_teleconsultations_without_consent() -> None:
    sys.path.insert(0, str(CODE))
    try:
        import consent_hook
    finally:
        sys.path.remove(str(CODE))
    from datetime import UTC, datetime, timedelta

    from munivideo.errors import VetoedError
    from munivideo.models import Booking, Tenant
    from munivideo.plugins import load_plugins

    plugins = load_plugins(entry_points=False, extra=[("consent", consent_hook)])
    tenant = Tenant(id="gravatai", name="Prefeitura de Gravataí")
    start = datetime(2031, 3, 4, 13, 0, tzinfo=UTC)
    booking = Booking.model_validate(
        {
            "id": "AG-000009",
            "tenant_id": "gravatai",
            "service_code": "SAUDE-CONSULTA",
            "citizen": {"name": "Maria Souza", "cpf": "05278934123"},
            "start": start,
            "end": start + timedelta(minutes=20),
            "updated_at": start - timedelta(days=2),
        }
    )
    with pytest.raises(VetoedError) as caught:
        plugins.booking_received(tenant, booking)
    assert caught.value.record_id == "AG-000009"
    assert caught.value.field == "consent_recorded"
    consented = booking.model_copy(update={"consent_recorded": True})
    assert plugins.booking_received(tenant, consented) == consented
    tax = booking.model_copy(update={"service_code": "IPTU"})
    assert plugins.booking_received(tenant, tax) == tax
