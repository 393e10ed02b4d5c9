"""The contract manifest: every pack, its version, and the sha256 of each of its files.

``contracts/manifest.json`` lets CI (and integrators who vendor a pack) prove that the files
they hold are the files munivideo ships. Regenerate it after editing any pack::

    python -m munivideo.packs_manifest            # rewrite contracts/manifest.json
    python -m munivideo.packs_manifest --check    # exit 1 if it is stale
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from munivideo.packs import contracts_root

MANIFEST_NAME = "manifest.json"
FORMAT = 1
_VERSION_DIR = re.compile(r"^v\d+$")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    # Hidden files and caches are not part of a pack; sorting keeps the manifest diff-friendly.
    return {
        p.relative_to(folder).as_posix(): _sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith((".", "__")) for part in p.parts)
    }


def build_manifest(root: Path | None = None) -> dict[str, Any]:
    """The manifest for the packs under ``root`` (default: the installed contracts)."""
    root = root or contracts_root()
    packs: list[dict[str, Any]] = []
    for pack in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = sorted(v for v in pack.iterdir() if v.is_dir() and _VERSION_DIR.match(v.name))
        if versions:
            for version in versions:
                packs.append({"name": pack.name, "version": version.name, "files": _files(version)})
            loose = {
                k: v for k, v in _files(pack).items() if not _VERSION_DIR.match(k.split("/")[0])
            }
            if loose:
                packs.append({"name": pack.name, "version": None, "files": loose})
        else:
            files = _files(pack)
            if files:
                packs.append({"name": pack.name, "version": None, "files": files})
    return {"format": FORMAT, "packs": packs}


def render(manifest: dict[str, Any]) -> str:
    """The manifest file's text: JSON indented by 2, in :func:`build_manifest`'s order (packs
    and files sorted), one trailing newline."""
    return json.dumps(manifest, indent=2, sort_keys=False) + "\n"


def write_manifest(root: Path | None = None) -> Path:
    """Rewrite ``manifest.json`` under ``root``; returns its path."""
    root = root or contracts_root()
    target = root / MANIFEST_NAME
    target.write_text(render(build_manifest(root)), encoding="utf-8")
    return target


def stale_entries(root: Path | None = None) -> list[str]:
    """Human-readable differences between ``manifest.json`` and the files on disk (empty: ok)."""
    root = root or contracts_root()
    path = root / MANIFEST_NAME
    if not path.is_file():
        return [f"{path} is missing"]
    recorded = json.loads(path.read_text(encoding="utf-8"))
    expected = build_manifest(root)

    def flat(manifest: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for pack in manifest.get("packs", []):
            prefix = f"{pack['name']}/{pack['version']}" if pack["version"] else pack["name"]
            for name, digest in pack["files"].items():
                out[f"{prefix}/{name}"] = digest
        return out

    have, want = flat(recorded), flat(expected)
    problems = [f"not in manifest: {k}" for k in sorted(want.keys() - have.keys())]
    problems += [f"listed but missing: {k}" for k in sorted(have.keys() - want.keys())]
    problems += [
        f"sha256 mismatch: {k}" for k in sorted(want.keys() & have.keys()) if have[k] != want[k]
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m munivideo.packs_manifest [--check]``: rewrite the manifest and print its
    path (0), or with ``--check`` print each stale entry to stderr and return 1 (0 when it is
    up to date).

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        problems = stale_entries()
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    print(write_manifest())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
