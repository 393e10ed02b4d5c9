"""The core an ERP extension imports needs none of the extras (pyproject.toml's
``[project.optional-dependencies]``): it is checked by importing it with every extra's modules
made unimportable, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTRA_MODULES = (
    *("zeep", "lxml", "defusedxml", "xmlschema", "openapi_core", "werkzeug", "rich"),
    *("psycopg", "psycopg_pool", "sqlalchemy", "alembic", "procrastinate", "prometheus_client"),
    "matplotlib",
    *("starlette", "uvicorn", "multipart", "argon2", "itsdangerous"),  # console
)
CORE_MODULES = (
    "munivideo",
    "munivideo.models",
    "munivideo.values",
    "munivideo.config",
    "munivideo.engine",
    "munivideo.store",
    "munivideo.store.sqlite",
    "munivideo.transport.http",
    "munivideo.transport.idempotency",
    "munivideo.invitations",
    "munivideo.mapping",
    "munivideo.cli",
    "munivideo.operator_cli",  # outbox / quarantine commands work without the console extra
    "munivideo.console.cli",  # and `munivideo console` says which extra to install
)

BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
import importlib
for module in sys.argv[2].split(","):
    importlib.import_module(module)
print("ok")
"""


def test_core_imports_without_any_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(EXTRA_MODULES), ",".join(CORE_MODULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_core_dependencies_list_no_extra() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = " ".join(meta["dependencies"]).lower()
    for heavy in ("zeep", "lxml", "xmlschema", "openapi-core", "werkzeug", "rich"):
        assert heavy not in core, f"{heavy} belongs in an extra"
    assert len(meta["dependencies"]) <= 14
    extras = meta["optional-dependencies"]
    assert {"soap", "contracts", "sandbox", "cli", "all", "dev"} <= set(extras)
