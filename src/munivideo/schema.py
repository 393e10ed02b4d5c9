"""JSON Schema of the canonical models, generated from pydantic (never written by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from munivideo.models import CANONICAL_MODELS


def canonical_schemas() -> dict[str, dict[str, Any]]:
    """``{model name: JSON Schema}`` for every published canonical model."""
    return {m.__name__: m.model_json_schema(mode="validation") for m in CANONICAL_MODELS}


def render(schema: dict[str, Any]) -> str:
    """The schema file's text: JSON indented by 2, keys sorted, UTF-8 characters kept, one
    trailing newline. Deterministic, so :func:`drift` can compare files byte for byte."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_canonical(folder: Path) -> list[Path]:
    """Write one ``<Model>.schema.json`` per model into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in canonical_schemas().items():
        path = folder / f"{name}.schema.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def drift(folder: Path) -> list[str]:
    """Names of models whose file in ``folder`` is missing or differs from the models."""
    out = []
    for name, schema in canonical_schemas().items():
        path = folder / f"{name}.schema.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(schema):
            out.append(name)
    known = {f"{n}.schema.json" for n in canonical_schemas()}
    out.extend(sorted(p.name for p in folder.glob("*.schema.json") if p.name not in known))
    return out
