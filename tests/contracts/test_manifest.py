from __future__ import annotations

import json
import shutil
from pathlib import Path

from munivideo.packs import contracts_root
from munivideo.packs_manifest import build_manifest, stale_entries, write_manifest


def test_manifest_matches_the_files() -> None:
    assert stale_entries() == [], "run: python -m munivideo.packs_manifest"


def test_manifest_lists_the_erp_packs() -> None:
    manifest = json.loads((contracts_root() / "manifest.json").read_text(encoding="utf-8"))
    packs = {(p["name"], p["version"]) for p in manifest["packs"]}
    assert {("erp-soap", "v1"), ("erp-rest", "v1")} <= packs
    soap = next(p for p in manifest["packs"] if p["name"] == "erp-soap")
    assert "erp.wsdl" in soap["files"]
    assert "xsd/erp.xsd" in soap["files"]


def test_a_changed_file_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "contracts"
    shutil.copytree(contracts_root() / "erp-rest", root / "erp-rest")
    write_manifest(root)
    assert stale_entries(root) == []
    (root / "erp-rest" / "v1" / "openapi.yaml").write_text("tampered", encoding="utf-8")
    (root / "erp-rest" / "v1" / "extra.txt").write_text("new", encoding="utf-8")
    problems = stale_entries(root)
    assert "sha256 mismatch: erp-rest/v1/openapi.yaml" in problems
    assert "not in manifest: erp-rest/v1/extra.txt" in problems
    assert build_manifest(root)["format"] == 1
