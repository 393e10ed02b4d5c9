"""Transports: hardened zeep and requests, one classification table, one retry policy, and the
exactly-once create strategy the engine uses.

``idempotency_key`` and ``create_exactly_once`` are the engine's entry points; adapters use the
rest. See ``docs/transports.md``.
"""

from __future__ import annotations

from munivideo.transport.classify import (
    FAULT_TABLE,
    STATUS_TABLE,
    Action,
    ErpFault,
    HttpStatusError,
    MalformedResponseError,
    Rule,
    classify,
    malformed_answer,
)
from munivideo.transport.http import (
    ApiKeyAuth,
    AuthSettings,
    BearerAuth,
    OAuth2ClientCredentials,
    Timeouts,
    TimeoutSession,
    auth_for,
    build_session,
)
from munivideo.transport.idempotency import create_exactly_once, idempotency_key
from munivideo.transport.retry import RetryPolicy, call_with_retry

__all__ = [
    "FAULT_TABLE",
    "STATUS_TABLE",
    "Action",
    "ApiKeyAuth",
    "AuthSettings",
    "BearerAuth",
    "ErpFault",
    "HttpStatusError",
    "MalformedResponseError",
    "OAuth2ClientCredentials",
    "RetryPolicy",
    "Rule",
    "TimeoutSession",
    "Timeouts",
    "auth_for",
    "build_session",
    "call_with_retry",
    "classify",
    "create_exactly_once",
    "idempotency_key",
    "malformed_answer",
]
