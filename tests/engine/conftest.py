from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from munivideo.config import TenantConfig, parse_config
from munivideo.engine import Engine, build_engine
from munivideo.plugins import Plugins, load_plugins
from munivideo.sandbox import Sandbox
from munivideo.sandbox.seeds import DEPARTMENTS, SERVICES

TENANT = "gravatai"
SECRET_ENV = {
    "MV_TEST_ERP_SECRET": "sandbox-secret",
    "MV_TEST_JITSI_SECRET": "jitsi-secret-for-tests-only-0123456789",
}


def config_data(sb: Sandbox, folder: Path, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tenant": {"id": TENANT, "name": "Prefeitura Municipal de Gravataí"},
        "erp": {
            "adapter": "rest",
            "settings": {
                "base_url": sb.base_url,
                "auth": {
                    "scheme": "oauth2",
                    "client_id": sb.credentials[0],
                    "client_secret": {"env": "MV_TEST_ERP_SECRET"},
                    "token_url": sb.token_url,
                },
                "timeouts": {"connect_seconds": 2, "read_seconds": 2, "total_seconds": 4},
                "retry": {
                    "max_attempts": 2,
                    "initial_backoff_seconds": 0.01,
                    "max_backoff_seconds": 0.05,
                    "max_retry_after_seconds": 1,
                },
            },
        },
        "video": {
            "provider": "jitsi",
            "settings": {
                "base_url": "https://meet.gravatai.example.gov.br",
                "app_id": "munivideo-tests",
                "app_secret": {"env": "MV_TEST_JITSI_SECRET"},
            },
        },
        "notifiers": [
            {
                "name": "file",
                "settings": {
                    "path": str(folder / "outbox"),
                    "sender": "atendimento@gravatai.example.gov.br",
                },
            }
        ],
        "store": {"url": f"sqlite:///{folder / 'munivideo.db'}"},
        "writeback": {
            "max_attempts": 8,
            "lease_seconds": 15,  # outlasts one ERP call: 2 tries x 4 s + 1 s wait
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            "settle_seconds": 0.5,
        },
        "services": [
            {
                "code": code,
                "name": name,
                "erp_subject_code": f"{code}-VIDEO",
                "department_code": dept,
            }
            for code, (name, dept) in SERVICES.items()
        ],
        "departments": [{"code": c, "name": n} for c, n in DEPARTMENTS.items()],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_config(sb: Sandbox, folder: Path, **overrides: Any) -> TenantConfig:
    return parse_config(config_data(sb, folder, **overrides), env=SECRET_ENV)


def plugins_for_tests(*extra: tuple[str, object]) -> Plugins:
    return load_plugins(extra=list(extra))


@pytest.fixture
def sb(munivideo_sandbox: Sandbox) -> Sandbox:
    return munivideo_sandbox


@pytest.fixture
def make_engine(tmp_path: Path, store_url: str) -> Callable[..., Engine]:
    """Builds engines on a fresh store: every engine test runs on SQLite and on PostgreSQL."""
    built: list[Engine] = []

    def factory(sandbox: Sandbox, *, plugins: Plugins | None = None, **overrides: Any) -> Engine:
        overrides.setdefault("store", {"url": store_url})
        engine = build_engine(
            make_config(sandbox, tmp_path, **overrides), plugins=plugins or plugins_for_tests()
        )
        built.append(engine)
        return engine

    yield factory
    for engine in built:
        engine.close()
        engine.store.close()


@pytest.fixture
def engine(sb: Sandbox, make_engine: Callable[..., Engine]) -> Engine:
    return make_engine(sb)
