"""Exactly-once protocol creation: deterministic keys plus the "did it land?" strategy."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from munivideo.errors import AmbiguousError
from munivideo.models import ProtocolEntry, ProtocolReceipt
from munivideo.ports import ErpAdapter

log = logging.getLogger("munivideo.transport")


KEY_MAX = 200
"""Longest key sent as is; a longer one keeps ``tenant:record:operation`` and hashes the rest."""


def idempotency_key(tenant_id: str, record_id: str, operation: str, *parts: str) -> str:
    """The key of one ERP write: the same for every attempt of ``operation`` (and its
    sub-part, e.g. a document's hash or a forward's index) on one record, ever.

    ``"gravatai:AG-000001:criarProtocolo"``; ``parts`` are appended with ``:``. Past
    :data:`KEY_MAX` characters the parts become the first 32 hex digits of their SHA-256, so
    a key stays within the ERP's limit and two keys still differ. Never a fresh UUID per
    attempt: the ERP must recognise a re-send as the same request. This is the one key
    function: the engine's write-back, invitation messages and the acceptance suite use it.
    """
    key = ":".join((tenant_id, record_id, operation, *parts))
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{tenant_id}:{record_id}:{operation}:{digest}"


def create_exactly_once(
    adapter: ErpAdapter,
    entry: ProtocolEntry,
    key: str,
    *,
    max_attempts: int = 3,
    probe_first: bool = False,
    backoff_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> ProtocolReceipt:
    """Create ``entry`` in the ERP at most once, and return its receipt.

    * The same deterministic ``key`` is sent on every attempt.
    * On :class:`AmbiguousError` (timeout, connection dropped after sending, 502/504):
      if the ERP honours idempotency keys, re-send with the same key (the ERP replays the first
      answer); otherwise look the entry up by its external reference and only re-create when it
      is surely absent; if the ERP can do neither, re-raise - a human must check.
    * ``probe_first``: look up before the first attempt too (the engine sets it when replaying
      an outbox row whose earlier attempt may have landed, e.g. after a crash).

    Other errors propagate unchanged. Raises the last :class:`AmbiguousError` after
    ``max_attempts`` unresolved attempts.
    """
    caps = adapter.capabilities
    if probe_first and caps.lookup_by_external_reference:
        found = adapter.find_protocol(entry.external_reference)
        if found is not None:
            return found
    attempt = 0
    while True:
        attempt += 1
        try:
            return adapter.create_protocol(entry, key)
        except AmbiguousError as exc:
            log.warning(
                "ambiguous create for %s (attempt %d): %s", entry.booking_id, attempt, exc.message
            )
            last = attempt >= max_attempts
            if caps.lookup_by_external_reference and (last or not caps.honours_idempotency_key):
                found = adapter.find_protocol(entry.external_reference)
                if found is not None:
                    return found
            if last or not (caps.honours_idempotency_key or caps.lookup_by_external_reference):
                raise
            sleep(exc.retry_after if exc.retry_after is not None else backoff_seconds * attempt)
