"""The docs runner (docs/conftest.py) covers every page: none is left pending."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _runner() -> object:
    spec = importlib.util.spec_from_file_location("docs_runner", DOCS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_runs() -> None:
    pending: frozenset[str] = _runner().PENDING  # type: ignore[attr-defined]
    assert pending == frozenset(), f"pages whose blocks do not run: {sorted(pending)}"
