"""What both stores do the same way with a table row's values, whatever their SQL dialect.

Each store passes its own timestamp decoding where one is needed (SQLite keeps times as text,
PostgreSQL as ``timestamptz``), as :meth:`munivideo.store.records.Binding.columns` takes each
store's encoding for writing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Eraser = Callable[[dict[str, Any]], dict[str, Any]]
"""A function that returns a JSON document (dict) without its personal data
(see :mod:`munivideo.retention`)."""


def erased_binding(
    booking_json: str, attendance_json: str | None, *, booking: Eraser, attendance: Eraser
) -> tuple[str, str | None] | None:
    """A binding's ``booking`` and ``attendance`` columns (JSON text) rewritten by the erasers,
    or None when they are already erased (nothing to write, nothing to count)."""
    erased = json.dumps(booking(json.loads(booking_json)), ensure_ascii=False)
    done = json.dumps(attendance(json.loads(attendance_json))) if attendance_json else None
    if erased == booking_json and done == attendance_json:
        return None
    return erased, done


def erased_entry(entry_json: str, *, entry: Eraser) -> str | None:
    """An outbox row's ``entry`` column (JSON text) rewritten by ``entry``, or None when it is
    already erased."""
    erased = json.dumps(entry(json.loads(entry_json)), ensure_ascii=False)
    return None if erased == entry_json else erased
