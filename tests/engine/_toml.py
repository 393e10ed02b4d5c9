"""A tiny TOML writer for the test configurations (tables, arrays of tables, inline secrets)."""

from __future__ import annotations

import json
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):  # only { env = "NAME" } secrets are written inline
        return "{ " + ", ".join(f"{k} = {_scalar(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    raise TypeError(type(value))


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) and set(value) != {"env"}


def _table(prefix: str, data: dict[str, Any], lines: list[str]) -> None:
    for key, value in data.items():
        if not _is_table(value) and not (isinstance(value, list) and value and _is_table(value[0])):
            lines.append(f"{key} = {_scalar(value)}")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if _is_table(value):
            lines.append(f"\n[{name}]")
            _table(name, value, lines)
        elif isinstance(value, list) and value and _is_table(value[0]):
            for item in value:
                lines.append(f"\n[[{name}]]")
                _table(name, item, lines)


def to_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    _table("", data, lines)
    return "\n".join(lines) + "\n"
