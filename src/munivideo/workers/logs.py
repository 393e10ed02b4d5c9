"""JSON-lines logs for ``munivideo worker --log-json``: one object per line with the structured
fields operators filter on (``tenant``, ``booking``, ``outbox_id``, ``step``, ``worker``), every
message and field redacted (:func:`munivideo.redact.redact`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from munivideo.redact import RedactingFilter, redact

FIELDS = ("tenant", "booking", "outbox_id", "step", "worker", "attempt", "state")
"""The structured fields a log call may pass in ``extra=``; they become top-level keys."""


class JsonLinesFormatter(logging.Formatter):
    """A record as one JSON object: ``ts`` (UTC ISO 8601), ``level``, ``logger``, ``message``,
    the :data:`FIELDS` that are set, and ``error`` (type and redacted text) with an exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = {"type": type(exc).__name__, "message": redact(str(exc))}
        return json.dumps(out, ensure_ascii=False)


def configure(*, json_lines: bool, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send munivideo's (and Procrastinate's) logs to ``stream`` (default stderr), as JSON lines
    or as plain redacted text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(RedactingFilter())
    for name in ("munivideo", "procrastinate"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
