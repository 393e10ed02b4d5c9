"""docs/configuration.md is the reference of tenant settings: every key of the transport
tables an ERP adapter reads (``[erp.settings.timeouts]``, ``[erp.settings.retry]``) is in its
table with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from munivideo.transport import RetryPolicy, Timeouts

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(?P<key>[\w.]+)` \| (?P<default>[^|]+?) \|", re.M)


def _shown(value: object) -> str:
    if isinstance(value, int) and value >= 2**20:
        return f"{value // 2**20} MiB"
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_every_erp_call_setting_is_in_the_reference_with_its_default() -> None:
    rows = {m.group("key"): m.group("default").strip() for m in ROW.finditer(PAGE.read_text())}
    tables: dict[str, type[BaseModel]] = {"timeouts": Timeouts, "retry": RetryPolicy}
    for table, model in tables.items():
        for name, field in model.model_fields.items():
            key = f"{table}.{name}"
            assert key in rows, f"docs/configuration.md has no row for `{key}`"
            assert rows[key] == _shown(field.default), (key, rows[key], field.default)
