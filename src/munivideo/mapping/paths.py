"""Dotted paths into nested dicts and lists (``"requerentes.0.nome"``), both ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Path = tuple[str | int, ...]
"""A split dotted path: strings are keys, numbers list indexes."""

_MISSING = object()


def split_path(path: str) -> Path:
    """``"a.0.b"`` -> ``("a", 0, "b")`` (numbers index lists); ``""`` -> ``()``."""
    if not path:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


def get_path(record: Any, path: Path) -> Any:
    """The value at ``path`` in nested dicts/lists, or ``_MISSING``."""
    current = record
    for key in path:
        # Exact-type checks first: ABC isinstance checks dominate the mapping cost otherwise.
        cls = current.__class__
        if key.__class__ is str:
            if cls is not dict and not isinstance(current, Mapping):
                return _MISSING
            current = current.get(key, _MISSING)
            if current is _MISSING:
                return _MISSING
        else:
            if cls is not list and not isinstance(current, list | tuple):
                return _MISSING
            if key >= len(current):  # type: ignore[operator]
                return _MISSING
            current = current[key]
    return current


def set_path(out: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path``, creating dicts and lists on the way."""
    if len(path) == 1 and path[0].__class__ is str:
        out[path[0]] = value
        return
    current: Any = out
    for i, key in enumerate(path):
        last = i == len(path) - 1
        nxt: Any = None if last else ([] if isinstance(path[i + 1], int) else {})
        if isinstance(key, int):
            while len(current) <= key:
                current.append(None)
            if last:
                current[key] = value
            elif current[key] is None:
                current[key] = nxt
            current = current[key]
        else:
            if last:
                current[key] = value
            else:
                current = current.setdefault(key, nxt)


def value_at(record: Any, path: str) -> Any:
    """The value at dotted ``path`` (``""``: the record itself), or None when absent."""
    found = get_path(record, split_path(path)) if path else record
    return None if found is _MISSING else found
