"""Kind 3 of issue 11: every outbound call has a wall-clock deadline and a size cap, tested
against real loopback peers that answer one byte per second (or too much)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from munivideo.contract_tools.sources import fetch
from munivideo.errors import ConfigurationError
from munivideo.models import Channel, OutboundMessage, Tenant
from munivideo.transport.deadline import (
    DeadlineExceededError,
    ResponseTooLargeError,
    remaining,
    within,
)
from munivideo.transport.http import Timeouts, build_session

from .peers import json_answer, serve

TENANT = Tenant(id="gravatai", name="Gravataí")


def _slow():  # type: ignore[no-untyped-def]
    return serve(lambda r: json_answer({"itens": []}), trickle_seconds=1.0)


def test_a_session_call_is_cut_at_total_seconds_by_a_one_byte_per_second_peer() -> None:
    with _slow() as peer:
        session = build_session(Timeouts(read_seconds=5, total_seconds=1.5))
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            session.get(peer.url + "/api")
        took = time.monotonic() - started
    assert 1.4 <= took < 3.0, took  # the per-read timeout (5 s) never tripped: bytes kept coming


def test_an_enclosing_deadline_scope_shortens_the_call() -> None:
    with _slow() as peer:
        session = build_session(Timeouts(read_seconds=5, total_seconds=30))
        started = time.monotonic()
        with within(1.0), pytest.raises(DeadlineExceededError):
            session.get(peer.url + "/api")
        assert time.monotonic() - started < 2.5
    assert remaining() is None  # the scope is gone after the block


def test_scopes_nest_and_the_earliest_wins() -> None:
    with within(10):
        with within(1):
            left = remaining()
            assert left is not None and left <= 1
        left = remaining()
        assert left is not None and 9 < left <= 10
    with within(0.5):
        time.sleep(0.6)
        with pytest.raises(DeadlineExceededError):
            build_session(Timeouts()).get("http://127.0.0.1:9/")


def test_an_answer_over_the_size_cap_is_refused() -> None:
    big = b"x" * 300_000
    with serve(lambda r: (200, {"Content-Type": "text/plain"}, big)) as peer:
        session = build_session(Timeouts(max_response_bytes=100_000))
        with pytest.raises(ResponseTooLargeError):
            session.get(peer.url + "/")
        roomy = build_session(Timeouts(max_response_bytes=400_000))
        assert len(roomy.get(peer.url + "/").content) == len(big)


def test_the_rest_adapter_list_call_is_bounded(tmp_path: Path) -> None:
    from munivideo_erp_rest.adapter import create_adapter

    with _slow() as peer:
        adapter = create_adapter(
            TENANT,
            {
                "base_url": peer.url,
                "timeouts": {"read_seconds": 5, "total_seconds": 1.5},
                "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.01},
            },
        )
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            adapter.list_bookings(None, 10)
        assert time.monotonic() - started < 3.0
        assert len(peer.seen) == 1  # a deadline is not retried


def test_the_soap_adapter_call_is_bounded() -> None:
    from munivideo_erp_soap.adapter import SoapErpAdapter, SoapSettings

    with _slow() as peer:
        adapter = SoapErpAdapter(
            TENANT,
            SoapSettings(base_url=peer.url, timeouts=Timeouts(read_seconds=5, total_seconds=1.5)),
        )
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            adapter.list_bookings(None, 10)
        assert time.monotonic() - started < 3.0


def test_the_bbb_call_is_bounded() -> None:
    from munivideo_bbb import make_bbb_provider

    with _slow() as peer:
        provider = make_bbb_provider(
            TENANT,
            {"url": peer.url + "/bigbluebutton/api", "secret": "s3cr3t" * 6, "total_seconds": 1.5},
        )
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            provider._call("getMeetings", {}, "AG-1")
        assert time.monotonic() - started < 3.0


def _message() -> OutboundMessage:
    return OutboundMessage(
        booking_id="AG-1",
        channel=Channel.SMS,
        to="+5551987654321",
        text="Seu atendimento",
        idempotency_key="k1",
    )


def test_the_webhook_notifier_is_bounded() -> None:
    from munivideo_webhook import make_webhook_notifier

    with _slow() as peer:
        notifier = make_webhook_notifier(
            TENANT, {"url": peer.url + "/sms", "secret": "x" * 32, "total_seconds": 1.5}
        )
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            notifier.send(_message())
        assert time.monotonic() - started < 3.0


@contextmanager
def _slow_smtp() -> Iterator[int]:
    """An SMTP 'server' that sends its greeting one byte per second."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                for byte in b"220 slow.example ESMTP ready\r\n":
                    if stop.is_set():
                        break
                    conn.sendall(bytes([byte]))
                    time.sleep(1.0)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def test_the_smtp_notifier_is_bounded() -> None:
    from munivideo_smtp import make_smtp_notifier

    with _slow_smtp() as port:
        notifier = make_smtp_notifier(
            TENANT,
            {
                "host": "127.0.0.1",
                "port": port,
                "security": "plain",
                "sender": "a@gravatai.example.gov.br",
                "timeout_seconds": 5,
                "total_seconds": 1.5,
            },
        )
        message = _message().model_copy(
            update={"channel": Channel.EMAIL, "to": "joao@example.com.br", "subject": "Convite"}
        )
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            notifier.send(message)
        assert time.monotonic() - started < 3.0


def test_contract_fetch_has_a_total_deadline(tmp_path: Path) -> None:
    with _slow() as peer:
        started = time.monotonic()
        with pytest.raises(ConfigurationError):
            fetch(peer.url + "/erp.wsdl", tmp_path, timeout=1.5)
        assert time.monotonic() - started < 3.0
