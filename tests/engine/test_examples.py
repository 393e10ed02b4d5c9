"""The tenant examples in ``examples/`` load and build real adapters (settings validated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from munivideo.config import load_config
from munivideo.engine import build_engine
from munivideo.store import SqliteStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {
    "GRAVATAI_ERP_SECRET": "x",
    "GRAVATAI_JITSI_SECRET": "jitsi-example-secret-0123456789-abcdef",
    "CANOAS_ERP_PASSWORD": "x",
    "CANOAS_BBB_SECRET": "bbb-example-secret-0123456789-abcdef",
    "MUNIVIDEO_DEMO_ERP_SECRET": "sandbox-secret",
    "MUNIVIDEO_DEMO_JITSI_SECRET": "demo-secret-0123456789-0123456789-abc",
}


@pytest.mark.parametrize("name", ["gravatai-rest.toml", "canoas-soap.toml", "demo.toml"])
def test_example_builds_its_adapters(name: str, tmp_path: Path) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    text = text.replace("{sandbox}", "http://127.0.0.1:9").replace("{out}", tmp_path.as_posix())
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    config = load_config(path, env=ENV)
    engine = build_engine(config, store=SqliteStore(":memory:"))
    try:
        assert engine.erp.name == config.erp.adapter
        assert engine.video.name == config.video.provider
        assert [n.name for n in engine.notifiers] == [n.name for n in config.notifiers]
    finally:
        engine.close()
        engine.store.close()
