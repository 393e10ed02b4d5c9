"""Signed webhook notifier (entry point ``webhook``): hands messages to an SMS/WhatsApp gateway
or any HTTP service.

Each message is POSTed as JSON with:

* ``X-Munivideo-Timestamp``: Unix seconds when it was signed;
* ``X-Munivideo-Signature``: ``v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>``; signing the
  timestamp with the body lets receivers refuse replays (see :func:`verify_signature`);
* ``Idempotency-Key``: the message's key, stable across retries, so the receiver can drop repeats.

Retries are the engine's job: this notifier makes one attempt and classifies the failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from munivideo.config import parse_settings
from munivideo.errors import RejectedError
from munivideo.hookspecs import hookimpl
from munivideo.models import Channel, DeliveryReceipt, OutboundMessage, Tenant
from munivideo.ports import NotifierFactory
from munivideo.transport.classify import HttpStatusError, peer_failure
from munivideo.transport.http import Timeouts, build_session
from munivideo.values import utcnow

TIMESTAMP_HEADER = "X-Munivideo-Timestamp"
SIGNATURE_HEADER = "X-Munivideo-Signature"


#: The shortest webhook ``secret`` accepted, in bytes: SHA-256's output size (RFC 2104 §3).
MIN_SECRET_BYTES = 32


class WebhookSettings(BaseModel):
    """``[[notifiers]] name = "webhook"`` settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Where each message is POSTed.
    url: str = Field(pattern=r"^https?://[^\s]+$")
    #: Key of the ``X-Munivideo-Signature`` HMAC; share it with the receiver only. At least
    #: :data:`MIN_SECRET_BYTES` bytes: RFC 2104 §3 discourages HMAC keys shorter than the
    #: hash's output (32 bytes for SHA-256).
    secret: SecretStr
    #: Seconds for each connect and each read.
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: Wall-clock bound of one whole call and the cap on the answer's size.
    total_seconds: float = Field(default=30.0, gt=0, le=600)
    max_response_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: The channels this gateway delivers (the engine routes only these here).
    channels: frozenset[Channel] = frozenset(Channel)

    @field_validator("secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the HMAC-SHA256 secret needs at least {MIN_SECRET_BYTES} bytes (RFC 2104"
                " section 3: no shorter than the hash output); generate one with"
                " `openssl rand -hex 32`"
            )
        return value


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Munivideo-Signature`` value: ``v1=`` + hex HMAC-SHA256 (RFC 2104) of
    ``<timestamp>.<body>`` keyed with ``secret``. Signing the timestamp with the body lets a
    receiver refuse replays (:func:`verify_signature`).

    :param secret: the shared secret, as configured.
    :param timestamp: Unix seconds, the value sent in ``X-Munivideo-Timestamp``.
    :param body: the exact bytes POSTed.
    :returns: ``v1=<64 hex digits>``.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """For receivers: True if ``body`` was signed with ``secret`` within ``tolerance_seconds``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
        given = lowered[SIGNATURE_HEADER.lower()]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(given.encode(), sign(secret, timestamp, body).encode())


def payload(message: OutboundMessage) -> dict[str, Any]:
    """The JSON object POSTed for ``message``: ``booking_id``, ``channel`` (``email``, ``sms``,
    ``whatsapp``), ``to``, ``subject``, ``text``, ``html``, ``ics`` (the iCalendar bytes in base64,
    or null), ``ics_method`` (``REQUEST``/``CANCEL`` or null) and ``idempotency_key``. Holds
    personal data (the recipient and the text): the receiver must treat it so (LGPD).
    """
    return {
        "booking_id": message.booking_id,
        "channel": message.channel.value,
        "to": message.to,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "ics": base64.b64encode(message.ics).decode() if message.ics is not None else None,
        "ics_method": message.ics_method.value if message.ics_method else None,
        "idempotency_key": message.idempotency_key,
    }


class WebhookNotifier:
    """Delivers each message with one signed POST to your gateway (SMS, WhatsApp, any HTTP service);
    see the module's description for the headers.

    :param settings: the validated settings.
    :param session: the HTTP session; default a pooled one (2 connections) bounded by the settings'
        ``timeout_seconds``, ``total_seconds`` and ``max_response_bytes``.
    :param clock: Unix time in seconds, for the signature's timestamp.
    """

    name = "webhook"
    #: Every call carries the message's ``Idempotency-Key``: receivers drop repeats.
    dedupes = True

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.session = session or build_session(
            Timeouts.of(
                settings.timeout_seconds, settings.total_seconds, settings.max_response_bytes
            ),
            pool_size=2,
        )
        self.channels = settings.channels
        self._clock = clock

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """POST ``message`` once (no retries here: the engine retries by the error's kind), with a
        fresh timestamp and signature and the message's ``Idempotency-Key``.

        :returns: the receipt; ``reference`` is the answer's ``X-Request-Id``, else the key.
        :raises TransientError: the gateway could not be reached (refused, DNS, connect timeout),
            or it answered 429 or 503 (``retry_after`` from its ``Retry-After``, seconds or an
            HTTP-date, RFC 9110 section 10.2.3, read by
            :func:`munivideo.transport.classify.retry_after_seconds` and capped at its
            ``RETRY_AFTER_CAP_SECONDS``, one hour; unreadable: None).
        :raises AmbiguousError: the answer timed out, the connection dropped after the request was
            sent, the call's deadline passed, or HTTP 500/502/504: the gateway may have the
            message (the key lets it drop a repeat). The shared table
            (:func:`munivideo.transport.classify.peer_failure`) decides, as for the ERP.
        :raises RejectedError: HTTP 501 or any other non-2xx answer (field ``to`` for a 4xx).
        :raises ContractViolationError: the answer is over ``max_response_bytes``.
        """
        body = json.dumps(payload(message), ensure_ascii=False, sort_keys=True).encode()
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.settings.secret.get_secret_value(), timestamp, body),
        }
        booking = message.booking_id
        # Failures are classified by the shared table (munivideo.transport.classify), as for the
        # ERP: refused/DNS/connect timeout are transient, a drop after sending is ambiguous.
        try:
            response = self.session.post(
                self.settings.url, data=body, headers=headers, timeout=self.settings.timeout_seconds
            )
        except requests.RequestException as exc:
            raise peer_failure(exc, f"webhook: {type(exc).__name__}", record_id=booking) from None
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryReceipt(
                notifier=self.name,
                booking_id=booking,
                reference=response.headers.get("X-Request-Id", message.idempotency_key),
                delivered_at=utcnow(),
            )
        if status == 429 or status >= 500:
            raise peer_failure(
                HttpStatusError(status, headers=dict(response.headers)),
                f"webhook: HTTP {status}",
                record_id=booking,
            )
        raise RejectedError(f"webhook: HTTP {status}", record_id=booking, field="to")


def make_webhook_notifier(tenant: Tenant, settings: Mapping[str, Any]) -> WebhookNotifier:
    """The ``webhook`` factory: validate the notifier's settings (:class:`WebhookSettings`) and
    build it.

    :raises ConfigurationError: naming the first offending ``notifiers.settings.<key>``.
    """
    parsed = parse_settings(
        WebhookSettings, settings, tenant=tenant, section="notifiers.settings", adapter="webhook"
    )
    return WebhookNotifier(parsed)


@hookimpl
def register_notifiers(register: Any) -> None:
    """pluggy hook (:func:`munivideo.hookspecs.register_notifiers`): register
    :func:`make_webhook_notifier` under ``webhook``, the name tenants use in ``[[notifiers]] name``.

    :param register: the host's callback, ``register(name, factory)``.
    """
    factory: NotifierFactory = make_webhook_notifier
    register("webhook", factory)


__all__ = [
    "WebhookNotifier",
    "WebhookSettings",
    "make_webhook_notifier",
    "payload",
    "sign",
    "verify_signature",
]
