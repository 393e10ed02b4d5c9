"""Every value placed in a URL path is one encoded segment (issue 11, item 5): a booking id such
as ``../../../admin/usuarios`` never reaches another path of the ERP. The peer is a real loopback
server that records the raw request lines it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from munivideo_erp_rest import create_adapter

from munivideo.errors import NotFoundError, RejectedError
from munivideo.mapping.operations import expand_path, path_segment
from munivideo.models import BookingStatus, Tenant

TENANT = Tenant(id="gravatai", name="Gravataí")


class _Recorder(BaseHTTPRequestHandler):
    lines: ClassVar[list[str]] = []

    def _answer(self) -> None:
        type(self).lines.append(self.requestline)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"title": "nao encontrado"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def peer() -> Iterator[tuple[str, list[str]]]:
    lines: ClassVar[list[str]] = []
    handler = type("Recorder", (_Recorder,), {"lines": lines})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", lines
    server.shutdown()
    server.server_close()


HOSTILE = ["../../../admin/usuarios", "a/b", "x?y=1#z", "%2e%2e", "ç ã", "../..", "./."]


@pytest.mark.parametrize("booking_id", HOSTILE)
def test_a_hostile_id_stays_one_segment(peer: tuple[str, list[str]], booking_id: str) -> None:
    base, lines = peer
    adapter = create_adapter(TENANT, {"base_url": base, "retry": {"max_attempts": 1}})
    try:
        with pytest.raises(NotFoundError):
            adapter.get_booking(booking_id)
        with pytest.raises(NotFoundError):
            adapter.update_booking_status(booking_id, BookingStatus.ATTENDED, "")
    finally:
        adapter.close()
    assert len(lines) == 2
    for line in lines:
        target = line.split(" ")[1]
        assert target.startswith("/api/v1/agendamentos/")
        rest = target.removeprefix("/api/v1/agendamentos/")
        segment = rest.split("/")[0]
        assert "?" not in segment and "#" not in segment
        assert segment not in (".", "..")
        assert segment == path_segment(booking_id)
        assert "admin" not in target or "%2F" in target


@pytest.mark.parametrize("booking_id", ["..", "."])
def test_a_dot_segment_is_refused_before_any_call(
    peer: tuple[str, list[str]], booking_id: str
) -> None:
    base, lines = peer
    adapter = create_adapter(TENANT, {"base_url": base, "retry": {"max_attempts": 1}})
    try:
        with pytest.raises(RejectedError) as info:
            adapter.get_booking(booking_id)
    finally:
        adapter.close()
    assert info.value.field == "booking_id"
    assert lines == []


def test_expand_path_encodes_each_value() -> None:
    assert expand_path("/p/{year}/{number}", {"year": 2026, "number": "1/2"}) == "/p/2026/1%2F2"
    with pytest.raises(ValueError, match="empty"):
        path_segment("")
