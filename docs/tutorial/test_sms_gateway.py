"""Tests for the tutorial's SMS gateway notifier, against a gateway on loopback."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import sms_gateway
from pydantic import SecretStr

from munivideo.errors import ConfigurationError, RejectedError, TransientError
from munivideo.models import Channel, OutboundMessage, Tenant
from munivideo.plugins import load_plugins
from munivideo.ports import Notifier

TENANT = Tenant(id="gravatai", name="Prefeitura de Gravataí")


class Gateway(http.server.BaseHTTPRequestHandler):
    """A fake gateway: answers ``status`` and remembers what it received."""

    status: ClassVar[int] = 200
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers["Authorization"], body))
        answer = json.dumps({"id": f"sms-{len(type(self).received)}"}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.status, Gateway.received = 200, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/messages"
    server.shutdown()
    server.server_close()


def sms(text: str = "Seu atendimento começa às 14h") -> OutboundMessage:
    return OutboundMessage(
        booking_id="AG-000001",
        channel=Channel.SMS,
        to="+5551998765432",
        text=text,
        idempotency_key="gravatai:AG-000001:sms:0",
    )


def test_registered_by_the_hook(gateway: str) -> None:
    plugins = load_plugins(entry_points=False, extra=[("sms-gateway", sms_gateway)])
    factory = plugins.notifier("sms-gateway")
    notifier = factory(TENANT, {"url": gateway, "token": SecretStr("t0k3n")})
    assert isinstance(notifier, Notifier)


def test_sends_and_returns_the_gateway_reference(gateway: str) -> None:
    notifier = sms_gateway.make_notifier(TENANT, {"url": gateway, "token": SecretStr("t0k3n")})
    receipt = notifier.send(sms())
    assert receipt.reference == "sms-1"
    ((auth, body),) = Gateway.received
    assert auth == "Bearer t0k3n"
    assert body == {"to": "+5551998765432", "text": sms().text, "channel": "sms"}


def test_gateway_errors_are_classified(gateway: str) -> None:
    notifier = sms_gateway.make_notifier(TENANT, {"url": gateway, "token": SecretStr("t0k3n")})
    Gateway.status = 503
    with pytest.raises(TransientError):
        notifier.send(sms())
    Gateway.status = 400
    with pytest.raises(RejectedError):
        notifier.send(sms())


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ConfigurationError) as caught:
        sms_gateway.make_notifier(TENANT, {"url": "ftp://nope"})
    assert caught.value.field == "notifiers.settings.url"
