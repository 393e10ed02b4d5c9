"""Webhook notifier against a real loopback HTTP server that verifies the HMAC."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses
from munivideo_webhook import WebhookNotifier, make_webhook_notifier, sign, verify_signature
from pydantic import SecretStr
from urllib3.exceptions import NameResolutionError

from munivideo.errors import AmbiguousError, ConfigurationError, RejectedError, TransientError
from munivideo.models import Channel, InvitationMethod, OutboundMessage, Tenant
from munivideo.plugins import load_plugins
from munivideo.ports import Notifier
from munivideo.testing.peers import dropping_peer

SECRET = "webhook-shared-secret-0123456789-abcdef"
TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")
MESSAGE = OutboundMessage(
    booking_id="B-1",
    channel=Channel.SMS,
    to="+5551987654321",
    text="Prefeitura: atendimento em 07/12/2026 às 14:00",
    ics=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    ics_method=InvitationMethod.REQUEST,
    idempotency_key="invite:gravatai:B-1:0:sms",
)


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not verify_signature(SECRET, dict(self.headers.items()), body):
                state.rejected += 1
                code = 401
            else:
                state.received.append(
                    {"body": json.loads(body), "key": self.headers["Idempotency-Key"]}
                )
                code = state.status
            self.send_response(code)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def notifier(url: str, secret: str = SECRET) -> WebhookNotifier:
    return make_webhook_notifier(
        TENANT, {"url": url, "secret": SecretStr(secret), "timeout_seconds": 5}
    )


def test_delivers_signed_message(receiver: Receiver) -> None:
    n = notifier(receiver.url)
    assert isinstance(n, Notifier)
    receipt = n.send(MESSAGE)
    assert receipt.notifier == "webhook"
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["key"] == "invite:gravatai:B-1:0:sms"
    assert got["body"]["text"] == MESSAGE.text
    assert got["body"]["ics_method"] == "REQUEST"


def test_wrong_secret_is_refused_by_receiver(receiver: Receiver) -> None:
    with pytest.raises(RejectedError) as info:
        notifier(receiver.url, secret="not-the-secret-0123456789-0123456789").send(MESSAGE)
    assert "401" in str(info.value)
    assert receiver.rejected == 1 and receiver.received == []


def test_status_mapping(receiver: Receiver) -> None:
    for status, error in (
        (503, TransientError),
        (429, TransientError),
        (502, AmbiguousError),
        (422, RejectedError),
    ):
        receiver.status = status
        with pytest.raises(error):
            notifier(receiver.url).send(MESSAGE)
    receiver.status = 503
    with pytest.raises(TransientError) as info:
        notifier(receiver.url).send(MESSAGE)
    assert not isinstance(info.value, AmbiguousError)


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        ("30", 30, 30),
        ("in 120 s", 100, 120),  # IMF-fixdate two minutes ahead
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0, 0),  # RFC 850 form, in the past
        ("in 30 days", 3600, 3600),  # capped at RETRY_AFTER_CAP_SECONDS
        ("soon", None, None),
    ],
)
def test_retry_after_is_read_in_every_rfc_9110_form_with_the_shared_cap(
    receiver: Receiver, retry_after: str, low: float | None, high: float | None
) -> None:
    if retry_after.startswith("in "):
        seconds = {"in 120 s": 120, "in 30 days": 30 * 86_400}[retry_after]
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)
    receiver.status = 503
    receiver.headers = {"Retry-After": retry_after}
    with pytest.raises(TransientError) as info:
        notifier(receiver.url).send(MESSAGE)
    got = info.value.retry_after
    assert len(receiver.received) == 1
    if low is None:
        assert got is None
    else:
        assert got is not None and low <= got <= (high or 0)


@responses.activate
def test_a_name_that_does_not_resolve_is_transient_as_in_the_shared_table() -> None:
    # A DNS failure (no server can make one on loopback): the request never left, so it is
    # surely not delivered - transient, as transport.classify says for the ERP.
    url = "https://gateway.example/hook"
    dns = NameResolutionError("gateway.example", None, socket.gaierror(-2, "Name not known"))  # type: ignore[arg-type]
    responses.post(url, body=requests.ConnectionError(dns))
    with pytest.raises(TransientError) as info:
        notifier(url).send(MESSAGE)
    assert not isinstance(info.value, AmbiguousError)


def test_a_connection_dropped_after_the_request_was_sent_is_ambiguous() -> None:
    with dropping_peer() as (url, seen), pytest.raises(AmbiguousError):
        notifier(f"{url}/hook").send(MESSAGE)
    assert len(seen) == 1  # the gateway has it: not surely undelivered


@responses.activate
def test_timeouts_are_ambiguous_refusals_transient() -> None:
    url = "https://gateway.example/hook"
    responses.post(url, body=requests.ReadTimeout())
    with pytest.raises(AmbiguousError):
        notifier(url).send(MESSAGE)
    responses.replace(responses.POST, url, body=requests.ConnectTimeout())
    with pytest.raises(TransientError):
        notifier(url).send(MESSAGE)


def test_verify_signature_rejects_tampering_and_replay() -> None:
    body = b'{"a": 1}'
    headers = {"X-Munivideo-Timestamp": "1000", "X-Munivideo-Signature": sign(SECRET, 1000, body)}
    assert verify_signature(SECRET, headers, body, now=1000)
    assert not verify_signature(SECRET, headers, b'{"a": 2}', now=1000)
    assert not verify_signature(SECRET, headers, body, now=1000 + 301)
    assert not verify_signature("other", headers, body, now=1000)
    assert not verify_signature(SECRET, {}, body, now=1000)


def test_registered_by_entry_point() -> None:
    factory = load_plugins(allow=["webhook"], strict=True).notifier("webhook")
    assert isinstance(
        factory(TENANT, {"url": "https://x.example/h", "secret": SecretStr("s" * 32)}),
        WebhookNotifier,
    )


def test_short_hmac_secret_is_refused_at_parse_time() -> None:
    # RFC 2104 section 3: an HMAC key shorter than the hash output (32 bytes) is refused.
    with pytest.raises(ConfigurationError) as info:
        make_webhook_notifier(TENANT, {"url": "https://x.example/h", "secret": SecretStr("s" * 31)})
    assert info.value.field == "notifiers.settings.secret" and info.value.record_id == TENANT.id
