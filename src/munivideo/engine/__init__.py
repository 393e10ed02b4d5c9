"""The engine: the only orchestrator of the attendance cycle.

``sync`` (bookings in, rooms, links, invitations), ``record`` (attendance -> outbox),
``writeback`` (outbox -> ERP, exactly once), ``replay`` (dead letters -> pending).
"""

from __future__ import annotations

from munivideo.engine.context import Engine
from munivideo.engine.crash import CrashPoints
from munivideo.engine.keys import external_reference
from munivideo.engine.record import build_entry, classify, ingest_events, ingest_webhook, record
from munivideo.engine.replay import replay, requeue
from munivideo.engine.results import RecordResult, ReplayResult, SyncResult, WritebackResult
from munivideo.engine.service import build_engine
from munivideo.engine.sync import sync
from munivideo.engine.writeback import (
    UnverifiableStepError,
    deliver,
    verify_receipt,
    writeback,
)

__all__ = [
    "CrashPoints",
    "Engine",
    "RecordResult",
    "ReplayResult",
    "SyncResult",
    "UnverifiableStepError",
    "WritebackResult",
    "build_engine",
    "build_entry",
    "classify",
    "deliver",
    "external_reference",
    "ingest_events",
    "ingest_webhook",
    "record",
    "replay",
    "requeue",
    "sync",
    "verify_receipt",
    "writeback",
]
